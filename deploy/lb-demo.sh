#!/usr/bin/env bash
# attache replicas behind nginx, on this machine, without Docker: throughput with 1, 2 and 3
# replicas, and what clients see while replicas reload, stop and crash under load.
#
#   deploy/lb-demo.sh [--quick] [--skip-throughput] [--skip-failover] [--nice N] [--results DIR]
#
# - Builds the release binary and copies it (and the model) into a temporary directory.
# - Installs Debian's nginx (and jq, python3) with apt-get when missing (root only). nginx runs
#   here as a foreground process with its own prefix, configuration, pid file and logs in the
#   temporary directory, rendered from deploy/nginx.conf.template: never the system nginx service.
# - Throughput: replicas on 127.0.0.1 port 0, nginx in front of the first 1, 2, then 3 of them,
#   `attache bench` through it (bounded by a request count and a duration), each setting repeated;
#   the median run is reported, with the CPU time each party used. Two workloads: unary calls (one
#   short document each: nginx's per-call cost is as large as the classification's) and
#   ClassifyBatch calls of 16 documents (the work is in the replicas). Two placements: replicas
#   free to use every core, and each replica pinned to one core with taskset (replica i on core
#   (i-1) mod cores), roughly what a container limited to one CPU gets.
# - Failover: 3 replicas, load in consecutive 0.5 s bench runs (errors per time slice), and on a
#   timeline: a rolling reload (deploy/rolling-reload.sh), SIGTERM of one replica (graceful stop),
#   SIGKILL of another (crash), that one restarted on its old address. nginx's access log shows
#   which replica answered each call. The script fails (exit 1) if any call fails in a slice that
#   starts after the crash.
#
# --nice N runs the replicas, nginx and the load generator at that priority (negative: root only),
# so that other jobs on a shared machine disturb the measurement less; a throughput run during
# which other processes still used more than 0.15 cores is run again (at most twice).
#
# All traffic stays on 127.0.0.1; every process started is stopped on exit. The load generator,
# nginx and the replicas share this machine's cores: read the figures with that in mind.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() {
  sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

quick=0 do_throughput=1 do_failover=1 results="" prio=()
while (($#)); do
  case "$1" in
    --quick) quick=1; shift ;;
    --skip-throughput) do_throughput=0; shift ;;
    --skip-failover) do_failover=0; shift ;;
    --results) results=${2:?}; shift 2 ;;
    --nice) prio=(nice -n "${2:?}"); shift 2 ;;
    -h | --help) usage ;;
    *) echo "unknown argument $1" >&2; usage ;;
  esac
done

# Load settings: the test set of the default model, cycled.
docs=$root/data/diplomatic/test.jsonl
if ((quick)); then
  duration=3s repeats=1
else
  duration=4s repeats=3
fi
# workload name -> bench arguments (the request count only bounds runs that end before $duration).
declare -A workload_args=(
  [unary]="unary --concurrency 32 --requests 300000 --warmup 2000"
  [batch16]="batch --batch 16 --concurrency 8 --requests 30000 --warmup 200"
)
slice=0.5s        # failover: one bench run per slice
slice_limit=80    # at most this many slices...
timeline_s=30     # ...and at most this long

