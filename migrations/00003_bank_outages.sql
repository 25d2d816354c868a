-- +goose Up
-- Checks that got no real answer from the bank (maintenance, 5xx, unreachable,
-- no token) are not attempts and never bring a transaction to UNKNOWN; they back
-- off on VERIFY_OUTAGE_BACKOFF by how many came in a row. 70005 (date range too
-- wide) is retried the same way and sends the transaction to review only after
-- VERIFY_RANGE_TOO_WIDE_REVIEW_AFTER in a row.
ALTER TABLE transactions
    ADD COLUMN bank_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN range_too_wide integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE transactions DROP COLUMN bank_failures, DROP COLUMN range_too_wide;
