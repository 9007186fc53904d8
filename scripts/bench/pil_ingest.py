#!/usr/bin/python3
"""pil_ingest.py -- the baseline for scripts/bench/ingest: a plain Python loop that
reads every image under a folder, hashes it, decodes it with Pillow and inserts
it into SQLite (WAL, 256 rows per transaction), as curate's ingest does.

Usage: pil_ingest.py FOLDER DATABASE
"""
import hashlib
import io
import os
import sqlite3
import sys

from PIL import Image

folder, db_path = sys.argv[1], sys.argv[2]
db = sqlite3.connect(db_path)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=NORMAL")
db.execute("CREATE TABLE images(id INTEGER PRIMARY KEY, sha256 TEXT UNIQUE, bytes BLOB, "
           "format TEXT, width INT, height INT, path TEXT, label TEXT)")
paths = []
for root, dirs, files in os.walk(folder):
    dirs.sort()
    paths.extend(os.path.join(root, f) for f in sorted(files) if f.lower().endswith((".jpg", ".png")))
batch = []
for path in paths:
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    img = Image.open(io.BytesIO(data))
    img.load()
    rel = os.path.relpath(path, folder)
    batch.append((digest, data, img.format, img.width, img.height, rel, rel.split(os.sep)[-2]))
    if len(batch) == 256:
        with db:
            db.executemany("INSERT OR IGNORE INTO images(sha256, bytes, format, width, height, path, "
                           "label) VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
        batch = []
with db:
    db.executemany("INSERT OR IGNORE INTO images(sha256, bytes, format, width, height, path, label) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
print(len(paths))
