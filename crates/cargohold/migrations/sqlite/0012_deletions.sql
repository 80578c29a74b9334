-- Deleted crates and versions. A row says which versions went, and whether the
-- crate went with them (its name is then kept for its former owners for a day).
-- `generation` is the index change number the deletion took (`index_state`):
-- other nodes and the git index writer learn from it that a crate whose index
-- file row is gone changed. Keep migrations/postgres/0012_deletions.sql in step.

CREATE TABLE deletions (
    id              INTEGER PRIMARY KEY,
    registry_id     INTEGER NOT NULL REFERENCES registries (id),
    -- The crate's name as first published, and its canonical form.
    name            TEXT    NOT NULL,
    canonical_name  TEXT    NOT NULL,
    -- The versions deleted, separated by spaces.
    versions        TEXT    NOT NULL,
    -- Whether the crate itself is gone (its last version was deleted).
    crate_deleted   BOOLEAN NOT NULL,
    -- Users who owned the crate, directly or through a team, separated by spaces:
    -- they may publish the name again before `deleted_at` + 24 hours.
    former_owners   TEXT    NOT NULL,
    deleted_by      INTEGER REFERENCES users (id),
    reason          TEXT,
    deleted_at      BIGINT  NOT NULL,
    generation      BIGINT  NOT NULL
);
CREATE INDEX deletions_name ON deletions (registry_id, canonical_name, deleted_at);
CREATE INDEX deletions_generation ON deletions (generation);
