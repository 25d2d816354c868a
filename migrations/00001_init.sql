-- +goose Up
-- The schema of the ERD, adapted to the verification pipeline: transactions carry
-- the scheduling columns the worker and the sweeper need, and rate limits live in
-- Redis (so the ERD's rate_limits table is gone).
CREATE TYPE transaction_status AS ENUM ('IN_PROGRESS', 'COMPLETED', 'CANCELED', 'TO_REVIEW', 'UNKNOWN');
CREATE TYPE bank_name AS ENUM ('BANESCO', 'MOBILE_TRANSFER');
CREATE TYPE transaction_type AS ENUM ('TRANSACTION', 'COMMISSION', 'OTHER');
CREATE TYPE actor_type AS ENUM ('USER', 'SYSTEM', 'EXTERNAL');

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL,
    password_hash text NOT NULL,
    full_name     text NOT NULL,
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_created_at_idx ON users (created_at DESC, id DESC);

CREATE TABLE permissions (
    id          smallint PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL
);
INSERT INTO permissions (id, name, description) VALUES
    (1, 'transaction:create', 'Create transactions and ask for a check'),
    (2, 'transaction:read',   'Read transactions, their status and events'),
    (3, 'transaction:update', 'Settle or cancel transactions by hand'),
    (4, 'transaction:delete', 'Soft-delete transactions'),
    (5, 'admin:access',       'Manage users, see every transaction, open the monitoring dashboard');

CREATE TABLE user_permissions (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission_id smallint NOT NULL REFERENCES permissions (id),
    granted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, permission_id)
);

-- Refresh tokens are opaque random strings; only their SHA-256 is stored. A family
-- is one login: reusing a rotated token revokes the whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE transactions (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    transaction_id       text NOT NULL,
    user_id              uuid NOT NULL REFERENCES users (id),
    status               transaction_status NOT NULL DEFAULT 'IN_PROGRESS',
    bank                 bank_name NOT NULL,
    transaction_type     transaction_type NOT NULL DEFAULT 'TRANSACTION',
    reference            text NOT NULL,
    amount               numeric(15, 2),
    payer_bank_code      char(4) NOT NULL DEFAULT '0134',
    paid_on              date NOT NULL,
    customer_full_name   text NOT NULL,
    customer_phone       text NOT NULL,
    customer_national_id text NOT NULL,
    customer_concept     text,
    request_hash         bytea NOT NULL,
    attempts             integer NOT NULL DEFAULT 0,
    last_checked_at      timestamptz,
    next_check_at        timestamptz,
    deadline_at          timestamptz NOT NULL,
    status_reason        text,
    bank_payload         jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz,
    CONSTRAINT transactions_amount_positive CHECK (amount IS NULL OR amount > 0)
);
-- The client's id is the idempotency key, kept even after a soft delete.
CREATE UNIQUE INDEX transactions_transaction_id_key ON transactions (transaction_id);
-- One live transaction per bank reference and type.
CREATE UNIQUE INDEX transactions_reference_type_key ON transactions (reference, transaction_type)
    WHERE deleted_at IS NULL;
-- Listing: newest first, per owner or for admins, optionally by status.
CREATE INDEX transactions_user_created_idx ON transactions (user_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX transactions_created_idx ON transactions (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX transactions_status_created_idx ON transactions (status, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX transactions_phone_idx ON transactions (customer_phone) WHERE deleted_at IS NULL;
CREATE INDEX transactions_national_id_idx ON transactions (customer_national_id) WHERE deleted_at IS NULL;
-- The sweeper's scan: overdue checks of live transactions.
CREATE INDEX transactions_due_idx ON transactions (next_check_at) WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL;

CREATE TABLE transaction_events (
    id             bigserial PRIMARY KEY,
    transaction_id uuid NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    old_status     transaction_status,
    new_status     transaction_status NOT NULL,
    reason         text NOT NULL DEFAULT '',
    actor_type     actor_type NOT NULL,
    actor_id       text NOT NULL DEFAULT '',
    metadata       jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transaction_events_transaction_idx ON transaction_events (transaction_id, id);

-- +goose Down
DROP TABLE transaction_events;
DROP TABLE transactions;
DROP TABLE refresh_tokens;
DROP TABLE user_permissions;
DROP TABLE permissions;
DROP TABLE users;
DROP TYPE actor_type;
DROP TYPE transaction_type;
DROP TYPE bank_name;
DROP TYPE transaction_status;
