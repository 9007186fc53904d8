#!/usr/bin/env python3
"""audit_copies.py -- seeded modified copies of training images, for scripts/bench/audit.

Usage: audit_copies.py ORIGINALS.tsv SOURCE OUT_DIR SEED PER_MOD [MODS]

ORIGINALS.tsv: one line per candidate training image, "source_path<TAB>class"
(paths inside SOURCE, a tar file or a folder).  For each of the seven
modifications (or MODS, a comma-separated list of
them, where cropNN is any centre crop to NN%) it draws PER_MOD distinct originals (none shared between
modifications, so copies never pair with each other) and writes
OUT_DIR/<class>/<mod>__<n>.<ext>, and OUT_DIR/../copies.tsv:
"copy_path<TAB>modification<TAB>original source_path".  JPEG re-encoding is
saved as JPEG at quality 40; every other copy as PNG, so it carries its
modification and no new compression artefacts.
"""
import io
import os
import random
import sys
import tarfile

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

MODS = ["jpeg40", "resize50", "crop90", "bright115", "hflip", "blur2", "dark15"]


def modify(img, mod):
    w, h = img.size
    if mod == "jpeg40":
        return img
    if mod == "resize50":
        return img.resize((max(1, w // 2), max(1, h // 2)), Image.LANCZOS)
    if mod.startswith("crop"):
        share = int(mod[4:]) / 100
        cw, ch = round(w * share), round(h * share)
        left, top = (w - cw) // 2, (h - ch) // 2
        return img.crop((left, top, left + cw, top + ch))
    if mod == "bright115":
        return ImageEnhance.Brightness(img).enhance(1.15)
    if mod == "hflip":
        return ImageOps.mirror(img)
    if mod == "blur2":
        return img.filter(ImageFilter.GaussianBlur(2))
    if mod == "dark15":
        return ImageEnhance.Brightness(img).enhance(0.15)
    raise ValueError(mod)


def main():
    originals_tsv, source, out_dir, seed, per_mod = sys.argv[1:6]
    per_mod = int(per_mod)
    mods = sys.argv[6].split(",") if len(sys.argv) > 6 and sys.argv[6] else MODS
    rows = [line.rstrip("\n").split("\t") for line in open(originals_tsv, encoding="utf-8") if line.strip()]
    rows.sort()
    rng = random.Random(int(seed))
    picked = rng.sample(rows, min(len(rows), per_mod * len(mods)))
    tar = tarfile.open(source) if os.path.isfile(source) else None
    members = {m.name.lstrip("./"): m for m in tar.getmembers()} if tar else {}
    manifest = []
    for i, (path, cls) in enumerate(picked):
        mod = mods[i % len(mods)]
        data = tar.extractfile(members[path.lstrip("./")]).read() if tar else open(os.path.join(source, path), "rb").read()
        img = modify(Image.open(io.BytesIO(data)).convert("RGB"), mod)
        ext = "jpg" if mod == "jpeg40" else "png"
        rel = f"{cls}/{mod}__{i:05d}.{ext}"
        os.makedirs(os.path.join(out_dir, cls), exist_ok=True)
        if ext == "jpg":
            img.save(os.path.join(out_dir, rel), quality=40)
        else:
            img.save(os.path.join(out_dir, rel))
        manifest.append(f"{rel}\t{mod}\t{path}\n")
    with open(os.path.join(out_dir, "..", "copies.tsv"), "w", encoding="utf-8") as f:
        f.writelines(manifest)


if __name__ == "__main__":
    main()
