-- +goose Up
-- API keys for machine clients (docs/api.md, "API keys"). A key is
-- "vk_" + 43 base64url characters (256 random bits); only its SHA-256 is kept.
-- It is found by `prefix` (the 12 characters after "vk_", unique) and then its
-- hash is compared in constant time, so a lookup is one index probe and no
-- request pays for bcrypt. `permissions` is what the key may do at most: a
-- request gets these AND the owner's permissions of that moment.
-- last_used_at is written in batches (internal/auth apikey_usage.go), not by
-- every request. Revoked keys stay (revoked_at) for the audit trail.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL CHECK (length(key_hash) = 32),
    permissions  text[] NOT NULL DEFAULT '{}',
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX api_keys_prefix_key ON api_keys (prefix);
-- The lists (keyset, newest first): a user's own keys, and every key for admins;
-- the per-user cap counts the live ones.
CREATE INDEX api_keys_user_created_idx ON api_keys (user_id, created_at DESC, id DESC) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_created_idx ON api_keys (created_at DESC, id DESC) WHERE revoked_at IS NULL;
-- GET /users pages by (created_at DESC, id DESC): users_created_at_idx of
-- 00001 is that index already. webhook:manage is seeded by 00004; new users
-- get it from auth.DefaultPermissions (existing users keep what they have).

-- +goose Down
DROP TABLE api_keys;
