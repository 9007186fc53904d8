-- schema.sql -- the whole curate database schema (docs/schema.md explains it).
--
-- Applied by `curate init`; the version is PRAGMA user_version and the
-- command refuses a database of another version.  Invariants:
--   1. labels are history: rows are only ever inserted (a trigger enforces it);
--      a review decision taken back gets a label_retractions row, never an
--      edit; the current label of an image and task is derived by current_labels.
--   2. every row a stage writes carries the run that wrote it (runs.id).
--   3. images.sha256 is unique: one row per distinct content, and every path
--      that produced it is listed in source_entries.
--   4. times are UTC ISO-8601 text; they are the only columns that differ
--      between a run that was killed and resumed and one that was not.
-- Value lists in CHECK constraints are written as OR chains: SQLite checks
-- `x IN (a, b, c)` by filling a small temporary index every time, and that
-- was 40% of the instructions ingest's recording thread spent.

CREATE TABLE runs(
  id INTEGER PRIMARY KEY,
  stage TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status = 'running' OR status = 'interrupted'
                              OR status = 'failed' OR status = 'complete'),
  config_hash TEXT NOT NULL,          -- sha256 of the stage's options and the seed
  input_fingerprint TEXT NOT NULL,    -- sha256 of what the stage read (see docs/architecture.md)
  seed INTEGER NOT NULL,
  config TEXT NOT NULL,               -- the stage's options as JSON
  counts TEXT,                        -- JSON object of stage-specific counts
  message TEXT,                       -- why it failed or stopped
  started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  finished_at TEXT,
  seconds REAL,
  inputs TEXT                         -- JSON: the version of each input the fingerprint hashes
);
CREATE INDEX runs_stage ON runs(stage, id);

