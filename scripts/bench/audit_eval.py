#!/usr/bin/env python3
"""audit_eval.py -- near-duplicate, leak, blur and darkness detection of the newest audit run, per modification.

Usage: audit_eval.py DB COPIES.tsv COPIES_SOURCE_PREFIX

A copy counts as found as a near-duplicate when duplicate_pairs joins it to
its original; near-duplicate precision of a modification is the share of
the pairs touching its copies that join a copy to its own original.  A leak
flag on a copy is right when its detail names the original ("train image
<id> "); recall is right leak flags over copies, precision right over all
leak flags on its copies.  Blur and darkness: recall of the blurry (dark)
flag on blur2 (dark15) copies, and the share of untouched originals (those
no copy was made from) flagged, the false-positive rate.
"""
import sqlite3
import sys
from collections import defaultdict


def main():
    db, copies_tsv, prefix = sys.argv[1:4]
    con = sqlite3.connect(db)
    run = con.execute("SELECT max(id) FROM runs WHERE stage = 'audit' AND status = 'complete'").fetchone()[0]
    copy_src = con.execute("SELECT id FROM sources WHERE uri LIKE ?", ("%" + prefix,)).fetchone()[0]
    ids = {}
    for img, path, src in con.execute("SELECT id, source_path, source_id FROM images"):
        ids[(src == copy_src, path)] = img
    copies = []
    for line in open(copies_tsv, encoding="utf-8"):
        rel, mod, orig = line.rstrip("\n").split("\t")
        c, o = ids.get((True, rel)), ids.get((False, orig))
        if c is None or o is None:
            print(f"audit_eval: {rel} or {orig} not in the database", file=sys.stderr)
            continue
        copies.append((c, mod, o))
    copy_ids = {c for c, _, _ in copies}
    origin = {c: o for c, _, o in copies}
    pairs = defaultdict(set)
    for a, b in con.execute("SELECT image_a, image_b FROM duplicate_pairs WHERE run_id = ?", (run,)):
        pairs[a].add(b)
        pairs[b].add(a)
    flags = defaultdict(dict)
    for img, reason, detail in con.execute(
            "SELECT DISTINCT image_id, reason, detail FROM flags WHERE run_id = ?", (run,)):
        flags[reason][img] = detail or ""
    by_mod = defaultdict(list)
    for c, mod, o in copies:
        by_mod[mod].append((c, o))
    print(f"{'modification':<12} {'copies':>6} {'dup recall':>10} {'dup prec':>8} {'leak recall':>11} "
          f"{'leak prec':>9} {'blurry':>7} {'dark':>6}")
    for mod, rows in by_mod.items():
        n = len(rows)
        found = sum(o in pairs[c] for c, o in rows)
        touching = sum(len(pairs[c]) for c, _ in rows)
        leak_right = sum(c in flags["leak"] and f"train image {o} " in flags["leak"][c] for c, o in rows)
        leak_all = sum(c in flags["leak"] for c, _ in rows)
        blurry = sum(c in flags["blurry"] for c, _ in rows)
        dark = sum(c in flags["dark"] for c, _ in rows)
        prec = lambda a, b: f"{a / b:.3f}" if b else "-"
        print(f"{mod:<12} {n:>6} {found / n:>10.3f} {prec(found, touching):>8} {leak_right / n:>11.3f} "
              f"{prec(leak_right, leak_all):>9} {blurry / n:>7.3f} {dark / n:>6.3f}")
    used = set(origin.values())
    untouched = [img for (is_copy, _), img in ids.items() if not is_copy and img not in used]
    status = dict(con.execute("SELECT id, status FROM images"))
    untouched = [i for i in untouched if status[i] == "ok"]
    for reason in ["blurry", "dark", "bright", "low_information", "near_duplicate", "leak", "outlier"]:
        fp = sum(i in flags[reason] for i in untouched)
        print(f"untouched originals flagged {reason}: {fp} of {len(untouched)} ({fp / max(1, len(untouched)):.4f})")


if __name__ == "__main__":
    main()
