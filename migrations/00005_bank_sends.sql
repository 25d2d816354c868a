-- +goose Up
-- When each reference was last sent to the bank, written BEFORE the request
-- goes out. It is the per-reference limit's source of truth: it survives a
-- Redis wipe or restart (the bank's rule is not ours to break because a cache
-- was emptied), and it is on Postgres's single clock, shared by every worker.
-- One row per key the bank counts (banesco.LimitKey: the 6-digit tail for pago
-- móvil, the reference without leading zeros for transfers). Rows older than
-- a few minutes carry no information and are deleted by the check sweeper.
CREATE TABLE bank_reference_sends (
    limit_key text PRIMARY KEY,
    sent_at   timestamptz NOT NULL
);
CREATE INDEX bank_reference_sends_sent_at ON bank_reference_sends (sent_at);

-- +goose Down
DROP TABLE bank_reference_sends;
