#!/usr/bin/env python3
"""demo_score.py -- scores what curate found against the demo data's known truth.

Usage: demo_score.py DB TRUTH_CSV
Reads the database read-only (Python's sqlite3, standard library) and a
truth CSV with columns path (the image's source path), truth (its true
class) and given (the label it was given; empty: none), as demo_data.py and
scripts/bench/pipeline-cifar10 write it, and prints:
  mislabel detection: precision and recall of the newest aum run's flags
      among the labelled training rows (a row is mislabelled when its given
      label differs from the true class);
  pseudo-labels: how many teacher labels count now and how many are right.
"""
import csv
import sqlite3
import sys


def main():
    db_path, truth_path = sys.argv[1], sys.argv[2]
    truth = {}
    with open(truth_path, newline="") as f:
        for row in csv.DictReader(f):
            truth[row["path"]] = row
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    flagged = {p for (p,) in db.execute(
        "SELECT DISTINCT source_path FROM flagged WHERE task = 'label' AND reason IN ('aum', 'confident')")}
    split = dict(db.execute("SELECT source_path, split FROM images WHERE parent_id IS NULL"))
    wrong = {p for p, r in truth.items()
             if split.get(p) == "train" and r["given"] and r["given"] != r["truth"]}
    hit = len(flagged & wrong)
    precision = hit / len(flagged) if flagged else 0.0
    recall = hit / len(wrong) if wrong else 0.0
    print(f"mislabel detection: {len(flagged)} flagged, {len(wrong)} truly mislabelled: "
          f"precision {precision:.3f}, recall {recall:.3f}")
    teacher = db.execute(
        "SELECT i.source_path, cl.class FROM current_labels cl JOIN images i ON i.id = cl.image_id "
        "WHERE cl.source = 'teacher' AND cl.task = 'label' AND i.parent_id IS NULL").fetchall()
    right = sum(1 for p, c in teacher if p in truth and truth[p]["truth"] == c)
    unlabelled = sum(1 for p, r in truth.items() if split.get(p) == "train" and not r["given"])
    share = right / len(teacher) if teacher else 0.0
    print(f"pseudo-labels: {len(teacher)} of {unlabelled} unlabelled images labelled, "
          f"{right} right (precision {share:.3f})")


if __name__ == "__main__":
    main()
