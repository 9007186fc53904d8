#!/usr/bin/env bash
# demo.sh -- the main job: the whole pipeline on a realistically messy
# Fashion-MNIST (Debian's dataset-fashion-mnist), raw labels against curated.
#
# scripts/demo_data.py makes the mess, reproducibly from the seed: 20% of the
# training labels changed to another class, Shirt, Sandal and Bag cut to a
# fifth, half the remaining training images left without a label, and a
# tenth held out as a checked validation split.  The demo then ingests it
# and runs the whole pipeline with one `curate run`, whose report puts the
# raw-label baseline and the curated run side by side (val and test) with
# what the policy kept; then it scores the mislabel flags and the
# pseudo-labels against the known truth.  The only options are the seed and
# the features (download-free pixels), as a user would write them.  Works in
# demo-out/ beside the checkout's root.  Run scripts/setup.sh first (the
# README's command does).
set -euo pipefail
cd "$(dirname "$0")/.."
CURATE="$PWD/build/curate"
SCRIPTS="$PWD/scripts"
NAMES="T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
SEED=42

rm -rf demo-out
mkdir -p demo-out
cd demo-out
echo "== the data"
python3 "$SCRIPTS/demo_data.py" --seed "$SEED" fmnist
# `curate init` keeps this file and adds every other option at its default
# (`curate config show` lists them)
cat > curate.json <<JSON
{
  "seed": $SEED,
  "embed": { "features": "pixels", "size": 28, "channels": 1 }
}
JSON
"$CURATE" init
"$CURATE" ingest fmnist --labels fmnist/labels.csv --class-names "$NAMES"

echo
echo "== the whole pipeline: embed, mislabel ranking, pseudo-labels, balancing, augmentation,"
echo "== the policy that keeps only what helps on val, export, training (raw labels beside it)"
"$CURATE" run

echo
echo "== against the truth the demo data keeps"
python3 "$SCRIPTS/demo_score.py" curate.db fmnist/truth.csv
echo
echo "demo: the database is demo-out/curate.db, the manifest demo-out/export/; try"
echo "  sqlite3 demo-out/curate.db 'SELECT * FROM class_balance'"
echo "  build/curate --db demo-out/curate.db flagged --limit 10"
