-- The first schema of cargohold: registries, users and tokens, crates, versions,
-- owners, the derived index files, download counts and the audit log.
-- Times are Unix seconds (UTC) in both dialects, so cargo's `pubtime` and HTTP
-- dates come straight from them. Keep migrations/postgres/0001_init.sql in step.

CREATE TABLE registries (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    login          TEXT    NOT NULL,
    name           TEXT,
    email          TEXT,
    password_hash  TEXT,
    is_admin       BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_at    INTEGER,
    created_at     INTEGER NOT NULL
);
-- Logins are unique whatever their case, so `Alice` cannot pose as `alice`.
CREATE UNIQUE INDEX users_login_lower ON users (lower(login));

CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    name            TEXT    NOT NULL,
    -- SHA-256 of the token, hex. The token itself is shown once and never stored.
    token_hash      TEXT    NOT NULL UNIQUE,
    -- Comma-separated scopes, crate-name patterns and registry names; empty = any.
    scopes          TEXT    NOT NULL,
    crate_patterns  TEXT    NOT NULL DEFAULT '',
    registries      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    last_used_at    INTEGER,
    revoked_at      INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE crates (
    id              INTEGER PRIMARY KEY,
    registry_id     INTEGER NOT NULL REFERENCES registries (id),
    -- The spelling of the first publish; every later publish must use it.
    name            TEXT    NOT NULL,
    -- lower(name) with `-` as `_`: two names with the same canonical form are one crate.
    canonical_name  TEXT    NOT NULL,
    description     TEXT,
    homepage        TEXT,
    documentation   TEXT,
    repository      TEXT,
    keywords        TEXT    NOT NULL DEFAULT '',
    -- Highest version that is not yanked; NULL when every version is yanked.
    max_version     TEXT,
    downloads       INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (registry_id, canonical_name)
);

CREATE TABLE versions (
    id              INTEGER PRIMARY KEY,
    crate_id        INTEGER NOT NULL REFERENCES crates (id),
    -- The full version, build metadata included (`1.0.0+build.5`).
    num             TEXT    NOT NULL,
    -- Without build metadata: `1.0.0` and `1.0.0+x` cannot coexist in an index.
    num_no_build    TEXT    NOT NULL,
    checksum        TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    -- Where the .crate lives in the blob store; it is content-addressed by checksum.
    blob_key        TEXT    NOT NULL,
    yanked          BOOLEAN NOT NULL DEFAULT FALSE,
    -- The exact line served in the index (its `yanked` kept in step with the column).
    index_line      TEXT    NOT NULL,
    links           TEXT,
    rust_version    TEXT,
    edition         TEXT,
    description     TEXT,
    license         TEXT,
    license_file    TEXT,
    homepage        TEXT,
    documentation   TEXT,
    repository      TEXT,
    readme          TEXT,
    readme_file     TEXT,
    -- JSON arrays of strings.
    keywords        TEXT    NOT NULL DEFAULT '[]',
    categories      TEXT    NOT NULL DEFAULT '[]',
    authors         TEXT    NOT NULL DEFAULT '[]',
    published_by    INTEGER REFERENCES users (id),
    published_at    INTEGER NOT NULL,
    downloads       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (crate_id, num_no_build)
);

-- Dependencies of each version, for reverse-dependency lookups; the index line is the source.
CREATE TABLE dependencies (
    version_id        INTEGER NOT NULL REFERENCES versions (id),
    crate_name        TEXT    NOT NULL,
    alias             TEXT,
    req               TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    optional          BOOLEAN NOT NULL,
    default_features  BOOLEAN NOT NULL,
    features          TEXT    NOT NULL,
    target            TEXT,
    registry          TEXT
);
CREATE INDEX dependencies_version ON dependencies (version_id);
CREATE INDEX dependencies_crate_name ON dependencies (crate_name);

CREATE TABLE crate_owners (
    crate_id   INTEGER NOT NULL REFERENCES crates (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    added_by   INTEGER REFERENCES users (id),
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (crate_id, user_id)
);

-- Derived: one sparse index file per crate, rebuilt from `versions.index_line` in the
-- transaction of every change. `cargohold reindex` can rebuild the whole table.
CREATE TABLE index_files (
    registry_id    INTEGER NOT NULL REFERENCES registries (id),
    -- The lowercase crate name: the last part of the index path.
    name_lower     TEXT    NOT NULL,
    crate_id       INTEGER NOT NULL REFERENCES crates (id),
    content        TEXT    NOT NULL,
    etag           TEXT    NOT NULL,
    last_modified  INTEGER NOT NULL,
    PRIMARY KEY (registry_id, name_lower)
);

CREATE TABLE version_downloads (
    version_id  INTEGER NOT NULL REFERENCES versions (id),
    -- Days since 1970-01-01 (UTC).
    day         INTEGER NOT NULL,
    downloads   INTEGER NOT NULL,
    PRIMARY KEY (version_id, day)
);

CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    actor_user_id  INTEGER REFERENCES users (id),
    actor_token_id INTEGER REFERENCES api_tokens (id),
    action         TEXT    NOT NULL,
    registry       TEXT,
    crate_name     TEXT,
    version        TEXT,
    -- JSON object with whatever else the action needs to be understood later.
    detail         TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
