-- 5.sql -- migrates a version 4 database to version 5 (the reviewer's
-- workbench: true undo, and the cells of the confusion matrix).
--
-- Applied in one transaction by cur_store_open when it finds user_version 4;
-- the statements are schema.sql's for the objects version 5 added or changed:
-- table label_retractions (review decisions taken back) and its triggers,
-- view standing_labels, view current_labels (reads standing_labels), and
-- table predictions (the train stage's per-image val and test predictions;
-- empty for runs made before: their confusion cells open no images until
-- train runs again).

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

DROP VIEW current_labels;

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

PRAGMA user_version = 5;
