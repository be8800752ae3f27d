#!/usr/bin/env bash
# Sharded training, end to end, measured: split a corpus into shards, train each shard in its own
# process (in parallel), merge, and check that the merged model is byte for byte the model a
# single training pass over the whole corpus gives with the same settings.
#
#   scripts/shard-train.sh [--corpus FILE.jsonl[.gz]] [--shards N] [--repeats R] [--keep DIR]
#
# Defaults: ../shared/data/whitehouse-briefing-room/train.jsonl.gz (the largest shared corpus,
# ~98 MB of text), 2 shards, 3 repeats (the median wall time is reported).
#
# Shards are trained with an unpruned vocabulary (attache's defaults: min_df 1, max_df 1, no
# max_features), so that no shard drops a term the whole corpus would keep; the pruning is applied
# once, by `attache merge`, to the summed document frequencies (PRUNE below). The single pass
# trains with the same pruning. Both models get the same --id, so their files can be compared.
#
# Timings are taken twice: with attache's default thread pool (it tokenizes with one thread per
# core) and with RAYON_NUM_THREADS=1 per process, which isolates what running processes in
# parallel buys. Everything runs in a temporary directory, removed on exit (--keep copies the
# models and timings to DIR first).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() {
  sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

corpus=$root/../shared/data/whitehouse-briefing-room/train.jsonl.gz
shards=2 repeats=3 keep=""
while (($#)); do
  case "$1" in
    --corpus) corpus=${2:?}; shift 2 ;;
    --shards) shards=${2:?}; shift 2 ;;
    --repeats) repeats=${2:?}; shift 2 ;;
    --keep) keep=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "unknown argument $1" >&2; usage ;;
  esac
done
[[ "$shards" =~ ^[0-9]+$ ]] && ((shards >= 2 && shards <= 64)) || { echo "--shards: 2..64" >&2; exit 2; }
[[ "$repeats" =~ ^[0-9]+$ ]] && ((repeats >= 1 && repeats <= 20)) || { echo "--repeats: 1..20" >&2; exit 2; }
[[ -r "$corpus" ]] || { echo "cannot read $corpus" >&2; exit 2; }

# The pruning applied to the whole corpus (single pass) and at the merge (sharded).
PRUNE=(--min-df 2 --max-features 50000)
ID=sharded-demo

# ATTACHE_BIN=FILE uses that binary instead of building target/release/attache.
if [[ -z "${ATTACHE_BIN:-}" ]]; then
  cargo build --release --locked --quiet --bin attache
fi
tmp=$(mktemp -d /tmp/attache-shard-train.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n "$keep" ]]; then
    mkdir -p "$keep" && cp -r "$tmp/out/." "$keep/" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A copy: another build may replace target/release/attache while this runs.
cp "${ATTACHE_BIN:-target/release/attache}" "$tmp/attache"
bin=$tmp/attache
mkdir -p "$tmp/out"

# The corpus, decompressed once, and its shards: line i goes to shard i mod N (a round robin, so
# every shard sees every label even if the file is sorted by label). The single pass reads the
# same uncompressed text, so both sides pay the same reading cost.
case "$corpus" in
  *.gz) gzip -dc "$corpus" >"$tmp/all.jsonl" ;;
  *) cp "$corpus" "$tmp/all.jsonl" ;;
esac
awk -v n="$shards" -v d="$tmp" '{ print > (d "/shard-" ((NR - 1) % n) ".jsonl") }' "$tmp/all.jsonl"
docs=$(wc -l <"$tmp/all.jsonl")
mb=$(du -m "$tmp/all.jsonl" | cut -f1)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
largest() { tr ' ' '\n' | grep . | sort -g | tail -1; }
cores=$(nproc)
# Busy and total jiffies of the whole machine, and the CPU ticks of this shell's finished children
# (the training processes): what other processes used during a step is the difference.
machine_jiffies() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
children_ticks() { sed 's/.*) //' /proc/$$/stat | awk '{ print $14 + $15 }'; }
# timed VAR OTHERS_VAR cmd...: appends the wall time of cmd to VAR and the cores other processes
# kept busy meanwhile to OTHERS_VAR.
timed() {
  local var=$1 others_var=$2 a b b0 t0 b1 t1 c0 c1
  shift 2
  read -r b0 t0 < <(machine_jiffies)
  c0=$(children_ticks)
  a=$(now)
  "$@"
  b=$(now)
  read -r b1 t1 < <(machine_jiffies)
  c1=$(children_ticks)
  printf -v "$var" '%s %s' "${!var}" "$(elapsed "$a" "$b")"
  printf -v "$others_var" '%s %s' "${!others_var}" \
    "$(awk -v b="$((b1 - b0 - (c1 - c0)))" -v t="$((t1 - t0))" -v n="$cores" 'BEGIN { x = t > 0 ? b / t * n : 0; printf "%.2f", x < 0 ? 0 : x }')"
}

