-- 4.sql -- migrates a version 3 database to version 4 (the audit stage).
--
-- Applied in one transaction by cur_store_open when it finds user_version 3;
-- the statements are schema.sql's for the objects version 4 added or changed:
-- tables image_stats, duplicate_pairs, duplicate_members, view
-- duplicate_groups; views flagged (the newest complete audit run's flags)
-- and training_labels (audit flags hold no row back); and runs.inputs (the
-- versions of what each run read; NULL for runs made before, which
-- `curate status` says once, when such a stage is pending).

DROP VIEW training_labels;
DROP VIEW flagged;

CREATE VIEW flagged AS
SELECT f.image_id, i.source_path, t.name AS task, cl.class AS label, sc.name AS suggested,
       f.reason, f.score, f.review_status, f.detail, f.task_id, f.run_id, f.id AS flag_id
FROM flags f
JOIN runs r ON r.id = f.run_id
JOIN images i ON i.id = f.image_id
JOIN tasks t ON t.id = f.task_id
LEFT JOIN current_labels cl ON cl.image_id = f.image_id AND cl.task_id = f.task_id
LEFT JOIN classes sc ON sc.id = f.suggested_class_id
WHERE (r.stage <> 'aum' AND r.stage <> 'audit')
   OR f.run_id = (SELECT max(id) FROM runs WHERE stage = r.stage AND status = 'complete');

CREATE VIEW training_labels AS
SELECT cl.image_id, cl.task_id, cl.task, cl.class_id, cl.class, cl.source
FROM current_labels cl
WHERE cl.class_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM flagged f JOIN runs r ON r.id = f.run_id
                  WHERE f.image_id = cl.image_id AND f.task_id = cl.task_id
                  AND f.review_status = 'pending' AND r.stage <> 'audit');

CREATE TABLE image_stats(
  image_id INTEGER PRIMARY KEY REFERENCES images(id),
  phash INTEGER NOT NULL,             -- 64-bit DCT perceptual hash (two's complement)
  phash_centre INTEGER NOT NULL,      -- the same of the central 85% of each side
  sharpness REAL NOT NULL,            -- variance of the Laplacian of grey
  sharpness_reblur REAL NOT NULL,     -- the same after a binomial blur of sigma 1
  bright_p01 REAL NOT NULL,           -- 1st percentile of perceived brightness, 0..255
  bright_p99 REAL NOT NULL,           -- 99th percentile
  entropy REAL NOT NULL,              -- grey-level entropy, bits
  colourfulness REAL NOT NULL,        -- Hasler & Suesstrunk's M, 0 for grey
  run_id INTEGER NOT NULL REFERENCES runs(id)
);

CREATE TABLE duplicate_pairs(
  run_id INTEGER NOT NULL REFERENCES runs(id),
  image_a INTEGER NOT NULL REFERENCES images(id),
  image_b INTEGER NOT NULL REFERENCES images(id),
  cosine REAL,
  hash_distance INTEGER NOT NULL,
  PRIMARY KEY (run_id, image_a, image_b)
) WITHOUT ROWID;

CREATE TABLE duplicate_members(
  run_id INTEGER NOT NULL REFERENCES runs(id),
  image_id INTEGER NOT NULL REFERENCES images(id),
  group_id INTEGER NOT NULL REFERENCES images(id),
  PRIMARY KEY (run_id, image_id)
) WITHOUT ROWID;

CREATE VIEW duplicate_groups AS
SELECT m.group_id, count(*) AS images,
       SUM(i.split = 'train') AS train, SUM(i.split = 'val') AS val, SUM(i.split = 'test') AS test,
       count(DISTINCT i.split) AS splits,
       group_concat(m.image_id, ' ') AS members
FROM (SELECT * FROM duplicate_members
      WHERE run_id = (SELECT max(id) FROM runs WHERE stage = 'audit' AND status = 'complete')
      ORDER BY image_id) m
JOIN images i ON i.id = m.image_id
GROUP BY m.group_id;

ALTER TABLE runs ADD COLUMN inputs TEXT;

PRAGMA user_version = 4;
