-- 7.sql -- migrates a version 6 database to version 7 (box crops' scenes found by index).
--
-- Applied in one transaction by cur_store_open when it finds user_version 6.
-- A box crop (ingest --boxes) names the image it was cut from in its
-- transform; the stages that label or train on unlabelled images leave such
-- scenes out, and look them up through this index (schema.sql).

CREATE INDEX images_crop_scene ON images(json_extract(transform, '$.crop.parent'))
  WHERE parent_id IS NULL AND transform IS NOT NULL;

PRAGMA user_version = 7;
