package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CodeTooManyAPIKeys: the user already has the most live API keys allowed (409).
const CodeTooManyAPIKeys = "too_many_api_keys"

// WithAPIKey makes the client authenticate every request with an API key
// ("vk_…", from CreateAPIKey) instead of logging in. A key is never refreshed:
// a 401 (revoked, expired, owner deactivated) is returned as it is. It takes
// precedence over WithCredentials and WithTokens. Logout does nothing for a
// key (the server has no session to end); revoke it with RevokeAPIKey from a
// logged-in client. A key cannot manage keys: the API-key methods need a login.
func WithAPIKey(key string) Option {
	return func(c *Client) { c.apiKey = key }
}

// APIKey is an API key as listed: never the key itself.
type APIKey struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"` // the key's first characters, to recognise it
	Permissions []string   `json:"permissions"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
	// LastUsedAt is written by the server in batches: up to 30 s old.
	LastUsedAt *time.Time `json:"last_used_at"`
}

// CreatedAPIKey is a key just created, with the secret Key: keep it, the
// server shows it only once.
type CreatedAPIKey struct {
	APIKey
	Key string `json:"key"`
}

// NewAPIKey is what CreateAPIKey sends. Permissions must be a subset of the
// caller's (nil sends an empty list); ExpiresAt, when set, must be in the future.
type NewAPIKey struct {
	Name        string     `json:"name"`
	Permissions []string   `json:"permissions"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// APIKeyList is one page of ListAPIKeys; NextCursor is nil on the last page.
type APIKeyList struct {
	Items      []APIKey `json:"items"`
	NextCursor *string  `json:"next_cursor"`
}

// CreateAPIKey creates a key for the logged-in user. Not retried: a lost reply
// would leave a key nobody saw; list the keys to find it.
func (c *Client) CreateAPIKey(ctx context.Context, k NewAPIKey) (CreatedAPIKey, error) {
	if k.Permissions == nil {
		k.Permissions = []string{}
	}
	if k.ExpiresAt != nil {
		t := k.ExpiresAt.UTC()
		k.ExpiresAt = &t
	}
	var out CreatedAPIKey
	_, err := c.do(ctx, call{method: http.MethodPost, path: "/api/v1/api-keys", body: k, out: &out, auth: true})
	return out, err
}

// ListAPIKeys returns a page of the caller's keys (an admin's: everyone's),
// newest first. Pass "" for the first page, then NextCursor; limit 0 is the
// server's default (20), at most 100.
func (c *Client) ListAPIKeys(ctx context.Context, cursor string, limit int) (APIKeyList, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out APIKeyList
	_, err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/api-keys", query: q, out: &out, auth: true, retryable: true})
	return out, err
}

// RevokeAPIKey revokes a key: it is refused from the next request on.
// Revoking is safe to repeat (a second time is a 404 *APIError).
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{method: http.MethodDelete, path: "/api/v1/api-keys/" + url.PathEscape(id), auth: true, retryable: true})
	return err
}
