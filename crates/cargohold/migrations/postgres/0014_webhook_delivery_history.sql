-- Webhook deliveries are kept once done, as their history: `finished_at` and `outcome`
-- (`delivered` or `given_up`) say how each ended, `last_status` and `last_error` what
-- the last attempt got. Finished rows are pruned after `webhook-history-days`. Only
-- unfinished rows (`finished_at IS NULL`) are the outbox: the sender's queries name that
-- condition, so the partial indexes below serve them however long the history grows.
-- A redelivery is a new row with the same `delivery_id` and payload (`redelivery_of`:
-- the row it sends again), so `delivery_id` is no longer unique. Keep
-- migrations/sqlite/0014_webhook_delivery_history.sql in step.

ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_delivery_id_key;
ALTER TABLE webhook_deliveries
    ADD COLUMN redelivery_of BIGINT,
    -- The HTTP status of the last attempt's answer (none after a timeout or no connection).
    ADD COLUMN last_status   BIGINT,
    ADD COLUMN finished_at   BIGINT,
    ADD COLUMN outcome       TEXT;

DROP INDEX webhook_deliveries_queue;
-- The outbox in claim order, and each webhook's unfinished rows (`first_of_its_webhook`).
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE finished_at IS NULL;
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (registry_id, url, id)
    WHERE finished_at IS NULL;
-- Pruning.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)
    WHERE finished_at IS NOT NULL;
