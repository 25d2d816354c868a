-- +goose Up
-- The events feed's order is the order in which events commit. An event's id
-- is taken at INSERT, and two status changes can commit in the other order, so
-- ordering the feed by id needed a lock held from the INSERT to the commit of
-- every status change: with the client's round trips inside it, checks on a
-- busy machine waited tens of milliseconds for it. Now each event gets its feed
-- position (seq) from a deferred trigger, at COMMIT, under the same advisory
-- lock: the lock is held only while Postgres commits, no round trip inside.
-- Positions become visible in order: the next committer takes the lock only
-- after the previous commit is visible. Ids stay the public event ids
-- (evt_<id>, the webhook-id); the feed is ordered by seq.
CREATE SEQUENCE outbox_events_seq;
ALTER TABLE outbox_events ADD COLUMN seq bigint;
UPDATE outbox_events SET seq = id;
SELECT setval('outbox_events_seq', COALESCE((SELECT max(id) FROM outbox_events), 0) + 1, false);
CREATE UNIQUE INDEX outbox_events_seq_idx ON outbox_events (seq);
CREATE INDEX outbox_events_user_seq_idx ON outbox_events (user_id, seq);
DROP INDEX outbox_events_user_idx;

-- +goose StatementBegin
CREATE FUNCTION outbox_events_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- 122550254464888 is "outbox" in ASCII (internal/webhook outboxLockKey).
    PERFORM pg_advisory_xact_lock(122550254464888);
    UPDATE outbox_events SET seq = nextval('outbox_events_seq') WHERE id = NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER outbox_events_number AFTER INSERT ON outbox_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION outbox_events_number();

-- +goose Down
DROP TRIGGER outbox_events_number ON outbox_events;
DROP FUNCTION outbox_events_number();
CREATE INDEX outbox_events_user_idx ON outbox_events (user_id, id);
DROP INDEX outbox_events_user_seq_idx;
DROP INDEX outbox_events_seq_idx;
ALTER TABLE outbox_events DROP COLUMN seq;
DROP SEQUENCE outbox_events_seq;
