-- +goose Up
-- One payment, one transaction. A bank movement (one row the bank returns)
-- may confirm at most one transaction, ever. This migration
--   1. compares references by their digits without leading zeros, so
--      "000123456" and "123456" are the same reference for duplicate_reference;
--   2. flags (never deletes) live transactions that collide under that rule:
--      the one kept is a COMPLETED one if any, else the oldest; the others get
--      duplicate_of and an event, and are reported as NOTICEs;
--   3. creates payment_claims, the movements that confirmed a transaction, under
--      a unique index, and fills it from the transactions already COMPLETED;
--      when two COMPLETED transactions were confirmed by one movement, the first
--      keeps the claim and the others get an event and a NOTICE for a person.
-- `api migrate preview` runs this inside a transaction that is rolled back and
-- prints the NOTICEs, so an operator sees what it would flag before upgrading.

ALTER TABLE transactions
    ADD COLUMN reference_digits text GENERATED ALWAYS AS (COALESCE(NULLIF(ltrim(reference, '0'), ''), '0')) STORED,
    ADD COLUMN duplicate_of uuid REFERENCES transactions (id);

-- +goose StatementBegin
DO $$
DECLARE
    r record;
    flagged integer := 0;
BEGIN
    FOR r IN
        WITH ranked AS (
            SELECT id, transaction_id, reference, reference_digits, transaction_type, status,
                   first_value(id) OVER w AS kept_id,
                   first_value(transaction_id) OVER w AS kept_transaction_id,
                   row_number() OVER w AS n
            FROM transactions
            WHERE deleted_at IS NULL
            WINDOW w AS (PARTITION BY reference_digits, transaction_type
                         ORDER BY (status = 'COMPLETED') DESC, created_at, id)
        )
        SELECT * FROM ranked WHERE n > 1 ORDER BY reference_digits, transaction_type, n
    LOOP
        UPDATE transactions SET duplicate_of = r.kept_id WHERE id = r.id;
        INSERT INTO transaction_events (transaction_id, old_status, new_status, reason, actor_type, actor_id, metadata)
        VALUES (r.id, r.status, r.status, 'duplicate_reference_flagged', 'SYSTEM', 'migration 00002',
                jsonb_build_object('duplicate_of', r.kept_id, 'duplicate_of_transaction_id', r.kept_transaction_id,
                                   'reference_digits', r.reference_digits));
        RAISE NOTICE 'duplicate_reference: transaction % (reference %, %, %) flagged as a duplicate of %',
            r.transaction_id, r.reference, r.transaction_type, r.status, r.kept_transaction_id;
        flagged := flagged + 1;
    END LOOP;
    RAISE NOTICE 'duplicate_reference: % transaction(s) flagged', flagged;
END
$$;
-- +goose StatementEnd

DROP INDEX transactions_reference_type_key;
-- One live transaction per reference (by digits) and type; flagged duplicates
-- from before this rule keep their rows but not the reference.
CREATE UNIQUE INDEX transactions_reference_digits_type_key ON transactions (reference_digits, transaction_type)
    WHERE deleted_at IS NULL AND duplicate_of IS NULL;
-- Listing by reference (?reference=) compares digits too.
CREATE INDEX transactions_reference_digits_idx ON transactions (reference_digits) WHERE deleted_at IS NULL;

-- A movement is identified by what the bank gives back about it, normalised
-- the way the bank client normalises rows (internal/banesco): reference digits
-- without leading zeros, booking date, amount, trnType, source bank (4 digits)
-- and the (masked) account. Not trnTime: pago móvil rows sometimes carry
-- "00.00.00" and sometimes the real time for the same movement.
CREATE TABLE payment_claims (
    id               bigserial PRIMARY KEY,
    transaction_id   uuid NOT NULL REFERENCES transactions (id),
    reference_digits text NOT NULL,
    trn_date         text NOT NULL,
    amount           numeric(15, 2) NOT NULL,
    trn_type         text NOT NULL,
    source_bank      text NOT NULL,
    account_id       text NOT NULL,
    movement_key     text GENERATED ALWAYS AS (reference_digits || '|' || trn_date || '|' || amount::text || '|' ||
                                               trn_type || '|' || source_bank || '|' || account_id) STORED,
    bank_row         jsonb NOT NULL,
    claimed_at       timestamptz NOT NULL DEFAULT now(),
    released_at      timestamptz,
    released_by      text,
    CONSTRAINT payment_claims_reference_digits CHECK (reference_digits ~ '^[0-9]+$')
);
-- The rule itself: a movement is held by at most one transaction at a time.
-- A reviewer may release a claim (PATCH … "release_claim": true); the released
-- row stays as history.
CREATE UNIQUE INDEX payment_claims_movement_key ON payment_claims (movement_key) WHERE released_at IS NULL;
CREATE INDEX payment_claims_transaction_idx ON payment_claims (transaction_id);