die() { echo "lb-demo: $*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v jq >/dev/null || missing+=(jq)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
  (($(id -u) == 0)) || die "missing ${missing[*]}: install Debian's package(s), or run as root"
  echo "installing Debian package(s): ${missing[*]}"
  # Without a policy-rc.d, installing nginx would start the system service on port 80; forbid
  # that for the duration of the install (containers usually have one already).
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  installed=1
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
    installed=0
  if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
  ((installed)) || die "apt-get could not install ${missing[*]}"
fi
nginx_version=$(nginx -v 2>&1)

# ATTACHE_BIN=FILE uses that binary instead of building target/release/attache.
if [[ -z "${ATTACHE_BIN:-}" ]]; then
  cargo build --release --locked --quiet --bin attache
fi

tmp=$(mktemp -d /tmp/attache-lb-demo.XXXXXX)
# nginx's workers run as an unprivileged user when started as root: let them into the run dir.
chmod 755 "$tmp"
mkdir -p "$tmp/pids" "$tmp/logs"
# Copies: other builds may replace target/release/attache while this runs.
cp "${ATTACHE_BIN:-target/release/attache}" "$tmp/attache"
cp models/diplomatic-news.attache "$tmp/model.attache"
bin=$tmp/attache
hz=$(getconf CLK_TCK)

# Every process this script starts has its pid in $tmp/pids; on exit each is stopped by pid.
cleanup() {
  local f pid
  for f in "$tmp"/pids/*; do
    [[ -e "$f" ]] || continue
    pid=$(<"$f")
    kill -TERM "$pid" 2>/dev/null || true
  done
  for f in "$tmp"/pids/*; do
    [[ -e "$f" ]] || continue
    pid=$(<"$f")
    for _ in {1..50}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ -n "$results" ]]; then
    mkdir -p "$results" && cp -r "$tmp/logs/." "$results/" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_replica NAME ADDR [WRAPPER...]: starts `attache serve` (under WRAPPER, e.g. taskset -c 0),
# waits for its readiness line.
start_replica() {
  local name=$1 addr=$2
  shift 2
  : >"$tmp/logs/$name.out"
  "${prio[@]}" "$@" "$bin" serve --addr "$addr" --metrics-addr 127.0.0.1:0 --model "$tmp/model.attache" \
    --log-level warn >"$tmp/logs/$name.out" 2>>"$tmp/logs/$name.err" &
  echo $! >"$tmp/pids/$name"
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s "$tmp/logs/$name.out" ]] && break
    kill -0 "$(<"$tmp/pids/$name")" 2>/dev/null || die "$name exited: $(tail -3 "$tmp/logs/$name.err")"
    sleep 0.05
  done
  [[ -s "$tmp/logs/$name.out" ]] || die "$name printed no readiness line in 5 s"
  local _a _b _c grpc _d _e metrics
  read -r _a _b _c grpc _d _e metrics <"$tmp/logs/$name.out"
  echo "$grpc" >"$tmp/$name.grpc"
  echo "$metrics" >"$tmp/$name.metrics"
}
grpc_of() { cat "$tmp/$1.grpc"; }
pid_of() { cat "$tmp/pids/$1"; }

stop_process() { # name signal
  local pid
  pid=$(pid_of "$1")
  kill "-$2" "$pid" 2>/dev/null || true
  for _ in {1..150}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$tmp/pids/$1"
}

# start_lb ACCESS_LOG REPLICA_ADDR...: nginx (re)started in front of the given replicas.
lb_addr=""
start_lb() {
  local access_log=$1
  shift
  [[ -e "$tmp/pids/nginx" ]] && stop_process nginx TERM
  mkdir -p "$tmp/nginx"
  lb_addr=127.0.0.1:$(free_port)
  deploy/render-nginx-conf.sh --listen "$lb_addr" --run-dir "$tmp/nginx" \
    --access-log "$access_log" "$@" >"$tmp/nginx/nginx.conf"
  nginx -q -t -e stderr -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf"
  "${prio[@]}" nginx -e stderr -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' \
    >>"$tmp/logs/nginx.out" 2>>"$tmp/logs/nginx.err" &
  echo $! >"$tmp/pids/nginx"
  local i
  for ((i = 0; i < 100; i++)); do
    "$bin" health --addr "$lb_addr" --timeout 1 >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  die "nginx on $lb_addr did not answer health checks: $(tail -3 "$tmp/logs/nginx.err")"
}

# CPU time (user + system, clock ticks) of the given processes and their children's threads.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] || continue
    # Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
# Busy and total jiffies of the whole machine (every process, ours or not), from /proc/stat.
machine_jiffies() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
nginx_pids() { local m; m=$(pid_of nginx); echo "$m" $(pgrep -P "$m" || true); }

# bench_once WORKLOAD TARGET OUT_JSON: one `attache bench` run, with CPU time per party.
bench_once() {
  local workload=$1 target=$2 out=$3 replicas_pids nginx_before=0 nginx_after=0 rep_before rep_after
  replicas_pids=$(for f in "$tmp"/pids/r*; do cat "$f"; done)
  rep_before=$(cpu_ticks $replicas_pids)
  [[ -e "$tmp/pids/nginx" ]] && nginx_before=$(cpu_ticks $(nginx_pids))
  local busy0 total0 busy1 total1
  read -r busy0 total0 < <(machine_jiffies)
  local TIMEFORMAT='%U %S'
  # shellcheck disable=SC2086 # the workload's arguments are words
  { time "${prio[@]}" "$bin" bench ${workload_args[$workload]} --addr "$target" --data "$docs" \
    --duration "$duration" --json >"$out.bench" 2>"$out.err"; } 2>"$out.time"
  read -r busy1 total1 < <(machine_jiffies)
  rep_after=$(cpu_ticks $replicas_pids)
  [[ -e "$tmp/pids/nginx" ]] && nginx_after=$(cpu_ticks $(nginx_pids))
  read -r bu bs <"$out.time"
  jq -c --argjson rep "$(((rep_after - rep_before)))" --argjson ngx "$((nginx_after - nginx_before))" \
    --argjson hz "$hz" --argjson bench "$(awk -v u="$bu" -v s="$bs" 'BEGIN{print u+s}')" \
    --argjson machine "$(awk -v b="$((busy1 - busy0))" -v t="$((total1 - total0))" -v n="$(nproc)" 'BEGIN { print (t > 0 ? b / t * n : 0) }')" \
    '. + {cpu_s: {replicas: ($rep / $hz), nginx: ($ngx / $hz), bench: $bench}, machine_cores_busy: $machine}' \
    "$out.bench" >"$out"
}

# measure WORKLOAD LABEL TARGET: $repeats runs; prints one markdown row for the median (by docs/s).
measure_n=0
measure() {
  local workload=$1 label=$2 target=$3 i
  measure_n=$((measure_n + 1))
  echo "$workload: $label" >"$tmp/logs/run.$measure_n.label"
  local tries discarded=0
  for ((i = 1; i <= repeats; i++)); do
    # A run during which other processes kept more than 0.15 cores busy is disturbed: run it
    # again (at most twice more; the last try is kept whatever it measured).
    for ((tries = 1; tries <= 3; tries++)); do
      bench_once "$workload" "$target" "$tmp/logs/run.$measure_n.$i.json"
      jq -e '(.machine_cores_busy - (.cpu_s.replicas + .cpu_s.nginx + .cpu_s.bench) / .wall_s) <= 0.15' \
        "$tmp/logs/run.$measure_n.$i.json" >/dev/null && break
      ((tries < 3)) && discarded=$((discarded + 1)) && sleep 2
    done
  done
  jq -s -r --arg name "$label" --argjson discarded "$discarded" '
    sort_by(.docs_s) | .[(length / 2 | floor)] as $m
    | ($m.cpu_s.replicas + $m.cpu_s.nginx + $m.cpu_s.bench) as $cpu
    | "| \($name) | \($m.docs_s | round) | \(map(.docs_s | round) | join(" / ")) "
      + "| \($m.p50_ms * 100 | round / 100) | \($m.p99_ms * 100 | round / 100) | \($m.errors) "
      + "| \($m.cpu_s.replicas * 10 | round / 10) / \($m.cpu_s.nginx * 10 | round / 10) / "
      + "\($m.cpu_s.bench * 10 | round / 10) | \($cpu / $m.wall_s * 100 | round)% "
      + "| \($m.machine_cores_busy * 100 | round)% | \($discarded) |"' \
    "$tmp"/logs/run."$measure_n".*.json | tee -a "$tmp/logs/throughput.md"
}

echo "# attache behind nginx: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(free -g | awk '/Mem:/ {print $2}') GiB; $(uname -sr); $nginx_version"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)${prio[*]:+; run under ${prio[*]}}"
echo

# --- throughput --------------------------------------------------------------------------------
if ((do_throughput)); then
  cores=$(nproc)
  placements=(unpinned)
  if command -v taskset >/dev/null; then
    placements+=(pinned)
  else
    echo "(taskset is missing: the pinned placement is skipped)"
  fi
  echo "## Throughput: up to $duration per run, median of $repeats runs, 1 HTTP/2 connection from the load generator"
  for workload in unary batch16; do
    for placement in "${placements[@]}"; do
      for n in 1 2 3; do
        wrap=()
        [[ "$placement" == pinned ]] && wrap=(taskset -c "$(((n - 1) % cores))")
        start_replica "r$n" 127.0.0.1:0 "${wrap[@]}"
      done
      echo
      echo "### $workload (bench ${workload_args[$workload]}), replicas $placement"
      echo
      echo "| setup | docs/s (median) | runs | p50 ms | p99 ms | errors | CPU s: replicas / nginx / bench | ours busy | machine busy | disturbed runs redone |"
      echo "|---|---|---|---|---|---|---|---|---|---|"
      measure "$workload" "1 replica, direct (no nginx)" "$(grpc_of r1)"
      start_lb off "$(grpc_of r1)"
      measure "$workload" "nginx + 1 replica" "$lb_addr"
      start_lb off "$(grpc_of r1)" "$(grpc_of r2)"
      measure "$workload" "nginx + 2 replicas" "$lb_addr"
      start_lb off "$(grpc_of r1)" "$(grpc_of r2)" "$(grpc_of r3)"
      measure "$workload" "nginx + 3 replicas" "$lb_addr"
      stop_process nginx TERM
      for n in 1 2 3; do stop_process "r$n" TERM; done
    done
  done
  echo
  echo "ours busy: CPU time of replicas + nginx + bench over the run's wall time; machine busy: all"
  echo "processes on the machine (from /proc/stat) over the same time; both out of $((cores * 100))%."
  echo "A run during which other processes used more than 0.15 cores was discarded and run again."
  echo
fi

# --- failover ----------------------------------------------------------------------------------
if ((do_failover)); then
  for n in 1 2 3; do start_replica "r$n" 127.0.0.1:0; done
  access=$tmp/logs/access.log
  start_lb "$access buffer=64k flush=200ms" "$(grpc_of r1)" "$(grpc_of r2)" "$(grpc_of r3)"
  events=$tmp/logs/events.log
  : >"$events"
  now() { date +%s.%N; }
  event() { echo "$(now) $*" >>"$events"; }

  t0=$(now)
  # The timeline, in the background: seconds after t0.
  (
    at() { local d; d=$(awk -v t0="$t0" -v s="$1" -v n="$(now)" 'BEGIN { d = t0 + s - n; print (d > 0 ? d : 0) }'); sleep "$d"; }
    at 3
    event "rolling reload starts (SIGHUP r1, r2, r3 one at a time)"
    ATTACHE_BIN=$bin deploy/rolling-reload.sh --timeout 10 --local \
      "$(pid_of r1),$(grpc_of r1),$(cat "$tmp/r1.metrics")" \
      "$(pid_of r2),$(grpc_of r2),$(cat "$tmp/r2.metrics")" \
      "$(pid_of r3),$(grpc_of r3),$(cat "$tmp/r3.metrics")" >>"$tmp/logs/rolling-reload.log" 2>&1 &&
      event "rolling reload done" || event "rolling reload FAILED"
    at 7
    echo "$(now) SIGTERM r3 ($(grpc_of r3))" >>"$events"
    stop_process r3 TERM
    event "r3 exited"
    at 11
    killed_at=$(now)
    kill -KILL "$(pid_of r2)"
    echo "$killed_at SIGKILL r2 ($(grpc_of r2))" >>"$events"
    rm -f "$tmp/pids/r2"
    at 16
    start_replica r2 "$(grpc_of r2)"
    event "r2 restarted on $(grpc_of r2)"
  ) &
  echo $! >"$tmp/pids/timeline"

  slices=$tmp/logs/slices.jsonl
  : >"$slices"
  for ((s = 0; s < slice_limit; s++)); do
    start=$(now)
    awk -v a="$start" -v b="$t0" -v l="$timeline_s" 'BEGIN { exit !(a - b < l) }' || break
    "${prio[@]}" "$bin" bench unary --addr "$lb_addr" --data "$docs" --concurrency 24 --requests 1000000 \
      --duration "$slice" --warmup 0 --timeout 5s --json 2>>"$tmp/logs/slices.err" |
      jq -c --arg s "$start" --arg e "$(now)" --arg t0 "$t0" \
        '{start: (($s | tonumber) - ($t0 | tonumber)), requests, errors, error_codes, req_s}' >>"$slices" ||
      echo "{\"start\": $(awk -v a="$start" -v b="$t0" 'BEGIN{print a-b}'), \"requests\": 0, \"errors\": -1, \"error_codes\": {\"BENCH_FAILED\": 1}, \"req_s\": 0}" >>"$slices"
  done
  # The timeline ends well within the slices; wait for it (bounded).
  for _ in {1..100}; do [[ -e "$tmp/pids/timeline" ]] && kill -0 "$(pid_of timeline)" 2>/dev/null || break; sleep 0.1; done
  sleep 0.3 # let nginx flush its buffered access log (flush=200ms)

  echo "## Failover: 3 replicas, bench unary, concurrency 24, consecutive $slice runs for ${timeline_s}s"
  echo
  echo "Events (seconds after the start):"
  echo
  awk -v t0="$t0" '{ t = $1; $1 = ""; printf "- %6.2f s:%s\n", t - t0, $0 }' "$events"
  sed 's/^/  - /' "$tmp/logs/rolling-reload.log"
  echo
  kill_t=$(awk -v t0="$t0" '/SIGKILL/ { print $1 - t0 }' "$events")
  echo "| slice start s | answered | failed | codes | req/s | event in slice |"
  echo "|---|---|---|---|---|---|"
  jq -s -r '.[] | [.start, .requests, .errors, (.error_codes | to_entries | map("\(.key) \(.value)") | join(", ") | if . == "" then "-" else . end), .req_s] | @tsv' "$slices" |
    while IFS=$'\t' read -r st ok err codes rs; do
      ev=$(awk -v t0="$t0" -v a="$st" -v w="${slice%s}" '{ t = $1 - t0; if (t >= a && t < a + w + 0.05) { $1 = ""; printf "%s;", $0 } }' "$events")
      printf '| %.2f | %d | %d | %s | %.0f | %s |\n' "$st" "$ok" "$err" "$codes" "$rs" "${ev%;}"
    done
  echo

  # nginx's view: calls per replica per second, retries (more than one replica tried) and failures.
  echo "nginx access log, per second: calls answered by each replica; retried: the first replica tried"
  echo "could not take the call (connection refused or closed) and another answered; failed: the client got an error"
  echo
  echo "| second | $(grpc_of r1) | $(grpc_of r2) | $(grpc_of r3) | retried | failed |"
  echo "|---|---|---|---|---|---|"
  awk -v t0="$t0" -v a1="$(grpc_of r1)" -v a2="$(grpc_of r2)" -v a3="$(grpc_of r3)" '
    {
      sec = int($1 - t0); if (sec > max) max = sec
      match($0, /upstream=\[[^]]*\]/); up = substr($0, RSTART + 10, RLENGTH - 11)
      n = split(up, tried, ", "); last = tried[n]
      ok = ($0 ~ / 200 grpc=0 /)
      if (ok) answered[sec, last]++; else failed[sec]++
      if (n > 1 && ok) retried[sec]++
    }
    END {
      for (s = 0; s <= max; s++)
        printf "| %d | %d | %d | %d | %d | %d |\n", s, answered[s, a1], answered[s, a2], answered[s, a3], retried[s], failed[s]
    }' "$access"
  echo

  # The claim: after the crash, only calls that were running on the crashed replica fail.
  after=$(jq -s --argjson k "$kill_t" '[.[] | select(.start > $k) | .errors] | add // 0' "$slices")
  during=$(jq -s --argjson k "$kill_t" '[.[] | select(.start <= $k)] | last | .errors' "$slices")
  before=$(jq -s --argjson k "$kill_t" '[.[] | select(.start <= $k)] | .[:-1] | map(.errors) | add // 0' "$slices")
  echo "failed calls (client side): $before before the crash's slice, $during in it, $after in the slices after it"
  kill_abs=$(awk '/SIGKILL/ { print $1 }' "$events")
  awk -v k="$kill_abs" '!/ 200 grpc=0 / {
      n++; match($0, /upstream=\[[^]]*\]/); up[substr($0, RSTART + 10, RLENGTH - 11)]++
      d = ($1 - k) * 1000; if (n == 1 || d < lo) lo = d; if (n == 1 || d > hi) hi = d
    }
    END {
      if (!n) { print "failed calls (nginx access log): none"; exit }
      s = ""; for (u in up) s = s sprintf("%s%s (%d)", s == "" ? "" : ", ", u, up[u])
      printf "failed calls (nginx access log): %d, sent to %s, logged %+.0f ms to %+.0f ms from the SIGKILL (log times have 1 ms resolution)\n", n, s, lo, hi
    }' "$access"
  if ((after != 0)); then
    echo "FAIL: calls failed after the crash's slice" >&2
    exit 1
  fi
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
