-- Access control: teams, team ownership of crates, per-registry roles, and the
-- client address of audited changes. Keep migrations/postgres/0004_access.sql in step.

CREATE TABLE teams (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
-- Team names are unique whatever their case, like logins.
CREATE UNIQUE INDEX teams_name_lower ON teams (lower(name));

CREATE TABLE team_members (
    team_id   INTEGER NOT NULL REFERENCES teams (id),
    user_id   INTEGER NOT NULL REFERENCES users (id),
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- Teams that own crates (`cargo owner --add team:NAME`): their members may publish and yank.
CREATE TABLE crate_team_owners (
    crate_id   INTEGER NOT NULL REFERENCES crates (id),
    team_id    INTEGER NOT NULL REFERENCES teams (id),
    added_by   INTEGER REFERENCES users (id),
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (crate_id, team_id)
);

-- Who may do what in a registry: `read`, `publish` (read + publish new crate names) or
-- `admin` (publish + act as an owner of every crate). A registry without any grant is
-- open to every user; the first grant closes it to everyone not granted.
CREATE TABLE registry_grants (
    id           INTEGER PRIMARY KEY,
    registry_id  INTEGER NOT NULL REFERENCES registries (id),
    user_id      INTEGER REFERENCES users (id),
    team_id      INTEGER REFERENCES teams (id),
    role         TEXT    NOT NULL,
    granted_at   INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (team_id IS NULL))
);
CREATE UNIQUE INDEX registry_grants_user ON registry_grants (registry_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX registry_grants_team ON registry_grants (registry_id, team_id) WHERE team_id IS NOT NULL;

ALTER TABLE audit_events ADD COLUMN client_addr TEXT;
CREATE INDEX audit_events_actor ON audit_events (actor_user_id);
CREATE INDEX audit_events_crate ON audit_events (crate_name);
