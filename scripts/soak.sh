#!/usr/bin/env bash
# Soak test of the release server (not part of `cargo test`): serves the default model on
# 127.0.0.1, drives it with `attache bench` at the highest rate the machine sustains
# (closed loop: 32 callers on 4 connections, each with one call in flight), samples the
# server's resident memory (VmRSS) every second, then stops it with SIGTERM.
#
#   scripts/soak.sh [SECONDS] [MODE]     (default: 60 s, unary; MODE: unary, batch, stream)
#
# Passes (exit 0) when the load saw no error, RSS grew by less than 5% from the end of the
# warm-up (WARMUP seconds, default 10) to its peak, and the server exited 0 on SIGTERM.
# Prints the figures and leaves the samples in $SOAK_DIR (default: a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
mode=${2:-unary}
warmup=${WARMUP:-10}
model=models/diplomatic-news.attache
data=data/diplomatic/test.jsonl
work=${SOAK_DIR:-$(mktemp -d)}
mkdir -p "$work"

cargo build --release --locked --quiet
bin=target/release/attache

"$bin" serve --addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 --model "$model" \
  --log-format json >"$work/ready" 2>"$work/server.log" &
server=$!
sampler=
cleanup() {
  [[ -n $sampler ]] && kill "$sampler" 2>/dev/null
  kill "$server" 2>/dev/null || true
}
trap cleanup EXIT

for _ in $(seq 100); do
  [[ -s $work/ready ]] && break
  sleep 0.1
done
# attache listening on 127.0.0.1:PORT metrics on 127.0.0.1:PORT
read -r _ _ _ addr _ _ metrics <"$work/ready"
echo "server pid $server on $addr (metrics $metrics); samples in $work" >&2

# One RSS sample per second: seconds since start, KiB.
(
  t=0
  while kill -0 "$server" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status" 2>/dev/null || true)
    [[ -n $rss ]] && echo "$t $rss"
    sleep 1
    t=$((t + 1))
  done
) >"$work/rss.txt" &
sampler=$!

extra=()
[[ $mode == batch ]] && extra=(--batch 16)
"$bin" bench "$mode" --addr "$addr" --data "$data" --concurrency 32 --connections 4 \
  --duration "${seconds}s" --requests 1000000000000 --warmup 1000 "${extra[@]}" \
  --json >"$work/bench.json"

kill "$sampler" 2>/dev/null || true
sampler=
curl -s "http://$metrics/metrics" >"$work/metrics.txt" 2>/dev/null || true
kill -TERM "$server"
set +e
wait "$server"
exit_code=$?
set -e
trap - EXIT

python3 - "$work" "$warmup" "$exit_code" <<'PY'
import json, sys
work, warmup, exit_code = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bench = json.load(open(f"{work}/bench.json"))
samples = [tuple(map(int, l.split())) for l in open(f"{work}/rss.txt") if l.strip()]
after = [kib for t, kib in samples if t >= warmup]
if not after:
    sys.exit(f"no RSS samples after the {warmup} s warm-up")
base, peak, last = after[0], max(after), after[-1]
growth = (peak - base) / base * 100
print(f"mode {bench['mode']}: {bench['requests']} requests in {bench['wall_s']:.1f} s "
      f"= {bench['req_s']:.0f} req/s ({bench['docs_s']:.0f} docs/s), "
      f"p50 {bench['p50_ms']:.2f} ms, p99 {bench['p99_ms']:.2f} ms, "
      f"errors {bench['errors']} {bench['error_codes'] or ''}")
print(f"RSS: start {samples[0][1]} KiB, after {warmup} s warm-up {base} KiB, peak {peak} KiB, "
      f"last {last} KiB ({len(samples)} samples): growth {growth:+.2f}% (limit 5%)")
print(f"server exit code on SIGTERM: {exit_code}")
ok = bench["errors"] == 0 and growth < 5 and exit_code == 0
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