-- The same normalisation as banesco.decodeRow, in SQL, for the backfill.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION pg_temp.row_text(r jsonb, k text) RETURNS text LANGUAGE sql IMMUTABLE AS $f$
    SELECT CASE WHEN jsonb_typeof(r -> k) IN ('string', 'number')
                THEN regexp_replace(r ->> k, '^\s+|\s+$', '', 'g') ELSE '' END
$f$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
DECLARE
    r record;
    claimed integer := 0;
    conflicts integer := 0;
    holder uuid;
    holder_tid text;
BEGIN
    FOR r IN
        SELECT t.id, t.transaction_id, t.bank_payload AS row,
               COALESCE(NULLIF(ltrim(pg_temp.row_text(t.bank_payload, 'referenceNumber'), '0'), ''), '0') AS reference_digits,
               CASE WHEN length(d.v) > 10 AND substr(d.v, 11, 1) IN ('T', ' ') THEN left(d.v, 10) ELSE d.v END AS trn_date,
               round(pg_temp.row_text(t.bank_payload, 'amount')::numeric, 2) AS amount,
               upper(pg_temp.row_text(t.bank_payload, 'trnType')) AS trn_type,
               CASE WHEN s.v ~ '^[0-9]{1,4}$' THEN lpad(s.v, 4, '0') ELSE s.v END AS source_bank,
               pg_temp.row_text(t.bank_payload, 'accountId') AS account_id
        FROM transactions t,
             LATERAL (SELECT pg_temp.row_text(t.bank_payload, 'trnDate') AS v) d,
             LATERAL (SELECT pg_temp.row_text(t.bank_payload, 'sourceBankId') AS v) s
        WHERE t.status = 'COMPLETED' AND jsonb_typeof(t.bank_payload) = 'object'
          AND pg_temp.row_text(t.bank_payload, 'referenceNumber') ~ '^[0-9]+$'
          AND pg_temp.row_text(t.bank_payload, 'amount') ~ '^[0-9]{1,15}(\.[0-9]+)?$'
        -- The first confirmed keeps the claim.
        ORDER BY COALESCE((SELECT min(e.created_at) FROM transaction_events e
                           WHERE e.transaction_id = t.id AND e.new_status = 'COMPLETED'
                             AND e.old_status IS DISTINCT FROM 'COMPLETED'), t.updated_at), t.created_at, t.id
    LOOP
        SELECT c.transaction_id, h.transaction_id INTO holder, holder_tid
        FROM payment_claims c JOIN transactions h ON h.id = c.transaction_id
        WHERE c.released_at IS NULL AND c.movement_key = r.reference_digits || '|' || r.trn_date || '|' || r.amount::text || '|' ||
              r.trn_type || '|' || r.source_bank || '|' || r.account_id;
        IF holder IS NULL THEN
            INSERT INTO payment_claims (transaction_id, reference_digits, trn_date, amount, trn_type, source_bank, account_id, bank_row)
            VALUES (r.id, r.reference_digits, r.trn_date, r.amount, r.trn_type, r.source_bank, r.account_id, r.row);
            claimed := claimed + 1;
        ELSE
            INSERT INTO transaction_events (transaction_id, old_status, new_status, reason, actor_type, actor_id, metadata)
            VALUES (r.id, 'COMPLETED', 'COMPLETED', 'payment_claim_conflict', 'SYSTEM', 'migration 00002',
                    jsonb_build_object('claim', jsonb_build_object('movement',
                        r.reference_digits || '|' || r.trn_date || '|' || r.amount::text || '|' || r.trn_type || '|' || r.source_bank || '|' || r.account_id,
                        'holder', jsonb_build_object('id', holder, 'transaction_id', holder_tid))));
            RAISE NOTICE 'payment_claim_conflict: COMPLETED transaction % was confirmed by the movement that confirmed %; review it',
                r.transaction_id, holder_tid;
            conflicts := conflicts + 1;
        END IF;
    END LOOP;
    RAISE NOTICE 'payment_claims: % claim(s) recorded from COMPLETED transactions, % conflict(s) to review', claimed, conflicts;
END
$$;
-- +goose StatementEnd
DROP FUNCTION pg_temp.row_text(jsonb, text);

-- +goose Down
DROP TABLE payment_claims;
DROP INDEX transactions_reference_digits_idx;
DROP INDEX transactions_reference_digits_type_key;
ALTER TABLE transactions DROP COLUMN duplicate_of, DROP COLUMN reference_digits;
CREATE UNIQUE INDEX transactions_reference_type_key ON transactions (reference, transaction_type)
    WHERE deleted_at IS NULL;
