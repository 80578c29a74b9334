-- Leases on periodic background work (proxy cache eviction), so that of several nodes
-- sharing the database exactly one does each piece: a node holds `name` until
-- `expires_at` (Unix seconds) and may renew it; anyone may take it after that. Keep
-- migrations/sqlite/0009_leases.sql in step.

CREATE TABLE leases (
    name          TEXT    PRIMARY KEY,
    holder        TEXT    NOT NULL,
    expires_at    BIGINT  NOT NULL
);
