#!/usr/bin/env bash
# attache against the systems users would pick instead, in one run, on this machine.
#
#   bench/run.sh [--quick] [DATA_DIR]        (DATA_DIR: the shared corpora, default ../shared/data)
#
# Builds release, runs attache and every peer (scikit-learn, fastText, Vowpal Wabbit through
# ../shared/peers/offline.py; Seldon MLServer through ../shared/peers/mlserver/) on the same
# corpora, records the machine, and writes the tables of BENCHMARKS.md between
# `<!-- bench:begin -->` and `<!-- bench:end -->` (text outside the markers is kept).
# Raw results and every command stay in bench/out/<date>/ (git-ignored).
#
# --quick: a smoke run (a few minutes): fewer corpora and peers, a subset of the large corpus,
#          one repeat, short load runs. Its tables say so; do not quote them as results.
#
# Python: peers run in a virtualenv with scikit-learn, fasttext-wheel, numpy<2, vowpalwabbit;
# MLServer and both gRPC Python clients in one with mlserver, mlserver-sklearn, uvloop 0.21.0,
# grpcio, grpcio-tools. Both are created under bench/.venv/ (git-ignored) when missing;
# PEERS_VENV=DIR / MLSERVER_VENV=DIR use existing ones instead.
#
# Safety: every server is started on 127.0.0.1 in its own process group and killed at exit
# (trap); every load run is bounded by a request count and a duration; every step by a timeout.
set -euo pipefail

QUICK=0
DATA=""
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) DATA="$arg" ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$(cd "${DATA:-$ROOT/../shared/data}" && pwd)"
PEERS_DIR="$(cd "$DATA/../peers" 2>/dev/null && pwd || true)"
[ -f "$PEERS_DIR/offline.py" ] || PEERS_DIR="$(cd "$ROOT/../shared/peers" && pwd)"
STAMP="$(date -u +%Y%m%d-%H%M%S)"
OUT="$ROOT/bench/out/$STAMP$([ $QUICK = 1 ] && echo -quick || true)"
mkdir -p "$OUT/runs" "$OUT/logs" "$OUT/models"
TMP="$(mktemp -d -t attache-bench.XXXXXX)"
BIN="$ROOT/target/release/attache"

# ---------------------------------------------------------------- cleanup: our servers only
GROUPS_STARTED=()
stop_group() {  # stop_group PGID: SIGTERM the process group we started, then SIGKILL
  local g=$1 i
  kill -TERM -- "-$g" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 -- "-$g" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$g" 2>/dev/null || true
}
cleanup() {
  local g
  for g in "${GROUPS_STARTED[@]:-}"; do [ -n "$g" ] && stop_group "$g"; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- settings
if [ $QUICK = 1 ]; then
  ACC_CORPORA="20newsgroups-bydate reuters21578-apte90 reuters21578-apte90-first reuters-r8"
  SCALE_CORPUS="whitehouse-briefing-room"    # a subset of it, see below
  PEERS="sklearn-mnb sklearn-cnb-tfidf fasttext-tuned vw"
  GRID="mnb cnb-bi-all tw-bi-all-a01"
  REPEAT=1; CV=5
  UNARY_REQ=2000; BATCH_REQ=100; SECS=4; WARM=200
else
  ACC_CORPORA="20newsgroups-bydate reuters21578-apte90 reuters21578-apte90-first reuters-r8 reuters-r52 bbc-news whitehouse-briefing-room"
  SCALE_CORPUS="whitehouse-briefing-room"
  PEERS="sklearn-mnb sklearn-mnb-bigram sklearn-cnb-tfidf fasttext fasttext-tuned fasttext-tuned-bigram vw vw-bigram"
  GRID="mnb mnb-all mnb-bi-all cnb cnb-bi cnb-bi-all cnb-bi-all-a1 tw-bi-all tw-bi-all-a01"
  REPEAT=3; CV=5
  UNARY_REQ=20000; BATCH_REQ=1000; SECS=20; WARM=500
fi
TRAIN_CORPORA="20newsgroups-bydate $SCALE_CORPUS"
SERVE_CORPUS="reuters-r8"
STEP_TIMEOUT=3600

# attache settings explored with cross-validation on the training data (never the test data).
# Every one scores documents whole (--no-paragraphs), as the cross-validation folds do.
# "all words": --stop-words none keeps function words (as scikit-learn's vectorizers do); they
# carry genre and, in bigrams, phrase information. Bigram settings drop terms seen in only one
# training document (--min-df 2, as the scikit-learn bigram peers do): the cross-validation
# figures are as good or better, and the models several times smaller and faster.
grid_flags() {
  case "$1" in
    mnb)           echo "--kind multinomial" ;;
    mnb-all)       echo "--kind multinomial --stop-words none" ;;
    mnb-bi-all)    echo "--kind multinomial --ngrams 2 --alpha 0.1 --stop-words none --min-df 2" ;;
    cnb)           echo "--kind complement --sublinear-tf --alpha 0.3" ;;
    cnb-bi)        echo "--kind complement --sublinear-tf --ngrams 2 --alpha 0.3 --min-df 2" ;;
    cnb-bi-all)    echo "--kind complement --sublinear-tf --ngrams 2 --alpha 0.3 --stop-words none --min-df 2" ;;
    cnb-bi-all-a1) echo "--kind complement --sublinear-tf --ngrams 2 --alpha 1 --stop-words none --min-df 2" ;;
    tw-bi-all)     echo "--kind complement --sublinear-tf --idf --length-norm l2 --ngrams 2 --alpha 0.3 --stop-words none --min-df 2" ;;
    tw-bi-all-a01) echo "--kind complement --sublinear-tf --idf --length-norm l2 --ngrams 2 --alpha 0.1 --stop-words none --min-df 2" ;;
    *) echo "unknown grid setting $1" >&2; return 1 ;;
  esac
}

