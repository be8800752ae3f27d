#!/usr/bin/env bash
# What a change bought: two attache binaries, the same work, back to back, in one run.
#
#   bench/compare.sh OLD_BIN NEW_BIN [DATA_DIR] [RUNS]
#
# Build the two binaries from the commits to compare (e.g. `git worktree add /tmp/old <commit>`
# and `cargo build --release` there). For each binary, alternating, RUNS times (default 5):
#   - `attache train` (defaults) on 20 Newsgroups and on the White House corpus: wall seconds;
#   - `attache bench offline` of the defaults model on each test set: batch docs/s on one
#     thread and on all cores, one document per call;
#   - a server on 127.0.0.1:0 under `attache bench unary` at concurrency 16 (R8 test set,
#     the NEW binary's client for both): req/s, p99, and the server's CPU per call.
# Prints a Markdown table of medians. Models are trained by each binary itself, and their
# bytes compared (the engine changes so far keep models byte-identical).
set -euo pipefail

OLD=$(realpath "$1"); NEW=$(realpath "$2")
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$(cd "${3:-$ROOT/../shared/data}" && pwd)"
RUNS="${4:-5}"
TMP="$(mktemp -d -t attache-compare.XXXXXX)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

bin_of() { if [ "$1" = new ]; then echo "$NEW"; else echo "$OLD"; fi; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }

declare -A R
for c in 20newsgroups-bydate whitehouse-briefing-room; do
  for tag in old new; do
    bin=$(bin_of $tag)
    mkdir -p "$TMP/$tag"
    "$bin" train --data "$DATA/$c/train.jsonl.gz" --out "$TMP/$tag/$c.attache" --no-paragraphs >/dev/null
  done
  if cmp -s "$TMP/old/$c.attache" "$TMP/new/$c.attache"; then R[$c.same]=yes; else R[$c.same]=no; fi
  for r in $(seq "$RUNS"); do
    for tag in old new; do
      bin=$(bin_of $tag)
      /usr/bin/time -f %e -o "$TMP/time" "$bin" train --data "$DATA/$c/train.jsonl.gz" \
        --out "$TMP/t.attache" --no-paragraphs >/dev/null
      cat "$TMP/time" >> "$TMP/$tag.$c.train"
    done
  done
  for r in $(seq "$RUNS"); do
    for tag in old new; do
      bin=$(bin_of $tag)
      "$bin" bench offline --model "$TMP/$tag/$c.attache" --data "$DATA/$c/test.jsonl.gz" \
        --repeat 1 --json > "$TMP/off.json"
      json 'round(d["batch_docs_s"])' < "$TMP/off.json" >> "$TMP/$tag.$c.b1"
      json 'round(d["batch_parallel_docs_s"])' < "$TMP/off.json" >> "$TMP/$tag.$c.bn"
      json 'round(d["single_docs_s"])' < "$TMP/off.json" >> "$TMP/$tag.$c.one"
    done
  done
done

# Serving: each binary serves the R8 model it trained; the same (new) client loads both.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
for tag in old new; do
  bin=$(bin_of $tag)
  "$bin" train --data "$DATA/reuters-r8/train.jsonl.gz" --out "$TMP/$tag/r8.attache" --no-paragraphs >/dev/null
done
for r in $(seq "$RUNS"); do
  for tag in old new; do
    bin=$(bin_of $tag)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    "$bin" serve --model "$TMP/$tag/r8.attache" --addr "127.0.0.1:$port" --metrics-addr off \
      --log-level warn >/dev/null 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
      "$NEW" health --addr "127.0.0.1:$port" --timeout 1 >/dev/null 2>&1 && break
      sleep 0.1
    done
    "$NEW" bench unary --addr "127.0.0.1:$port" --data "$DATA/reuters-r8/test.jsonl.gz" \
      --concurrency 16 --requests 2000 --duration 2s --warmup 2000 >/dev/null 2>&1 || true
    before=$(cpu_ticks "$SERVER_PID")
    "$NEW" bench unary --addr "127.0.0.1:$port" --data "$DATA/reuters-r8/test.jsonl.gz" \
      --concurrency 16 --requests 1000000 --duration 10s --warmup 0 --json > "$TMP/load.json"
    after=$(cpu_ticks "$SERVER_PID")
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
    ok=$(json 'd["requests"] - d["errors"]' < "$TMP/load.json")
    json 'round(d["req_s"])' < "$TMP/load.json" >> "$TMP/$tag.rps"
    json 'round(d["p99_ms"], 2)' < "$TMP/load.json" >> "$TMP/$tag.p99"
    awk -v t=$((after - before)) -v n="$ok" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { printf "%.1f\n", t / hz / n * 1e6 }' >> "$TMP/$tag.cpu"
  done
done

m() { median < "$TMP/$1"; }
echo "| measure | old | new | new / old |"
echo "|---|---:|---:|---:|"
row() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "| %s | %s | %s | %.2f× |\n", n, a, b, b / a }'; }
for c in 20newsgroups-bydate whitehouse-briefing-room; do
  row "$c: attache train, wall s (models identical: ${R[$c.same]})" "$(m old.$c.train)" "$(m new.$c.train)"
  row "$c: batch docs/s, 1 thread" "$(m old.$c.b1)" "$(m new.$c.b1)"
  row "$c: batch docs/s, all cores" "$(m old.$c.bn)" "$(m new.$c.bn)"
  row "$c: one doc per call, docs/s" "$(m old.$c.one)" "$(m new.$c.one)"
done
row "reuters-r8 serving, unary c=16: req/s" "$(m old.rps)" "$(m new.rps)"
row "reuters-r8 serving, unary c=16: p99 ms" "$(m old.p99)" "$(m new.p99)"
row "reuters-r8 serving, unary c=16: server CPU µs/call" "$(m old.cpu)" "$(m new.cpu)"
echo
echo "old: $OLD ($("$OLD" --version)); new: $NEW ($("$NEW" --version)); runs: $RUNS (medians); $(date -u +%FT%TZ); load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
