-- Webhook receipts are also the engine's outbox (issue 19): the event a first delivery carries is
-- stored with its receipt in one insert, and marked applied once the engine has handled it; at
-- start the engine replays what a stopped process received but never applied.
ALTER TABLE webhook_receipts ADD COLUMN event TEXT;
ALTER TABLE webhook_receipts ADD COLUMN applied_at BIGINT;
CREATE INDEX webhook_receipts_pending ON webhook_receipts(received_at) WHERE event IS NOT NULL AND applied_at IS NULL;
CREATE INDEX webhook_receipts_received ON webhook_receipts(received_at);