# ---------------------------------------------------------------- running and recording
# How a command is shown in BENCHMARKS.md: repository-relative, corpora as $DATA.
show() {
  local s="" a
  for a in "$@"; do
    a="${a//$BIN/attache}"
    a="${a//$PEERS_PY/python}"
    a="${a//$ML_PY/python}"
    a="${a//$PEERS_DIR/\$PEERS}"
    a="${a//$DATA/\$DATA}"
    a="${a//$OUT/\$OUT}"
    a="${a//$TMP/\$TMP}"
    a="${a//$ROOT\//}"
    case "$a" in *[[:space:]]*|"") a="'$a'" ;; esac
    s+="${s:+ }$a"
  done
  printf '%s\n' "$s"
}
# run NAME CMD...: stdout -> runs/NAME.out, stderr -> logs/NAME.err, command -> runs/NAME.cmd.
run() {
  local name=$1; shift
  show "$@" > "$OUT/runs/$name.cmd"
  if ! timeout "$STEP_TIMEOUT" "$@" > "$OUT/runs/$name.out" 2> "$OUT/logs/$name.err"; then
    log "FAILED: $name (see $OUT/logs/$name.err)"; echo failed > "$OUT/runs/$name.failed"; return 1
  fi
}
# timed NAME CMD...: like run, under /usr/bin/time -v (wall time, peak RSS) -> runs/NAME.time.
timed() {
  local name=$1; shift
  run "$name" /usr/bin/time -v -o "$OUT/runs/$name.time" "$@"
  show "$@" > "$OUT/runs/$name.cmd"
}

# ---------------------------------------------------------------- build, Python, machine
log "building release"
(cd "$ROOT" && cargo build --release 2>&1 | tail -n 3) >&2

make_venv() {  # make_venv DIR PACKAGES...: creates DIR with the packages unless it exists
  local dir=$1; shift
  if [ ! -x "$dir/bin/python" ]; then
    log "creating $dir (pip install $*)"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --upgrade pip >&2
    "$dir/bin/pip" install --quiet "$@" >&2
  fi
}
if [ -n "${PEERS_VENV:-}" ]; then
  [ -x "$PEERS_VENV/bin/python" ] || { echo "PEERS_VENV=$PEERS_VENV has no bin/python" >&2; exit 2; }
else
  PEERS_VENV="$ROOT/bench/.venv/peers"
  make_venv "$PEERS_VENV" scikit-learn fasttext-wheel "numpy<2" vowpalwabbit
