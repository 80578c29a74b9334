-- `gc` and `check` ask whether any version still names a blob, once per blob:
-- without this index each question reads every version. Keep
-- migrations/sqlite/0007_blob_key_index.sql in step.

CREATE INDEX versions_blob_key ON versions (blob_key);
