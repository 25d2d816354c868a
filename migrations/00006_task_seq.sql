-- +goose Up
-- The sequence number of the transaction's live verify task. A check that waits
-- for its next step (not found yet, a bank limit, an outage) does not park its
-- task in Asynq's Retry list: it enqueues a successor under the next number
-- (task id verify:<uuid>:<seq>) and ends, so operators see it as Scheduled with
-- its due time and Retry holds only real failures. The number is written here
-- BEFORE the successor is enqueued, so whoever repairs the chain (the sweeper,
-- a re-run of the old task after a crash) knows which task id should be live,
-- and a re-run of an old task never asks the bank a second time.
ALTER TABLE transactions ADD COLUMN task_seq integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE transactions DROP COLUMN task_seq;
