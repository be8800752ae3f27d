#!/usr/bin/env bash
# Training time of attache (default settings) against CountVectorizer + MultinomialNB and
# fastText at its best setting (25 epochs), on 20 Newsgroups and the White House corpus, in
# one run: table 1 of bench/run.sh without the rest of the full run (about 40 minutes), to
# check a training change against the targets in about ten.
#
#   bench/experiments/train_vs_peers.sh [DATA_DIR] [REPEAT]
#
# DATA_DIR defaults to ../shared/data; REPEAT (default 5) is how many times attache and
# scikit-learn train (fastText trains once: it is 40-100x slower and not close to a
# target). Attache's time is the wall time of the whole `attache train` process, as in
# bench/run.sh; the peers' is offline.py's (reading the file included). Figures are medians.
# Needs the peers' virtualenv that bench/run.sh creates (bench/.venv/peers, or PEERS_VENV).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DATA="$(cd "${1:-$ROOT/../shared/data}" && pwd)"
REPEAT="${2:-5}"
PY="${PEERS_VENV:-$ROOT/bench/.venv/peers}/bin/python"
PEERS_DIR="$(cd "$ROOT/../shared/peers" && pwd)"
BIN="$ROOT/target/release/attache"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

(cd "$ROOT" && cargo build --release --locked -q)
dirty=""
git -C "$ROOT" diff --quiet HEAD || dirty=" + uncommitted changes"
echo "commit $(git -C "$ROOT" rev-parse --short HEAD)$dirty; $(date -u +%FT%TZ);" \
  "$(uname -r); $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs));" \
  "load average $(cut -d' ' -f1 /proc/loadavg)"
echo
echo "| corpus | attache train, s | CountVectorizer + MultinomialNB, s | ratio | fastText 25 epochs, s | ratio |"
echo "|---|---:|---:|---:|---:|---:|"
for c in 20newsgroups-bydate whitehouse-briefing-room; do
  d="$DATA/$c"
  "$PY" "$PEERS_DIR/offline.py" "$d" --only sklearn-mnb --repeat "$REPEAT" --json "$TMP/mnb.json" \
    >/dev/null 2>&1
  "$PY" "$PEERS_DIR/offline.py" "$d" --only fasttext-tuned --repeat 1 --json "$TMP/ft.json" \
    >/dev/null 2>&1
  python3 - "$c" "$REPEAT" "$BIN" "$d" "$TMP" <<'EOF'
import json, statistics, subprocess, sys, time
corpus, repeat, binary, d, tmp = sys.argv[1:]
walls = []
for _ in range(int(repeat)):
    t0 = time.perf_counter()
    subprocess.run([binary, "train", "--data", f"{d}/train.jsonl.gz", "--out", f"{tmp}/t.attache",
                    "--no-paragraphs", "--json"], check=True, stdout=subprocess.DEVNULL)
    walls.append(time.perf_counter() - t0)
a = statistics.median(walls)
m = json.load(open(f"{tmp}/mnb.json"))["results"][0]["train_s"]
f = json.load(open(f"{tmp}/ft.json"))["results"][0]["train_s"]
print(f"| {corpus} | {a:.3f} | {m:.2f} | {m / a:.1f}x | {f:.1f} | {f / a:.0f}x |")
EOF
done