fi
if [ -n "${MLSERVER_VENV:-}" ]; then
  [ -x "$MLSERVER_VENV/bin/python" ] || { echo "MLSERVER_VENV=$MLSERVER_VENV has no bin/python" >&2; exit 2; }
else
  MLSERVER_VENV="$ROOT/bench/.venv/mlserver"
  make_venv "$MLSERVER_VENV" mlserver mlserver-sklearn scikit-learn joblib uvloop==0.21.0 grpcio grpcio-tools
fi
PEERS_PY="$PEERS_VENV/bin/python"
ML_PY="$MLSERVER_VENV/bin/python"

log "recording the machine"
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
  echo "nproc=$(nproc)"
  echo "memory=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel=$(uname -sr)"
  echo "rustc=$(rustc --version)"
  echo "python=$("$PEERS_PY" --version 2>&1)"
  echo "sklearn=$("$PEERS_PY" -c 'import sklearn; print(sklearn.__version__)' 2>/dev/null || echo '?')"
  echo "fasttext=$("$PEERS_PY" -m pip show fasttext-wheel 2>/dev/null | sed -n 's/^Version: //p')"
  echo "vowpalwabbit=$("$PEERS_PY" -m pip show vowpalwabbit 2>/dev/null | sed -n 's/^Version: //p')"
  echo "mlserver=$("$ML_PY" -m pip show mlserver 2>/dev/null | sed -n 's/^Version: //p')"
  echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "quick=$QUICK"
} > "$OUT/machine.env"
cat "$OUT/machine.env" >&2

# ---------------------------------------------------------------- corpora
# A corpus derived for this run lives in $TMP under its name (corpora are never copied into the
# repository); every other one is read from $DATA.
corpus_dir() { if [ -d "$TMP/$1" ]; then echo "$TMP/$1"; else echo "$DATA/$1"; fi; }
# apte90 as the peers see it: offline.py trains and scores single-label models on each
# document's first label, so attache's top label on apte90 (trained on every label) is not
# like for like. This copy keeps only the first label, and attache trains on it as the peers do.
first="$TMP/reuters21578-apte90-first"
mkdir -p "$first"
for f in train test; do
  python3 - "$DATA/reuters21578-apte90/$f.jsonl.gz" "$first/$f.jsonl.gz" <<'PY'
import gzip, json, sys
with gzip.open(sys.argv[1], "rt", encoding="utf-8") as i, gzip.open(sys.argv[2], "wt", encoding="utf-8") as o:
    for line in i:
        row = json.loads(line)
        row["labels"] = row["labels"][:1]
        o.write(json.dumps(row, ensure_ascii=False) + "\n")
PY
done
if [ $QUICK = 1 ]; then
  # The large corpus, cut to its first 2,000 training and 600 test documents (in a temporary
  # directory: corpora are never copied into the repository).
  sub="$TMP/whitehouse-briefing-room"
  mkdir -p "$sub"
  for f in train:2000 test:600; do
    python3 - "$DATA/whitehouse-briefing-room/${f%%:*}.jsonl.gz" "$sub/${f%%:*}.jsonl.gz" "${f##*:}" <<'PY'
import gzip, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with gzip.open(src, "rt", encoding="utf-8") as i, gzip.open(dst, "wt", encoding="utf-8") as o:
    for k, line in enumerate(i):
        if k >= n:
            break
        o.write(line)
PY
  done
fi
ALL_CORPORA="$(printf '%s\n' $ACC_CORPORA $TRAIN_CORPORA | awk '!seen[$0]++' | tr '\n' ' ')"
for c in $ALL_CORPORA $SERVE_CORPUS; do
  [ -f "$OUT/runs/corpus.$c.out" ] || python3 "$ROOT/bench/report.py" corpus-stats "$(corpus_dir "$c")" > "$OUT/runs/corpus.$c.out"
done

# ---------------------------------------------------------------- peers (offline.py)
for c in $ALL_CORPORA; do
  d="$(corpus_dir "$c")"
  peers=$PEERS
  # On the first-label copy only the scikit-learn NB pipelines, the target's reference: every
  # peer already sees apte90 this way.
  [ "$c" = reuters21578-apte90-first ] && peers="$(printf '%s\n' $PEERS | grep '^sklearn-' | tr '\n' ' ')"
  for p in $peers; do
    log "peer $p on $c"
    # One process per peer, so its peak RSS is its own.
    timed "peer.$c.$p" "$PEERS_PY" "$PEERS_DIR/offline.py" "$d" --only "$p" --repeat "$REPEAT" \
      --json "$OUT/runs/peer.$c.$p.json" || true
  done
