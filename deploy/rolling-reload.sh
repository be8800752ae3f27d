#!/usr/bin/env bash
# Reloads the model on attache replicas one at a time: SIGHUP one replica, wait until its
# `attache_model_reloads_total` counter moves (the reload finished), stop everything if it
# failed, wait until it answers SERVING for attache.v1.Classifier, then go on to the next. The
# replicas behind the load balancer never all reload at once, and a bad model file stops the roll
# at the first replica (which keeps serving its previous model: attache refuses invalid files).
#
#   deploy/rolling-reload.sh --compose [SERVICE...]       # docker compose services (run from the
#                                                         # repository root; default attache-1..3)
#   deploy/rolling-reload.sh --local PID,GRPC,METRICS...  # processes on this machine, e.g.
#                                                         # 4242,127.0.0.1:50051,127.0.0.1:9464
# Options: --timeout SECONDS (per replica and step, default 30).
# Exit: 0 all reloaded; 1 a reload failed or timed out (later replicas untouched); 2 usage.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

mode="" timeout=30 targets=()
while (($#)); do
  case "$1" in
    --compose | --local) mode=${1#--}; shift ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ -n "$mode" ]] || usage
[[ "$timeout" =~ ^[0-9]+$ ]] || usage
if [[ "$mode" == compose && ${#targets[@]} -eq 0 ]]; then
  targets=(attache-1 attache-2 attache-3)
fi
((${#targets[@]})) || usage

attache_bin=${ATTACHE_BIN:-attache}

# GET /metrics over plain HTTP/1.0 with bash's /dev/tcp: works where curl is missing (the slim
# runtime image has bash but no curl).
fetch_metrics_script='
  exec 3<>"/dev/tcp/$0/$1" || exit 1
  printf "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n" "$0" >&3
  cat <&3'

metrics_of() { # target
  local t=$1
  if [[ "$mode" == compose ]]; then
    # Inside the container the metrics listener is on ATTACHE_METRICS_ADDR's port.
    docker compose exec -T "$t" bash -c \
      'timeout 5 bash -c "$1" 127.0.0.1 "${ATTACHE_METRICS_ADDR##*:}"' _ "$fetch_metrics_script"
  else
    local m=${t##*,}
    timeout 5 bash -c "$fetch_metrics_script" "${m%:*}" "${m##*:}"
  fi
}

reloads() { # target result -> the counter's value
  metrics_of "$1" | awk -v r="$2" '
    $1 == "attache_model_reloads_total{result=\"" r "\"}" { v = $2 }
    END { if (v == "") exit 1; print v + 0 }'
}

serving_model() { # target -> id, version and checksum of the model now serving
  metrics_of "$1" | awk '/^attache_model_info\{/ && $2 == 1 { print $1; exit }' |
    sed -E 's/.*model_id="([^"]*)".*model_version="([^"]*)".*checksum="(.{12})[^"]*".*/\1 version \2 (checksum \3...)/'
}

signal_hup() { # target
  local t=$1
  if [[ "$mode" == compose ]]; then
    docker compose kill -s HUP "$t" >/dev/null
  else
    kill -HUP "${t%%,*}"
  fi
}

healthy() { # target
  local t=$1
  if [[ "$mode" == compose ]]; then
    docker compose exec -T "$t" attache health --service attache.v1.Classifier >/dev/null 2>&1
  else
    local rest=${t#*,}
    "$attache_bin" health --addr "${rest%%,*}" --service attache.v1.Classifier \
      --timeout 2 >/dev/null 2>&1
  fi
}

wait_for() { # description command... ; polls every 0.1 s for at most $timeout seconds
  local what=$1 deadline=$((SECONDS + timeout))
  shift
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "timed out after ${timeout}s waiting for $what" >&2
      return 1
    fi
    sleep 0.1
  done
}

counter_moved() { # target ok_before failed_before
  local ok failed
  ok=$(reloads "$1" ok) && failed=$(reloads "$1" failed) || return 1
  ((ok > $2 || failed > $3))
}

n=0
for t in "${targets[@]}"; do
  n=$((n + 1))
  name=$t
  [[ "$mode" == local ]] && name="pid ${t%%,*}"
  wait_for "$name to be SERVING before its reload" healthy "$t" || exit 1
  ok_before=$(reloads "$t" ok) && failed_before=$(reloads "$t" failed) || {
    echo "$name: cannot read attache_model_reloads_total from its metrics" >&2
    exit 1
  }
  signal_hup "$t"
  wait_for "$name to finish reloading" counter_moved "$t" "$ok_before" "$failed_before" || exit 1
  if (($(reloads "$t" ok) == ok_before)); then
    echo "$name: reload FAILED (it keeps serving its previous model; see its log)." >&2
    echo "stopped after $((n - 1)) of ${#targets[@]} replicas; the rest were not touched" >&2
    exit 1
  fi
  wait_for "$name to be SERVING after its reload" healthy "$t" || exit 1
  echo "$name: reloaded, SERVING $(serving_model "$t")"
done
echo "rolling reload done: ${#targets[@]} replicas, one at a time"