CREATE TABLE sources(
  id INTEGER PRIMARY KEY,
  uri TEXT NOT NULL UNIQUE,           -- absolute path of the folder, archive or IDX file
  kind TEXT NOT NULL CHECK (kind = 'folder' OR kind = 'archive' OR kind = 'idx'),
  options TEXT NOT NULL DEFAULT '{}', -- per-source ingest options as JSON
  -- what the newest ingest that read it found: new (not read yet), ok (read
  -- to the end), failed (cannot be opened or read to the end: state_reason),
  -- missing (the path is gone: moved or deleted)
  state TEXT NOT NULL DEFAULT 'new' CHECK (state = 'new' OR state = 'ok' OR state = 'failed'
                                           OR state = 'missing'),
  state_reason TEXT,
  added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE images(
  id INTEGER PRIMARY KEY,
  sha256 TEXT NOT NULL UNIQUE,        -- of the encoded bytes, lower-case hex
  bytes BLOB NOT NULL,                -- the encoded file as it was read (a quarantined row:
                                      -- its first ingest.keep_quarantined_bytes)
  byte_size INTEGER NOT NULL,         -- of the whole file
  format TEXT,                        -- jpeg, png, webp, ... ; NULL when not an image
  width INTEGER,
  height INTEGER,
  bands INTEGER,
  source_id INTEGER REFERENCES sources(id),
  source_path TEXT NOT NULL,          -- first path that produced it, inside its source
  split TEXT NOT NULL CHECK (split = 'train' OR split = 'val' OR split = 'test'),
  -- who chose the split of an original row: the source (a split folder or
  -- column, IDX file names), the split stage, or nobody yet (ingest's
  -- placeholder 'train' until the split stage runs); NULL on derived rows,
  -- which follow their parent
  split_source TEXT CHECK (split_source = 'pinned' OR split_source = 'stratified'
                           OR split_source = 'provisional'),
  group_key TEXT,                     -- rows sharing it always share a split
  parent_id INTEGER REFERENCES images(id),  -- set on derived (augmented) rows
  transform TEXT,                     -- exact transform parameters (JSON) of a derived row
  status TEXT NOT NULL DEFAULT 'ok' CHECK (status = 'ok' OR status = 'quarantined'),
  status_reason TEXT,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX images_split ON images(split, status);
CREATE INDEX images_parent ON images(parent_id);
-- The scene each box crop (an original row whose transform is {"crop": ...},
-- ingest --boxes) was cut from: pseudolabel, prelabel and UDA leave scenes
-- out of the unlabelled images they label or train on.
CREATE INDEX images_crop_scene ON images(json_extract(transform, '$.crop.parent'))
  WHERE parent_id IS NULL AND transform IS NOT NULL;

-- Every entry ingest saw, and what became of it.
CREATE TABLE source_entries(
  source_id INTEGER NOT NULL REFERENCES sources(id),
  path TEXT NOT NULL,                 -- inside the source; invalid UTF-8 bytes written as \xNN
  image_id INTEGER REFERENCES images(id),   -- NULL when rejected
  outcome TEXT NOT NULL CHECK (outcome = 'ingested' OR outcome = 'duplicate'
                               OR outcome = 'quarantined' OR outcome = 'rejected'),
  reason TEXT,
  -- 1 when the outcome depended on options or the file system (over
  -- max_file_bytes or max_pixels, unreadable, a link), not on the bytes:
  -- re-ingest reads the entry again
  retry INTEGER NOT NULL DEFAULT 0,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  PRIMARY KEY (source_id, path)
);

CREATE TABLE tasks(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE           -- an attribute labelled per image; default 'label'
);

CREATE TABLE classes(
  id INTEGER PRIMARY KEY,
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  idx INTEGER NOT NULL,               -- 0-based index within the task, stable
  name TEXT NOT NULL,
  UNIQUE (task_id, name),
  UNIQUE (task_id, idx)
);

CREATE TABLE labels(
  id INTEGER PRIMARY KEY,
  image_id INTEGER NOT NULL REFERENCES images(id),
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  class_id INTEGER REFERENCES classes(id),  -- NULL only for a review that dropped the row
  source TEXT NOT NULL CHECK (source = 'human' OR source = 'zeroshot'
                              OR source = 'teacher' OR source = 'review'),
  confidence REAL,
  run_id INTEGER REFERENCES runs(id),       -- NULL for decisions recorded by `curate review`
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK (class_id IS NOT NULL OR source = 'review')
);
CREATE INDEX labels_image_task ON labels(image_id, task_id);
CREATE TRIGGER labels_are_history BEFORE UPDATE ON labels
BEGIN
  SELECT RAISE(ABORT, 'labels are history: insert a new label instead');
END;

CREATE TABLE embeddings(
  image_id INTEGER NOT NULL REFERENCES images(id),
  model TEXT NOT NULL,                -- model key: CLIP checkpoint id or feature extractor id
  dim INTEGER NOT NULL,
  vector BLOB NOT NULL,               -- dim IEEE half floats, little-endian
  run_id INTEGER NOT NULL REFERENCES runs(id),
  PRIMARY KEY (model, image_id)
) WITHOUT ROWID;

-- Learned state a stage keeps: k-means dictionaries, cached text embeddings.
CREATE TABLE model_blobs(
  key TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  config TEXT NOT NULL,
  data BLOB NOT NULL,
  run_id INTEGER NOT NULL REFERENCES runs(id)
);

CREATE TABLE scores(
  run_id INTEGER NOT NULL REFERENCES runs(id),
  kind TEXT NOT NULL,                 -- aum, confident, zeroshot_prob, ...
  image_id INTEGER NOT NULL REFERENCES images(id),
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  value REAL NOT NULL,
  suggested_class_id INTEGER REFERENCES classes(id),
  PRIMARY KEY (run_id, kind, image_id, task_id)
);

CREATE TABLE flags(
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  reason TEXT NOT NULL,               -- aum, confident, zeroshot_disagree, duplicate_conflict
  image_id INTEGER NOT NULL REFERENCES images(id),
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  score REAL,                         -- lower = more likely wrong, per reason
  suggested_class_id INTEGER REFERENCES classes(id),
  detail TEXT,
  review_status TEXT NOT NULL DEFAULT 'pending'
    CHECK (review_status = 'pending' OR review_status = 'accepted'
           OR review_status = 'dropped' OR review_status = 'relabelled'),
  UNIQUE (run_id, reason, image_id, task_id)
);
CREATE INDEX flags_image ON flags(image_id, task_id);

CREATE TABLE manifests(
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  format TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  rows INTEGER NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE metrics(
  run_id INTEGER NOT NULL REFERENCES runs(id),
  name TEXT NOT NULL,
  value REAL,
  text TEXT,
  PRIMARY KEY (run_id, name)
);

-- Review decisions taken back (`curate review --undo`, `u` in `curate serve`):
-- the label row stays in the history, this row says it no longer counts.
-- Only ever inserted, like labels; only a review label can be retracted.
CREATE TABLE label_retractions(
  label_id INTEGER PRIMARY KEY REFERENCES labels(id),  -- the review label taken back
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TRIGGER label_retractions_are_history BEFORE UPDATE ON label_retractions
BEGIN
  SELECT RAISE(ABORT, 'retractions are history: insert a new row instead');
END;
CREATE TRIGGER label_retractions_of_reviews BEFORE INSERT ON label_retractions
WHEN (SELECT source FROM labels WHERE id = NEW.label_id) IS NOT 'review'
BEGIN
  SELECT RAISE(ABORT, 'only a review label can be retracted');
END;

-- The labels that stand: every label row but the retracted ones.
CREATE VIEW standing_labels AS
SELECT * FROM labels l
WHERE NOT EXISTS (SELECT 1 FROM label_retractions r WHERE r.label_id = l.id);

-- One current label per image and task: review > human > teacher > zeroshot,
-- the newest standing row within a source.  class is NULL where a review
-- dropped it.  A pseudolabel run decides afresh which images get a teacher
-- label, so the teacher labels of its earlier runs no longer count (labels a
-- variant inherited from its parent carry the augment run and stay).
CREATE VIEW current_labels AS
SELECT image_id, task_id, task, class_id, class, source, confidence, run_id, label_id
FROM (
  SELECT l.image_id, l.task_id, t.name AS task, l.class_id, c.name AS class,
         l.source, l.confidence, l.run_id, l.id AS label_id,
         ROW_NUMBER() OVER (
           PARTITION BY l.image_id, l.task_id
           ORDER BY CASE l.source WHEN 'review' THEN 0 WHEN 'human' THEN 1
                                  WHEN 'teacher' THEN 2 ELSE 3 END,
                    l.id DESC) AS rank
  FROM standing_labels l
  JOIN tasks t ON t.id = l.task_id
  LEFT JOIN classes c ON c.id = l.class_id
  WHERE l.source <> 'teacher'
     OR l.run_id = (SELECT max(id) FROM runs WHERE stage = 'pseudolabel' AND status = 'complete')
     OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = l.run_id AND r.stage = 'pseudolabel'))
WHERE rank = 1;

-- Images per task, split and class among ok rows with a current label.
CREATE VIEW class_balance AS
SELECT cl.task, i.split, cl.class,
       COUNT(*) AS images,
       SUM(i.parent_id IS NULL) AS originals,
       SUM(i.parent_id IS NOT NULL) AS derived
FROM current_labels cl
JOIN images i ON i.id = cl.image_id
WHERE i.status = 'ok' AND cl.class_id IS NOT NULL
GROUP BY cl.task, i.split, cl.class;

-- Per task and class, what a balance run decided (docs/stages/balance.md).
CREATE TABLE balance_classes(
  run_id INTEGER NOT NULL REFERENCES runs(id),  -- the balance run
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  class_id INTEGER NOT NULL REFERENCES classes(id),
  before INTEGER NOT NULL,            -- eligible original rows in the split
  target INTEGER NOT NULL,            -- rows the class should have
  kept INTEGER NOT NULL,              -- originals kept (before, or target when undersampled)
  variants INTEGER NOT NULL,          -- augmented variants scheduled (capped per source)
  after INTEGER NOT NULL,             -- kept + variants
  weight REAL NOT NULL,               -- weight of each of its training rows
  PRIMARY KEY (run_id, task_id, class_id)
) WITHOUT ROWID;

-- The original rows a balance run keeps for training, one per task and image.
CREATE TABLE training_set(
  run_id INTEGER NOT NULL REFERENCES runs(id),  -- the balance run
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  image_id INTEGER NOT NULL REFERENCES images(id),
  class_id INTEGER NOT NULL REFERENCES classes(id),
  weight REAL NOT NULL,
  PRIMARY KEY (run_id, task_id, image_id)
) WITHOUT ROWID;

-- Variants a balance run scheduled: parent image and variant index (which,
-- with the augment run's seed, fixes the transform).  One variant image may
-- serve several tasks: the plan holds one row per task it was scheduled for.
CREATE TABLE augment_plan(
  run_id INTEGER NOT NULL REFERENCES runs(id),  -- the balance run
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  parent_id INTEGER NOT NULL REFERENCES images(id),
  variant INTEGER NOT NULL,           -- 0-based per parent
  class_id INTEGER NOT NULL REFERENCES classes(id),
  PRIMARY KEY (run_id, parent_id, variant, task_id)
) WITHOUT ROWID;

-- What an augment run made of each planned (parent, variant).
CREATE TABLE augment_variants(
  run_id INTEGER NOT NULL REFERENCES runs(id),       -- the augment run
  plan_run_id INTEGER NOT NULL REFERENCES runs(id),  -- the balance run whose plan it read
  parent_id INTEGER NOT NULL REFERENCES images(id),
  variant INTEGER NOT NULL,
  image_id INTEGER REFERENCES images(id),   -- the variant's row; NULL when it failed
  outcome TEXT NOT NULL CHECK (outcome = 'made' OR outcome = 'reused'
                               OR outcome = 'failed'),
  reason TEXT,                        -- reused: whose bytes it equals; failed: why
  PRIMARY KEY (run_id, parent_id, variant)
) WITHOUT ROWID;

-- The balanced training set in force: the newest complete balance run's kept
-- rows, plus the variants the newest complete augment run made for its plan.
CREATE VIEW training_rows AS
WITH b AS (SELECT max(id) AS id FROM runs WHERE stage = 'balance' AND status = 'complete'),
     a AS (SELECT max(id) AS id FROM runs WHERE stage = 'augment' AND status = 'complete')
SELECT t.task_id, t.image_id, t.class_id, t.weight, 0 AS derived
FROM training_set t JOIN b ON t.run_id = b.id
UNION ALL
SELECT p.task_id, v.image_id, p.class_id, bc.weight, 1 AS derived
FROM augment_plan p JOIN b ON p.run_id = b.id
JOIN augment_variants v ON v.plan_run_id = p.run_id AND v.parent_id = p.parent_id
                        AND v.variant = p.variant
JOIN a ON v.run_id = a.id
JOIN balance_classes bc ON bc.run_id = p.run_id AND bc.task_id = p.task_id
                       AND bc.class_id = p.class_id
WHERE v.image_id IS NOT NULL;

-- What a policy run (docs/stages/policy.md) tried, in order, per task: each
-- automatic decision trained the same head with and without it and kept it
-- only where validation macro-F1 did not fall by more than the tolerance.
CREATE TABLE policy_decisions(
  run_id INTEGER NOT NULL REFERENCES runs(id),  -- the policy run
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  step INTEGER NOT NULL,              -- 0: the raw-label baseline, then each decision
  decision TEXT NOT NULL,             -- raw, drop_flagged, pseudolabels, balance, ema, multitask, uda
  rows INTEGER NOT NULL,              -- training rows with the decision applied
  changed INTEGER NOT NULL,           -- rows the decision removes, adds or re-weights
  macro_f1 REAL,                      -- held-out macro-F1 with it (NULL: not measured)
  before_f1 REAL,                     -- held-out macro-F1 of the set it was tried on
  low_delta REAL,                     -- 5th percentile of macro_f1 - before_f1 over paired
                                      -- bootstrap resamples of the held-out rows
  kept INTEGER NOT NULL,              -- 1 when applied
  method TEXT NOT NULL,               -- val (the val split) or cvN (N folds of train)
  why TEXT NOT NULL,                  -- one line: how it was decided
  PRIMARY KEY (run_id, task_id, step)
) WITHOUT ROWID;

-- The training rows a policy run chose, per task: originals and augmented
-- variants with their weights.  Export takes a task's train rows from here.
CREATE TABLE policy_rows(
  run_id INTEGER NOT NULL REFERENCES runs(id),  -- the policy run
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  image_id INTEGER NOT NULL REFERENCES images(id),
  weight REAL NOT NULL,
  PRIMARY KEY (run_id, task_id, image_id)
) WITHOUT ROWID;

-- Flags for review: the newest complete aum run's (aum, confident), the
-- newest complete audit run's (near_duplicate, leak, outlier and the image
-- quality reasons) and every other stage's (duplicate_conflict, zeroshot_disagree).  `label` is the
-- current class (after any review), `suggested` the flagging stage's class;
-- a lower score means more likely wrong, so `curate flagged` sorts by it.
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

-- The labels later stages train on: current labels with a class, except rows
-- with a pending flag in `flagged`.  Accepted rows stay, relabelled rows carry
-- the review label, dropped rows have no class.  The audit stage's flags
-- (image quality, near-duplicates, leaks) do not hold rows back: they are
-- for review, and the policy's drop_flagged decision tries without them.
CREATE VIEW training_labels AS
SELECT cl.image_id, cl.task_id, cl.task, cl.class_id, cl.class, cl.source
FROM current_labels cl
WHERE cl.class_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM flagged f JOIN runs r ON r.id = f.run_id
                  WHERE f.image_id = cl.image_id AND f.task_id = cl.task_id
                  AND f.review_status = 'pending' AND r.stage <> 'audit');

-- What the audit stage measured of each ok original image, once per image
-- (the values depend on the bytes only): docs/stages/audit.md.
CREATE TABLE image_stats(
  image_id INTEGER PRIMARY KEY REFERENCES images(id),
  phash INTEGER NOT NULL,             -- 64-bit DCT perceptual hash (two's complement)
  phash_views BLOB NOT NULL,          -- the same of the mirror and of centre crops to 97, 94,
                                      -- 91, 88, 85, 82% a side: 8 bytes each, little-endian
  sharpness REAL NOT NULL,            -- variance of the Laplacian of grey
  sharpness_reblur REAL NOT NULL,     -- the same after a binomial blur of sigma 1
  bright_p01 REAL NOT NULL,           -- 1st percentile of perceived brightness, 0..255
  bright_p99 REAL NOT NULL,           -- 99th percentile
  entropy REAL NOT NULL,              -- grey-level entropy, bits
  colourfulness REAL NOT NULL,        -- Hasler & Suesstrunk's M, 0 for grey
  run_id INTEGER NOT NULL REFERENCES runs(id)
);

-- Near-duplicate pairs an audit run found (image_a < image_b): cosine of
-- their embeddings (NULL when one has none) and Hamming distance of pHashes.
CREATE TABLE duplicate_pairs(
  run_id INTEGER NOT NULL REFERENCES runs(id),
  image_a INTEGER NOT NULL REFERENCES images(id),
  image_b INTEGER NOT NULL REFERENCES images(id),
  cosine REAL,
  hash_distance INTEGER NOT NULL,
  PRIMARY KEY (run_id, image_a, image_b)
) WITHOUT ROWID;

-- The groups those pairs join (union-find), named by their smallest image id.
CREATE TABLE duplicate_members(
  run_id INTEGER NOT NULL REFERENCES runs(id),
  image_id INTEGER NOT NULL REFERENCES images(id),
  group_id INTEGER NOT NULL REFERENCES images(id),
  PRIMARY KEY (run_id, image_id)
) WITHOUT ROWID;

-- The newest complete audit run's near-duplicate groups: size, splits spanned
-- and members.
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

-- The train stage's prediction for each held-out image its confusion
-- matrices count, per head (curated: the manifest's rows; raw: the raw-label
-- baseline): the cell (true i, predicted j) of a head's val or test matrix
-- holds exactly the rows of that run, head and split with true_class_id i
-- and predicted_class_id j.  The true class is the label the run scored
-- against (a later review does not move a row between cells).
CREATE TABLE predictions(
  run_id INTEGER NOT NULL REFERENCES runs(id),
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  head TEXT NOT NULL CHECK (head = 'curated' OR head = 'raw'),
  image_id INTEGER NOT NULL REFERENCES images(id),
  split TEXT NOT NULL CHECK (split = 'val' OR split = 'test'),
  true_class_id INTEGER NOT NULL REFERENCES classes(id),
  predicted_class_id INTEGER NOT NULL REFERENCES classes(id),
  confidence REAL NOT NULL,           -- the head's probability of the predicted class
  PRIMARY KEY (run_id, task_id, head, image_id)
) WITHOUT ROWID;
CREATE INDEX predictions_cell ON predictions(run_id, head, split, true_class_id,
                                             predicted_class_id);

PRAGMA user_version = 7;
