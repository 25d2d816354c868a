-- +goose Up
-- Webhooks (Standard Webhooks) and the events feed. outbox_events is written in
-- the same Postgres transaction as the status change it reports; a delivery is
-- one (event, endpoint) pair, retried under one task id until it succeeds or
-- runs out of WEBHOOK_SCHEDULE.
INSERT INTO permissions (id, name, description) VALUES
    (6, 'webhook:manage', 'Register and manage webhook endpoints for your transactions');
INSERT INTO user_permissions (user_id, permission_id)
    SELECT user_id, 6 FROM user_permissions WHERE permission_id = 5;

CREATE TABLE outbox_events (
    id             bigserial PRIMARY KEY,
    type           text NOT NULL,
    user_id        uuid NOT NULL REFERENCES users (id),
    transaction_id uuid REFERENCES transactions (id),
    data           jsonb NOT NULL,
    -- Ids are taken under a transaction-level advisory lock held to commit
    -- (internal/webhook recordEvent), so they become visible in id order and
    -- a feed reader's after=evt_N never passes an event still uncommitted.
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- The feed: an owner's events after a cursor; everyone's for admins; the
-- retention job by age.
CREATE INDEX outbox_events_user_idx ON outbox_events (user_id, id);
CREATE INDEX outbox_events_created_idx ON outbox_events (created_at);

CREATE TABLE webhook_endpoints (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id),
    url             text NOT NULL,
    description     text NOT NULL DEFAULT '',
    event_types     text[] NOT NULL DEFAULT '{}', -- empty: every type
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    -- The signing secret, sealed (AES-GCM, WEBHOOK_SECRET_KEY): the service must
    -- sign with it, so it is recoverable by the service and by nobody else.
    secret          bytea NOT NULL,
    -- The secret before the last rotation keeps signing until previous_until.
    previous_secret bytea,
    previous_until  timestamptz,
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE INDEX webhook_endpoints_user_idx ON webhook_endpoints (user_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    event_id         bigint NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_http_status integer,
    last_error       text,
    next_attempt_at  timestamptz,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
-- The delivery sweeper's scan: pending deliveries that are due.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE outbox_events;
DELETE FROM user_permissions WHERE permission_id = 6;
DELETE FROM permissions WHERE id = 6;
