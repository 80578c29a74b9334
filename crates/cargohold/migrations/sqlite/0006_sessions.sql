-- Web sessions: a browser that logged in with a password holds a random session id in
-- an HttpOnly cookie; only its SHA-256 is stored, like tokens. Keep
-- migrations/postgres/0006_sessions.sql in step.

CREATE TABLE web_sessions (
    id_hash       TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id),
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
