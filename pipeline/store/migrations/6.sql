-- 6.sql -- migrates a version 5 database to version 6 (the audit's pHash views).
--
-- Applied in one transaction by cur_store_open when it finds user_version 5.
-- image_stats held one centre-crop hash beside the whole image's; it now
-- holds the hashes of the mirror and of five centre crops (schema.sql).  Its
-- rows depend on the image bytes only, so they are dropped and the next
-- audit run measures every image again.

DROP TABLE image_stats;

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

PRAGMA user_version = 6;