done

# ---------------------------------------------------------------- attache: settings by CV
for c in $ALL_CORPORA; do
  d="$(corpus_dir "$c")"
  for k in $GRID; do
    log "attache $k on $c: ${CV}-fold cross-validation on train, then test"
    m="$OUT/models/$c.$k.attache"
    # shellcheck disable=SC2046
    run "cv.$c.$k" "$BIN" train --data "$d/train.jsonl.gz" --out "$m" --cv "$CV" --no-paragraphs \
      $(grid_flags "$k") --json || continue
    run "eval.$c.$k" "$BIN" eval --model "$m" --data "$d/test.jsonl.gz" --json || true
    # The top label against the first gold label: the peers' accuracy, also on multi-label data.
    run "acc-offline.$c.$k" "$BIN" bench offline --model "$m" --data "$d/test.jsonl.gz" \
      --repeat 1 --single 200 --json || true
  done
  python3 "$ROOT/bench/report.py" select "$OUT" "$c" "$GRID" > "$OUT/runs/selected.$c"
  log "selected for $c by cross-validation: $(cat "$OUT/runs/selected.$c")"
done

# ---------------------------------------------------------------- attache: training time, speed
for c in $TRAIN_CORPORA; do
  d="$(corpus_dir "$c")"
  for k in $(printf '%s\n' mnb "$(cat "$OUT/runs/selected.$c")" | awk '!seen[$0]++'); do
    for r in $(seq "$REPEAT"); do
      log "attache train $k on $c (run $r)"
      # shellcheck disable=SC2046
      timed "train.$c.$k.$r" "$BIN" train --data "$d/train.jsonl.gz" --out "$TMP/t.attache" \
        --no-paragraphs $(grid_flags "$k") --json || true
    done
    log "attache bench offline $k on $c"
    run "offline.$c.$k" "$BIN" bench offline --model "$OUT/models/$c.$k.attache" \
      --data "$d/test.jsonl.gz" --repeat "$REPEAT" --json || true
  done
done

# ---------------------------------------------------------------- serving: attache vs MLServer
sd="$(corpus_dir "$SERVE_CORPUS")"
serve_model="$OUT/models/serve.$SERVE_CORPUS.attache"
run "serve-train" "$BIN" train --data "$sd/train.jsonl.gz" --out "$serve_model" --json
run "serve-offline" "$BIN" bench offline --model "$serve_model" --data "$sd/test.jsonl.gz" \
  --repeat "$REPEAT" --json || true

rss_kb() {  # rss_kb FIELD PGID: sum of FIELD (VmRSS, VmHWM) over the process group
  local field=$1 g=$2 pid total=0 v
  for pid in $(ps -o pid= -g "$g" 2>/dev/null); do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
cpu_s() {  # cpu_s PGID: CPU seconds (user + system) the process group has used so far
  local g=$1 pid total=0 t
  for pid in $(ps -o pid= -g "$g" 2>/dev/null); do
    # Fields after the parenthesised command name (which may hold spaces): utime is the
    # 12th, stime the 13th.
    t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}' || true)
    total=$((total + ${t:-0}))
  done
  awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}
