# syntax=docker/dockerfile:1
# Multi-stage build: a release binary built with the Rust toolchain image, run from a slim
# Debian image as a non-root user. No system protoc is needed (build.rs uses protox).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY src src
COPY benches benches
COPY models models
RUN cargo build --release --locked --bin attache \
    && install -m 0755 target/release/attache /usr/local/bin/attache

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin attache
COPY --from=build /usr/local/bin/attache /usr/local/bin/attache
COPY --chown=attache:attache models/diplomatic-news.attache /models/diplomatic-news.attache
USER attache
# Containers listen on all interfaces; the model directory is where reloads may read from.
ENV ATTACHE_ADDR=0.0.0.0:50051 \
    ATTACHE_METRICS_ADDR=0.0.0.0:9464 \
    ATTACHE_MODEL=/models/diplomatic-news.attache \
    ATTACHE_MODEL_DIR=/models \
    ATTACHE_LOG_FORMAT=json
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["attache", "health", "--addr", "127.0.0.1:50051"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["attache"]
CMD ["serve"]
