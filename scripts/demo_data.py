#!/usr/bin/env python3
"""demo_data.py -- makes Fashion-MNIST realistically messy, reproducibly, for the demo.

Reads Debian's dataset-fashion-mnist IDX files and writes, into OUT:
  train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz  the training images
      minus most of the CUT classes' (imbalance), with LABEL_NOISE of the
      labels changed to another class chosen at random (mislabelled rows);
  t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz   the test split, as is;
  labels.csv   for `curate ingest --labels`: every training image's split and
      label: a VAL share forms the validation split with its labels checked
      (kept true, as a team would double-check them); of the rest, an empty
      label for the UNLABELLED share (curate then has no label for them) and
      the noisy IDX label for the others;
  truth.csv    path, split, true class, given class ('' = unlabelled), for
      scoring mislabel detection and pseudo-labels afterwards.
Paths are curate's IDX entry paths, FILE#INDEX.  Everything random comes from
--seed, so the same seed gives the same files.  Standard library only.
"""
import argparse
import csv
import gzip
import os
import random
import struct

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * (dims - 1), data[8:8 + 4 * (dims - 1)]) if dims > 1 else ()
    header = 4 + 4 * dims
    item = 1
    for d in shape:
        item *= d
    return data[:header], [data[header + i * item: header + (i + 1) * item] for i in range(count)]


def write_idx(path, header, items):
    # the count sits at bytes 4..8 of the header; gzip's mtime 0 keeps the bytes reproducible
    header = header[:4] + struct.pack(">I", len(items)) + header[8:]
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as f:
        f.write(header)
        for it in items:
            f.write(it)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--label-noise", type=float, default=0.2)
    ap.add_argument("--unlabelled", type=float, default=0.5)
    ap.add_argument("--val", type=float, default=0.1)
    ap.add_argument("--cut", default="Shirt,Sandal,Bag", help="classes cut down")
    ap.add_argument("--keep", type=float, default=0.2, help="share of a cut class kept")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    cut = {NAMES.index(c) for c in a.cut.split(",") if c}
    os.makedirs(a.out, exist_ok=True)

    ih, images = read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"))
    lh, labels = read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"))
    kept = [i for i in range(len(images)) if labels[i][0] not in cut or rng.random() < a.keep]
    val = [rng.random() < a.val for _ in kept]
    given = []
    for j, i in enumerate(kept):
        y = labels[i][0]
        if not val[j] and rng.random() < a.label_noise:
            y = rng.choice([c for c in range(len(NAMES)) if c != y])
        given.append(y)
    unlabelled = [not val[j] and rng.random() < a.unlabelled for j in range(len(kept))]
    write_idx(os.path.join(a.out, "train-images-idx3-ubyte.gz"), ih, [images[i] for i in kept])
    write_idx(os.path.join(a.out, "train-labels-idx1-ubyte.gz"), lh, [bytes([y]) for y in given])
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        with open(os.path.join(a.data, name), "rb") as src, open(os.path.join(a.out, name), "wb") as dst:
            dst.write(src.read())

    with open(os.path.join(a.out, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split"])
        for j in range(len(kept)):
            w.writerow([f"train-images-idx3-ubyte.gz#{j}", "" if unlabelled[j] else NAMES[given[j]],
                        "val" if val[j] else "train"])
    with open(os.path.join(a.out, "truth.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "split", "truth", "given"])
        for j, i in enumerate(kept):
            w.writerow([f"train-images-idx3-ubyte.gz#{j}", "val" if val[j] else "train",
                        NAMES[labels[i][0]], "" if unlabelled[j] else NAMES[given[j]]])
    noisy = sum(1 for j, i in enumerate(kept) if not unlabelled[j] and given[j] != labels[i][0])
    print(f"demo data: {len(kept)} training images: {sum(val)} for validation, {sum(unlabelled)} "
          f"unlabelled, {noisy} labelled wrong; classes {a.cut} cut to {a.keep:.0%}; seed {a.seed}")


if __name__ == "__main__":
    main()
