package clienttest_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/client"
)

// TestClientAPIKeys: a logged-in client creates, lists and revokes keys; a
// client built WithAPIKey acts as the key's owner within its permissions,
// cannot manage keys, and takes a 401 as final (no refresh, no login). Every
// request and reply is checked against openapi.yaml.
func TestClientAPIKeys(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	ctx := ctxT(t)
	owner, me := e.newUser(t)

	expires := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	k, err := owner.CreateAPIKey(ctx, client.NewAPIKey{Name: "billing job", Permissions: []string{"transaction:read"}, ExpiresAt: &expires})
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if len(k.Key) != 46 || k.Prefix != k.Key[:15] || k.ExpiresAt == nil || !k.ExpiresAt.Equal(expires) || k.LastUsedAt != nil {
		t.Errorf("created key = %+v", k)
	}
	for range 2 {
		if _, err := owner.CreateAPIKey(ctx, client.NewAPIKey{Name: "spare"}); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
	}
	_, err = owner.CreateAPIKey(ctx, client.NewAPIKey{Name: "too strong", Permissions: []string{"admin:access"}})
	if apiErr := wantAPIError(t, err, http.StatusUnprocessableEntity, client.CodeValidationFailed); apiErr.Fields["permissions"] == "" {
		t.Errorf("fields = %v, want permissions", apiErr.Fields)
	}

	// Walk the list two at a time.
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		page, err := owner.ListAPIKeys(ctx, cursor, 2)
		if err != nil {
			t.Fatalf("ListAPIKeys: %v", err)
		}
		pages++
		for _, it := range page.Items {
			if seen[it.ID] {
				t.Errorf("key %s listed twice", it.ID)
			}
			seen[it.ID] = true
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(seen) != 3 || pages != 2 || !seen[k.ID] {
		t.Errorf("listed %d keys in %d pages, want 3 in 2 with %s", len(seen), pages, k.ID)
	}

	// The key acts as the owner, within transaction:read.
	kc := e.client(t, client.WithAPIKey(k.Key))
	got, err := kc.Me(ctx)
	if err != nil || got.ID != me.ID {
		t.Fatalf("Me with the key = %+v, %v; want %s", got, err, me.ID)
	}
	if _, err := kc.ListTransactions(ctx, client.ListOptions{}); err != nil {
		t.Errorf("ListTransactions with the key: %v", err)
	}
	_, err = kc.CreateTransaction(ctx, order("KEY-1", "000123456780"))
	wantAPIError(t, err, http.StatusForbidden, client.CodeForbidden)
	// Keys cannot manage keys.
	_, err = kc.CreateAPIKey(ctx, client.NewAPIKey{Name: "child"})
	wantAPIError(t, err, http.StatusForbidden, client.CodeForbidden)
	_, err = kc.ListAPIKeys(ctx, "", 0)
	wantAPIError(t, err, http.StatusForbidden, client.CodeForbidden)
	if err := kc.Logout(ctx); err != nil {
		t.Errorf("Logout with a key: %v, want nil (nothing to do)", err)
	}

	// Revoked: the next call is a final 401, without an attempt to renew.
	if err := owner.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	_, err = kc.Me(ctx)
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeUnauthorized)
	if errors.Is(err, client.ErrNoCredentials) {
		t.Errorf("the key client tried to renew: %v", err)
	}
	wantAPIError(t, owner.RevokeAPIKey(ctx, k.ID), http.StatusNotFound, client.CodeNotFound)
}