# load NAME CMD...: like run, recording the CPU time the server ($SERVER_GROUP) spent meanwhile,
# a figure the client's own CPU use does not cap.
load() {
  local name=$1 before rc=0; shift
  before=$(cpu_s "$SERVER_GROUP")
  run "$name" "$@" || rc=1
  echo "{\"server_cpu_s\": $(awk -v a="$(cpu_s "$SERVER_GROUP")" -v b="$before" 'BEGIN { printf "%.3f", a - b }')}" \
    > "$OUT/runs/$name.cpu"
  return $rc
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

elapsed() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.3f", a - b }'; }

# ready NAME ADDR PGID T0: waits (bounded) until the server answers one request, then records
# the time it took since T0 and its idle memory.
ready() {
  local name=$1 addr=$2 g=$3 t0=$4 script took
  if [ "$name" = attache ]; then script="$ROOT/bench/attache_load.py"; else script="$PEERS_DIR/mlserver/load.py"; fi
  run "ready.$name" "$ML_PY" "$script" --addr "$addr" --corpus "$sd" --concurrency 1 --requests 1 \
    --seconds 10 --wait-ready 180 --json || return 1
  took=$(elapsed "$t0")
  sleep 1
  echo "{\"server\": \"$name\", \"ready_s\": $took, \"idle_rss_kb\": $(rss_kb VmRSS "$g")}" \
    > "$OUT/runs/mem.$name.idle.json"
}

# The same load, in the same order, for every server, from the same kind of client: a Python
# grpcio closed loop (the peer's load.py for MLServer, bench/attache_load.py for attache).
python_load() {  # python_load NAME ADDR: warm-up, unary c=1/16/64, batch 64 at c=4 (+ stream)
  local name=$1 addr=$2 script c
  if [ "$name" = attache ]; then script="$ROOT/bench/attache_load.py"; else script="$PEERS_DIR/mlserver/load.py"; fi
  run "warmup.$name" "$ML_PY" "$script" --addr "$addr" --corpus "$sd" --concurrency 16 \
    --requests "$WARM" --seconds 60 --json || return 1
  for c in 1 16 64; do
    log "$name: python client, unary c=$c"
    load "load.$name.py.unary-c$c" "$ML_PY" "$script" --addr "$addr" --corpus "$sd" \
      --concurrency "$c" --requests "$UNARY_REQ" --seconds "$SECS" --json || true
  done
  log "$name: python client, batch 64 c=4"
  load "load.$name.py.batch64-c4" "$ML_PY" "$script" --addr "$addr" --corpus "$sd" \
    --concurrency 4 --batch 64 --requests "$BATCH_REQ" --seconds "$SECS" --json || true
  if [ "$name" = attache ]; then
    log "$name: python client, stream c=16"
    load "load.$name.py.stream-c16" "$ML_PY" "$script" --addr "$addr" --corpus "$sd" \
      --concurrency 16 --stream --requests "$UNARY_REQ" --seconds "$SECS" --json || true
  fi
}

# The Rust client against MLServer too (`--protocol kserve-v2`: ModelInfer, one BYTES tensor of
# the documents, as load.py sends), so both servers are also measured with the client that costs
# least: attache's Rust-client unary and batch runs, same counts, durations and warm-up (KServe V2
# has no per-document stream).
rust_kserve_load() {  # rust_kserve_load NAME ADDR
  local name=$1 addr=$2 c
  for c in 1 16 64; do
    log "$name: rust client, unary c=$c"
    load "load.$name.rs.unary-c$c" "$BIN" bench unary --protocol kserve-v2 --model-name sklearn-nb \
      --addr "$addr" --data "$sd/test.jsonl.gz" --concurrency "$c" --requests "$UNARY_REQ" \
      --duration "${SECS}s" --warmup "$WARM" --json || true
  done
  log "$name: rust client, batch 64 c=4"
  load "load.$name.rs.batch64-c4" "$BIN" bench batch --protocol kserve-v2 --model-name sklearn-nb \
    --addr "$addr" --data "$sd/test.jsonl.gz" --batch 64 --concurrency 4 --requests "$BATCH_REQ" \
    --duration "${SECS}s" --warmup 20 --json || true
}

peak() {  # peak NAME PGID: memory of the server after the load runs
  echo "{\"server\": \"$1\", \"peak_rss_kb\": $(rss_kb VmHWM "$2"), \"rss_kb\": $(rss_kb VmRSS "$2")}" \
    > "$OUT/runs/mem.$1.load.json"
}

# attache
log "attache serve ($SERVE_CORPUS model)"
serve_cmd=("$BIN" serve --model "$serve_model" --addr 127.0.0.1:0 --metrics-addr off --log-level warn)
show "${serve_cmd[@]}" > "$OUT/runs/serve.attache.cmd"
t0=$(date +%s.%N)
setsid "${serve_cmd[@]}" > "$OUT/logs/attache-serve.out" 2> "$OUT/logs/attache-serve.err" &
g=$!; GROUPS_STARTED+=("$g"); SERVER_GROUP=$g
for _ in $(seq 600); do grep -q '^attache listening on' "$OUT/logs/attache-serve.out" && break; sleep 0.05; done
addr=$(awk '/^attache listening on/ {print $4}' "$OUT/logs/attache-serve.out")
case "$addr" in 127.0.0.1:*) ;; *) log "attache serve did not start (see $OUT/logs/attache-serve.err)"; exit 1 ;; esac
ready attache "$addr" "$g" "$t0"
python_load attache "$addr" || log "attache: python load failed"
for c in 1 16 64; do
  log "attache: rust client, unary c=$c"
  load "load.attache.rs.unary-c$c" "$BIN" bench unary --addr "$addr" --data "$sd/test.jsonl.gz" \
    --concurrency "$c" --requests "$UNARY_REQ" --duration "${SECS}s" --warmup "$WARM" --json || true
