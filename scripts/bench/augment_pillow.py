#!/usr/bin/python3
"""augment_pillow.py -- Pillow baseline for scripts/bench/augment.

Usage: augment_pillow.py TAR PARAMS VARIANTS PROCESSES

Makes the same variants as bench_augment: PARAMS has one line per job
("angle_deg tx_frac ty_frac scale hflip", job j = image j // VARIANTS in
archive order) as written by bench_augment --params.  Like bench_augment,
each image is decoded once for all its variants; each variant is one
Image.transform(AFFINE, BILINEAR) with black fill, then a JPEG encode at the
same quality and 4:2:0 chroma.  PROCESSES worker processes share the images
(multiprocessing, fork); only the variant loop is timed.
"""
import io
import math
import multiprocessing
import sys
import tarfile
import time

from PIL import Image

JPEG_QUALITY = 90  # CUR_AUGMENT_JPEG_QUALITY
IMAGES = []        # filled before the pool forks, shared copy-on-write
JOBS = []          # per image, the geometry of each of its variants


def inverse_affine(p, w, h):
    """Pillow wants the output->input map in pixel-area coordinates (pixel i
    covers [i, i+1)), where the centre is (w/2, h/2).  The forward map is
    X = c + A (x - c) + s d with A = s R F (see augment_transform.c), so the
    inverse is x = c + A^-1 (X - c - s d)."""
    angle, tx, ty, s, flip = p
    t = math.radians(angle)
    fx = -1.0 if flip else 1.0
    a00, a01 = s * math.cos(t) * fx, s * math.sin(t)
    a10, a11 = -s * math.sin(t) * fx, s * math.cos(t)
    det = a00 * a11 - a01 * a10
    i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    cx, cy = w / 2.0, h / 2.0
    ox, oy = cx + s * tx * w, cy + s * ty * h
    return (i00, i01, cx - i00 * ox - i01 * oy, i10, i11, cy - i10 * ox - i11 * oy)


def make_variants(image_index):
    """The variants of one image from one decode; their total encoded size."""
    img = Image.open(io.BytesIO(IMAGES[image_index]))
    img.load()
    size = 0
    for p in JOBS[image_index]:
        out = img.transform(img.size, Image.AFFINE, inverse_affine(p, *img.size),
                            resample=Image.BILINEAR)
        buf = io.BytesIO()
        out.save(buf, format=img.format, quality=JPEG_QUALITY, subsampling=2)
        size += buf.tell()
    return size


def main():
    tar_path, params_path, variants, procs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with tarfile.open(tar_path) as tar:
        for member in tar:
            if member.isfile() and member.size > 0:
                IMAGES.append(tar.extractfile(member).read())
    with open(params_path) as f:
        lines = f.readlines()
    if len(lines) != len(IMAGES) * variants:
        sys.exit(f"pillow: {params_path}: {len(lines)} jobs for {len(IMAGES)} images x {variants}")
    for i in range(len(IMAGES)):
        geometry = []
        for line in lines[i * variants:(i + 1) * variants]:
            angle, tx, ty, s, flip = line.split()
            geometry.append((float(angle), float(tx), float(ty), float(s), flip == "1"))
        JOBS.append(geometry)
    with multiprocessing.Pool(procs) as pool:
        pool.map(make_variants, range(procs), chunksize=1)  # start the workers
        t0 = time.monotonic()
        sizes = pool.map(make_variants, range(len(IMAGES)), chunksize=8)
        secs = time.monotonic() - t0
    n = len(IMAGES) * variants
    print(f"pillow: {n} variants of {len(IMAGES)} images in {secs:.3f} s on {procs} processes"
          f" = {n / secs:.1f} variants/s (fill black, {sum(sizes) / 1024.0 / n:.1f} KiB per variant)")


if __name__ == "__main__":
    main()
