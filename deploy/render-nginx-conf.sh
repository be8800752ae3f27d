#!/usr/bin/env bash
# Renders deploy/nginx.conf.template to stdout.
#
#   deploy/render-nginx-conf.sh --listen ADDR --run-dir DIR [--access-log 'PATH [OPTIONS]'|off] \
#       [--max-fails N] [--fail-timeout T] REPLICA...
#
# REPLICA is HOST:PORT of one attache replica's gRPC address. For example, deploy/nginx.conf (the
# compose file's load balancer) is
#
#   deploy/render-nginx-conf.sh --listen 0.0.0.0:50051 --run-dir /tmp --access-log /dev/stdout \
#       attache-1:50051 attache-2:50051 attache-3:50051 > deploy/nginx.conf
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

template="$(dirname "$0")/nginx.conf.template"
listen="" run_dir="" access_log="off" max_fails=1 fail_timeout=10s
replicas=()
while (($#)); do
  case "$1" in
    --listen) listen=${2:?}; shift 2 ;;
    --run-dir) run_dir=${2:?}; shift 2 ;;
    --access-log) access_log=${2:?}; shift 2 ;;
    --max-fails) max_fails=${2:?}; shift 2 ;;
    --fail-timeout) fail_timeout=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) replicas+=("$1"); shift ;;
  esac
done
[[ -n "$listen" && -n "$run_dir" && ${#replicas[@]} -gt 0 ]] || usage

servers=""
for r in "${replicas[@]}"; do
  [[ "$r" == *:* ]] || { echo "replica $r is not HOST:PORT" >&2; exit 2; }
  servers+="        server $r max_fails=$max_fails fail_timeout=$fail_timeout;"$'\n'
done
servers=${servers%$'\n'}
if [[ "$access_log" != off ]]; then
  # "PATH [buffer=... flush=...]": the log format's name goes right after the path.
  read -r log_path log_options <<<"$access_log"
  access_log="$log_path grpc${log_options:+ $log_options}"
fi

# Plain text substitution (no sed: paths may hold its metacharacters; and no `&` expansion).
shopt -u patsub_replacement 2>/dev/null || true
conf=$(<"$template")
conf=${conf//@LISTEN@/$listen}
conf=${conf//@RUN_DIR@/$run_dir}
conf=${conf//@ACCESS_LOG@/$access_log}
conf=${conf//@SERVERS@/$servers}
printf '%s\n' "$conf"