# single OUT: one process trains on the whole corpus with the pruning.
single() {
  "$bin" train --data "$tmp/all.jsonl" --id "$ID" "${PRUNE[@]}" --out "$1" >/dev/null
}
# train_shard I OUT_DIR: one process trains shard I, unpruned.
train_shard() {
  "$bin" train --data "$tmp/shard-$1.jsonl" --id "$ID" --out "$2/shard-$1.attache" >/dev/null
}
merge() { # OUT_DIR
  local models=()
  for ((i = 0; i < shards; i++)); do models+=("$1/shard-$i.attache"); done
  "$bin" merge "${models[@]}" --id "$ID" "${PRUNE[@]}" --out "$1/$ID.attache" >/dev/null
}

echo "# Sharded training: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(free -g | awk '/Mem:/ {print $2}') GiB; $(uname -sr)"
echo "corpus: ${corpus#"$root/"} ($docs documents, $mb MB uncompressed), $shards shards; pruning: ${PRUNE[*]}"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| threads per process | single pass (1 process) | $shards shards one after another + merge | $shards shards in parallel + merge (train / merge) | speed-up vs single | identical | other processes' load |"
echo "|---|---|---|---|---|---|---|"

# The sharded side's steps, each timed on its own.
sequential() { # OUT_DIR
  for ((i = 0; i < shards; i++)); do train_shard "$i" "$1"; done
  merge "$1"
}
parallel_train() { # OUT_DIR
  pids=()
  for ((i = 0; i < shards; i++)); do
    train_shard "$i" "$1" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  pids=()
}

for threads in default 1; do
  if [[ "$threads" == 1 ]]; then export RAYON_NUM_THREADS=1; else unset RAYON_NUM_THREADS; fi
  t_single="" t_seq="" t_train="" t_merge="" o_single="" o_seq="" o_train="" o_merge="" same=yes
  for ((r = 1; r <= repeats; r++)); do
    d=$tmp/run-$threads-$r
    mkdir -p "$d/single" "$d/seq" "$d/par"
    timed t_single o_single single "$d/single/$ID.attache"
    timed t_seq o_seq sequential "$d/seq"
    timed t_train o_train parallel_train "$d/par"
    timed t_merge o_merge merge "$d/par"
    for side in seq par; do
      cmp -s "$d/single/$ID.attache" "$d/$side/$ID.attache" || same=no
    done
    if ((r == repeats)); then
      cp "$d/single/$ID.attache" "$tmp/out/single-threads-$threads.attache"
      cp "$d/par/$ID.attache" "$tmp/out/merged-threads-$threads.attache"
    fi
    rm -rf "$d"
  done
  # The parallel side's total per run: its training plus its merge.
  t_par=$(awk -v a="$t_train" -v b="$t_merge" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) printf " %.3f", x[i] + y[i] }')
  s=$(median <<<"$t_single") q=$(median <<<"$t_seq") p=$(median <<<"$t_par")
  pt=$(median <<<"$t_train") pm=$(median <<<"$t_merge")
  busiest=$(largest <<<"$o_single $o_seq $o_train $o_merge")
  label=$([[ "$threads" == 1 ]] && echo "1 (RAYON_NUM_THREADS=1)" || echo "default ($cores)")
  printf '| %s | %.2f s | %.2f s | %.2f s (%.2f / %.2f) | %.2fx | %s | up to %s cores |\n' \
    "$label" "$s" "$q" "$p" "$pt" "$pm" "$(awk -v s="$s" -v p="$p" 'BEGIN { print s / p }')" "$same" "$busiest" |
    tee -a "$tmp/out/timings.md"
  {
    echo "  runs (s): single$t_single; sequential$t_seq; parallel$t_par"
    echo "  cores used by other processes during each step: single$o_single; sequential$o_seq; parallel train$o_train; merge$o_merge"
  } >>"$tmp/out/timings.md"
  [[ "$same" == yes ]] || { echo "MISMATCH: the merged model differs from the single pass" >&2; exit 1; }
done
unset RAYON_NUM_THREADS

echo
echo "Wall times are medians of $repeats runs; the last column is the most CPU (in cores, of $cores)"
echo "that other processes on the machine used during any timed step of that row: above ~0.2, the"
echo "figures of that row are disturbed (see the per-run figures with --keep)."
echo "Every merged model (sequential and parallel, each run)"
echo "was compared with cmp against the single-pass model of the same run: identical."
echo "model: $(sha256sum "$tmp/out/merged-threads-1.attache" | cut -c1-16)… ($(du -k "$tmp/out/merged-threads-1.attache" | cut -f1) KB);" \
  "$("$bin" inspect --model "$tmp/out/merged-threads-1.attache" 2>/dev/null | grep -m1 -i 'vocabulary' || true)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
