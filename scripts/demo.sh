#!/usr/bin/env bash
# demo.sh -- the main job: curate Fashion-MNIST (Debian's dataset-fashion-mnist).
#
# Works in demo-out/ beside the checkout's root: creates the database and
# config, ingests the 70,000 IDX images with their class names, and shows
# the status.  Run scripts/setup.sh first (the README's command does).
set -euo pipefail
cd "$(dirname "$0")/.."
CURATE="$PWD/build/curate"
DATA=/usr/share/datasets/fashion-mnist
NAMES="T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"

rm -rf demo-out
mkdir -p demo-out
cd demo-out
# a tenth of the training images (by hash) become the validation split;
# `curate init` keeps this file and `curate config show` lists the rest
cat > curate.json <<'JSON'
{
  "seed": 42,
  "ingest": { "val_from_train": 0.1 }
}
JSON
"$CURATE" init
"$CURATE" ingest "$DATA" --class-names "$NAMES"
"$CURATE" status
echo
echo "demo: the database is demo-out/curate.db; try"
echo "  sqlite3 demo-out/curate.db 'SELECT * FROM class_balance'"
