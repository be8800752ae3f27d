#!/usr/bin/env bash
# Runs each cargo-fuzz target of attache for a bounded time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Installs cargo-fuzz from crates.io when it is missing. cargo-fuzz passes nightly-only
# flags (-Zsanitizer=address); on a stable toolchain RUSTC_BOOTSTRAP=1 lets them through.
# Each target starts from fuzz/seeds/<target>/ plus what earlier runs found
# (fuzz/corpus/<target>/, not committed). A crash stops that target and leaves its input in
# fuzz/artifacts/<target>/; fix the bug, then copy the input to fuzz/regressions/<target>/
# so `cargo test` (tests/reliability/fuzz_regressions.rs) replays it from then on.
# Exit status: 0 when no target crashed.
set -uo pipefail
cd "$(dirname "$0")"

seconds=${1:-60}
shift || true
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz from crates.io..." >&2
  cargo install cargo-fuzz --locked || exit 2
fi
export RUSTC_BOOTSTRAP=1

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "== $target: ${seconds}s" >&2
  start=$(date +%s)
  # -rss_limit_mb: an input that makes a target allocate more than 2 GiB is a bug too.
  # The corpus readers start threads (the gzip/line producer, rayon's pool); LeakSanitizer
  # reports a thread's own bookkeeping as leaked when it checks while the thread is still
  # exiting (seen once, not reproducible with the same input), so leak checks are off there.
  leaks=1
  [[ $target == corpus_* ]] && leaks=0
  if cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -detect_leaks="$leaks" 2> "target-$target.log"; then
    status=ok
  else
    status=CRASHED
    failed+=("$target")
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "target-$target.log" | grep -o '[0-9]*$' || echo "?")
  echo "$target: $status, $runs runs in $(( $(date +%s) - start ))s, corpus $(ls "corpus/$target" | wc -l) inputs" >&2
  if [[ $status != ok ]]; then
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "target-$target.log" | head -20 >&2
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/target-*.log)" >&2
  exit 1
fi
echo "no crashes" >&2