done
log "attache: rust client, batch 64 c=4"
load "load.attache.rs.batch64-c4" "$BIN" bench batch --addr "$addr" --data "$sd/test.jsonl.gz" \
  --batch 64 --concurrency 4 --requests "$BATCH_REQ" --duration "${SECS}s" --warmup 20 --json || true
log "attache: rust client, stream c=16"
load "load.attache.rs.stream-c16" "$BIN" bench stream --addr "$addr" --data "$sd/test.jsonl.gz" \
  --concurrency 16 --requests "$UNARY_REQ" --duration "${SECS}s" --warmup "$WARM" --json || true
log "attache: rust client, stream c=4 with 16 in flight"
load "load.attache.rs.stream-c4x16" "$BIN" bench stream --addr "$addr" --data "$sd/test.jsonl.gz" \
  --concurrency 4 --in-flight 16 --requests "$UNARY_REQ" --duration "${SECS}s" --warmup "$WARM" --json || true
peak attache "$g"
stop_group "$g"

# MLServer: stock (one inference worker process) and --workers 0 (inference in the server
# process). serve_sklearn.py trains CountVectorizer + MultinomialNB on the same training file
# first, so its time to ready includes that training (about a second here).
for w in 1 0; do
  name="mlserver-w$w"
  gp=$(free_port); hp=$(free_port); mp=$(free_port)
  log "$name: starting MLServer on 127.0.0.1:$gp"
  ml_cmd=("$ML_PY" "$PEERS_DIR/mlserver/serve_sklearn.py" "$sd" "$TMP/$name" --grpc-port "$gp"
          --http-port "$hp" --metrics-port "$mp" --workers "$w")
  show "${ml_cmd[@]}" > "$OUT/runs/serve.$name.cmd"
  t0=$(date +%s.%N)
  # From $TMP: MLServer writes a `.metrics/` folder into its working directory. `exec` keeps
  # $! the server's own process group (setsid execs in place outside job control).
  (cd "$TMP" && exec setsid "${ml_cmd[@]}") > "$OUT/logs/$name.out" 2> "$OUT/logs/$name.err" &
  g=$!; GROUPS_STARTED+=("$g"); SERVER_GROUP=$g
  if ready "$name" "127.0.0.1:$gp" "$g" "$t0"; then
    python_load "$name" "127.0.0.1:$gp" || log "$name: python load failed"
    rust_kserve_load "$name" "127.0.0.1:$gp"
    peak "$name" "$g"
  else
    log "$name: did not become ready (see $OUT/logs/$name.err)"
  fi
  stop_group "$g"
  [ -f "$TMP/$name/model.joblib" ] && run "joblib.$name" "$ML_PY" -c 'import joblib, os, sys, time
p = sys.argv[1]; t = []
for _ in range(3):
    t0 = time.perf_counter(); joblib.load(p); t.append(time.perf_counter() - t0)
print("{\"model_bytes\": %d, \"load_s\": %f}" % (os.path.getsize(p), sorted(t)[1]))' "$TMP/$name/model.joblib" || true
done

# ---------------------------------------------------------------- tables
log "writing the tables"
python3 "$ROOT/bench/report.py" render "$OUT" "$ROOT/BENCHMARKS.md"
log "done: $OUT"
