-- Proxy registries: the index files of the upstream, as last fetched. The served file is
-- derived from `content` (policy filters apply at serving time). Cached `.crate` files are
-- ordinary versions of the proxy registry. Keep migrations/postgres/0005_proxy.sql in step.

CREATE TABLE upstream_index_files (
    registry_id     INTEGER NOT NULL REFERENCES registries (id),
    -- The lowercase crate name, as in the index path.
    name_lower      TEXT    NOT NULL,
    -- Whether the upstream has this crate; a 404 is remembered too (cargo probes names).
    found           BOOLEAN NOT NULL,
    -- The upstream's body, byte for byte ('' when not found).
    content         TEXT    NOT NULL,
    -- The upstream's validators, sent back when revalidating.
    upstream_etag           TEXT,
    upstream_last_modified  TEXT,
    -- When the upstream last confirmed this content (freshness counts from here).
    fetched_at      INTEGER NOT NULL,
    -- When the content last changed (our Last-Modified).
    changed_at      INTEGER NOT NULL,
    PRIMARY KEY (registry_id, name_lower)
);
