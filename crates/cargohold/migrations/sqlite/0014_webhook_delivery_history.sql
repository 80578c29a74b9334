-- Webhook deliveries are kept once done, as their history: `finished_at` and `outcome`
-- (`delivered` or `given_up`) say how each ended, `last_status` and `last_error` what
-- the last attempt got. Finished rows are pruned after `webhook-history-days`. Only
-- unfinished rows (`finished_at IS NULL`) are the outbox: the sender's queries name that
-- condition, so the partial indexes below serve them however long the history grows.
-- A redelivery is a new row with the same `delivery_id` and payload (`redelivery_of`:
-- the row it sends again), so `delivery_id` is no longer unique. SQLite drops a UNIQUE
-- constraint only by rebuilding the table. Keep
-- migrations/postgres/0014_webhook_delivery_history.sql in step.

CREATE TABLE webhook_deliveries_kept (
    id               INTEGER PRIMARY KEY,
    delivery_id      TEXT    NOT NULL,
    redelivery_of    BIGINT,
    registry_id      INTEGER NOT NULL REFERENCES registries (id),
    url              TEXT    NOT NULL,
    event            TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    claimed_by       TEXT,
    claimed_until    BIGINT,
    -- The HTTP status of the last attempt's answer (none after a timeout or no connection).
    last_status      BIGINT,
    last_error       TEXT,
    finished_at      BIGINT,
    outcome          TEXT
);
INSERT INTO webhook_deliveries_kept
    (id, delivery_id, registry_id, url, event, payload, created_at, attempts,
     next_attempt_at, claimed_by, claimed_until, last_error)
SELECT id, delivery_id, registry_id, url, event, payload, created_at, attempts,
       next_attempt_at, claimed_by, claimed_until, last_error
FROM webhook_deliveries;
DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_kept RENAME TO webhook_deliveries;

-- The outbox in claim order, and each webhook's unfinished rows (`first_of_its_webhook`).
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE finished_at IS NULL;
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (registry_id, url, id)
    WHERE finished_at IS NULL;
-- Pruning.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)
    WHERE finished_at IS NOT NULL;
