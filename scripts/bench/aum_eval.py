#!/usr/bin/python3
"""aum_eval.py -- scores the aum stage's flags against CIFAR-10N's clean labels.

Reads the newest aum run of a curate database that finished task TASK
(default `label`: the noisy labels; task `clean` holds the clean ones, train
split), and prints precision, recall, F1 and AUROC of each method's flags
against "the noisy label differs from the clean one".  Writes the flagged
image ids of each method to OUT/flagged-TASK-<method>.txt for bench_aum.

    aum_eval.py curate.db OUT [TASK]
"""
import sqlite3
import sys


def auroc(scores, positive):
    """Area under the ROC curve: the Mann-Whitney U statistic, ties averaged."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        i = j + 1
    npos = sum(positive)
    nneg = len(positive) - npos
    rank_sum = sum(r for r, p in zip(ranks, positive) if p)
    return (rank_sum - npos * (npos + 1) / 2) / (npos * nneg)


def main(db_path, out, task):
    db = sqlite3.connect(db_path)
    # the metric <task>.rows marks a task done (docs/stages/aum.md), even while later tasks run
    run = db.execute("SELECT max(m.run_id) FROM metrics m JOIN runs r ON r.id = m.run_id "
                     "WHERE r.stage = 'aum' AND m.name = ?", (f"{task}.rows",)).fetchone()[0]
    if run is None:
        sys.exit(f"aum_eval.py: {db_path}: no aum run has finished task {task}")
    threshold = db.execute("SELECT value FROM metrics WHERE run_id = ? AND name = ?",
                           (run, f"{task}.aum_threshold")).fetchone()[0]
    rows = db.execute("""
        SELECT a.image_id, a.value, c.value, c.suggested_class_id, n.class_id, n.class, k.class
        FROM scores a LEFT JOIN scores c ON c.run_id = a.run_id AND c.image_id = a.image_id
             AND c.task_id = a.task_id AND c.kind = 'confident'
        JOIN current_labels n ON n.image_id = a.image_id AND n.task_id = a.task_id
        JOIN current_labels k ON k.image_id = a.image_id AND k.task = 'clean'
        WHERE a.run_id = ? AND a.kind = 'aum' AND n.task = ? ORDER BY a.image_id""", (run, task)).fetchall()
    ids = [r[0] for r in rows]
    noisy = [r[5] != r[6] for r in rows]
    aum_flag = [r[1] < threshold for r in rows]
    conf_flag = [r[3] is not None and r[3] != r[4] for r in rows]
    # a row's rank among all rows, 0..1, for each score: "both" averages them
    def rank01(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        for pos, i in enumerate(order):
            r[i] = pos / (len(v) - 1)
        return r
    methods = {"aum": (aum_flag, [-r[1] for r in rows])}
    if rows[0][2] is not None:  # mode both: confident learning and the combinations too
        ra, rc = rank01([-r[1] for r in rows]), rank01([-r[2] for r in rows])
        methods["confident"] = (conf_flag, [-r[2] for r in rows])
        methods["both agree"] = ([a and c for a, c in zip(aum_flag, conf_flag)], [a + c for a, c in zip(ra, rc)])
        methods["either"] = ([a or c for a, c in zip(aum_flag, conf_flag)], [a + c for a, c in zip(ra, rc)])
    print(f"{len(rows)} training rows, {sum(noisy)} noisy ({100 * sum(noisy) / len(rows):.1f}%), "
          f"AUM threshold {threshold:.3f}")
    print(f"{'method':<12} {'flagged':>8} {'precision':>10} {'recall':>8} {'F1':>6} {'AUROC':>6}")
    for name, (flag, score) in methods.items():
        tp = sum(f and n for f, n in zip(flag, noisy))
        p = tp / max(1, sum(flag))
        r = tp / max(1, sum(noisy))
        f1 = 2 * p * r / max(1e-12, p + r)
        print(f"{name:<12} {sum(flag):>8} {p:>10.3f} {r:>8.3f} {f1:>6.3f} {auroc(score, noisy):>6.3f}")
        with open(f"{out}/flagged-{task}-{name.replace(' ', '-')}.txt", "w") as f:
            f.write("".join(f"{i}\n" for i, fl in zip(ids, flag) if fl))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "label")
