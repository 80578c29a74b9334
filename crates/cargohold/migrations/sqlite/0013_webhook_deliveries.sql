-- The webhook outbox: deliveries still to make. A change to a crate writes one row per
-- webhook of its registry that wants that event, in the change's own transaction, so a
-- change that was acknowledged is announced even if the process dies right after, or
-- the receiver is down. A `serve` node claims a row (`claimed_by` until `claimed_until`,
-- so one node sends it), POSTs `payload` to `url`, and deletes the row on a 2xx answer;
-- otherwise it counts the attempt and sets `next_attempt_at` later. Rows of one webhook
-- (`registry_id`, `url`) go out in `id` order, one at a time. Keep
-- migrations/postgres/0013_webhook_deliveries.sql in step.

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    -- Sent as `X-Cargohold-Delivery` and as the payload's `id`, the same on every
    -- attempt, so a receiver can tell a repeat: random, since row ids may be reused.
    delivery_id      TEXT    NOT NULL UNIQUE,
    registry_id      INTEGER NOT NULL REFERENCES registries (id),
    url              TEXT    NOT NULL,
    event            TEXT    NOT NULL,
    -- The JSON body, byte for byte as every attempt sends (and signs) it.
    payload          TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    claimed_by       TEXT,
    claimed_until    BIGINT,
    -- Why the last attempt failed (a status or an error), for whoever looks.
    last_error       TEXT
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (registry_id, url, id);
