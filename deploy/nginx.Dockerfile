# syntax=docker/dockerfile:1
# The load balancer of docker-compose.yml: nginx from Debian's package, the same nginx (1.22)
# that deploy/lb-demo.sh runs and measures without Docker. Its configuration, deploy/nginx.conf,
# is mounted at /etc/nginx/nginx.conf; it keeps its pid and temporary files in /tmp and logs to
# stdout/stderr, so nginx runs as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*
USER www-data
EXPOSE 50051
STOPSIGNAL SIGQUIT
CMD ["nginx", "-e", "stderr", "-c", "/etc/nginx/nginx.conf", "-g", "daemon off;"]
