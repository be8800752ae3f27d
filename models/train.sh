#!/usr/bin/env bash
# Reproduces models/diplomatic-news.attache byte for byte from data/diplomatic/train.jsonl.
#
#   models/train.sh           # retrain and overwrite the model
#   models/train.sh --check   # retrain into a temp file and compare with the committed model
#
# The model is embedded in the attache binary at build time, so rebuild after retraining.
set -euo pipefail
cd "$(dirname "$0")/.."

out=models/diplomatic-news.attache
if [[ "${1:-}" == "--check" ]]; then
  out=$(mktemp -d)/diplomatic-news.attache
fi

cargo run --release --quiet -- train \
  --data data/diplomatic/train.jsonl \
  --config models/diplomatic-news.toml \
  --stop-words english+models/places.txt \
  --cv 5 --seed 7 \
  --id diplomatic-news --model-version 2026.11.1 \
  --out "$out"

cargo run --release --quiet -- eval --model "$out" --data data/diplomatic/test.jsonl

if [[ "${1:-}" == "--check" ]]; then
  if cmp -s "$out" models/diplomatic-news.attache; then
    echo "identical: $out == models/diplomatic-news.attache"
  else
    echo "DIFFERENT: $out != models/diplomatic-news.attache" >&2
    exit 1
  fi
fi
