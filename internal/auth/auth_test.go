package auth_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/redistest"
)

const secret = "auth-test-secret-0123456789abcdef"

type testBundle struct {
	svc   *auth.Service
	store *auth.Store
	db    *pgtest.DB
}

func setup(t *testing.T, now func() time.Time) *testBundle {
	t.Helper()
	db := pgtest.New(t)
	store := auth.NewStore(db.DB)
	svc := auth.NewService(store, redistest.Start(t).Client(), auth.Options{
		JWTSecret: secret, AccessTokenTTL: 10 * time.Minute, RefreshTokenTTL: time.Hour, BcryptCost: bcrypt.MinCost,
		LoginMaxFailures: 3, LoginFailureWindow: time.Minute, Now: now, Logger: zerolog.Nop(),
	})
	return &testBundle{svc: svc, store: store, db: db}
}

func countUsers(t *testing.T, b *testBundle) int {
	t.Helper()
	var n int
	if err := b.db.GetContext(context.Background(), &n, `SELECT count(*) FROM users`); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEnsureAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const email, password = "root@example.test", "root-password-123"

	t.Run("creates once", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		created, err := b.svc.EnsureAdmin(ctx, email, password)
		if err != nil || !created {
			t.Fatalf("first EnsureAdmin = %v, %v; want true, nil", created, err)
		}
		created, err = b.svc.EnsureAdmin(ctx, email, password)
		if err != nil || created {
			t.Fatalf("second EnsureAdmin = %v, %v; want false, nil", created, err)
		}
		if n := countUsers(t, b); n != 1 {
			t.Errorf("%d users after two calls, want 1", n)
		}
		u, err := b.store.UserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual([]string(u.Permissions), auth.AllPermissions) || !u.IsActive {
			t.Errorf("admin = %+v, want active with every permission", u)
		}
		if _, err := b.svc.Login(ctx, "127.0.0.1", email, password); err != nil {
			t.Errorf("admin cannot log in with ADMIN_PASSWORD: %v", err)
		}
	})

	t.Run("an existing admin under another email is enough", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		if _, err := b.svc.EnsureAdmin(ctx, "first@example.test", password); err != nil {
			t.Fatal(err)
		}
		created, err := b.svc.EnsureAdmin(ctx, email, password)
		if err != nil || created {
			t.Fatalf("EnsureAdmin with an admin present = %v, %v; want false, nil", created, err)
		}
		if _, err := b.store.UserByEmail(ctx, email); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("a second admin was created: %v", err)
		}
	})

	t.Run("promotes a registered user with that email", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		u, err := b.svc.Register(ctx, email, "their-own-password", "Root User")
		if err != nil {
			t.Fatal(err)
		}
		created, err := b.svc.EnsureAdmin(ctx, email, password)
		if err != nil || !created {
			t.Fatalf("EnsureAdmin = %v, %v; want true, nil", created, err)
		}
		got, err := b.store.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual([]string(got.Permissions), auth.AllPermissions) {
			t.Errorf("promoted permissions = %v", got.Permissions)
		}
		if countUsers(t, b) != 1 {
			t.Error("a new user was created instead of promoting")
		}
	})

	t.Run("a deactivated admin does not count", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		if _, err := b.svc.EnsureAdmin(ctx, email, password); err != nil {
			t.Fatal(err)
		}
		u, _ := b.store.UserByEmail(ctx, email)
		if _, err := b.store.SetActive(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		created, err := b.svc.EnsureAdmin(ctx, email, password)
		if err != nil || !created {
			t.Fatalf("EnsureAdmin with only a deactivated admin = %v, %v; want true, nil", created, err)
		}
		if got, _ := b.store.UserByEmail(ctx, email); !got.IsActive {
			t.Error("the admin was not reactivated")
		}
	})
}

func TestRefreshTokenExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Tokens issued two hours ago with a one-hour refresh lifetime.
	b := setup(t, func() time.Time { return time.Now().Add(-2 * time.Hour) })
	if _, err := b.svc.Register(ctx, "old@example.test", "old-password-1", "Old User"); err != nil {
		t.Fatal(err)
	}
	pair, err := b.svc.Login(ctx, "127.0.0.1", "old@example.test", "old-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Refresh(ctx, pair.RefreshToken); !errors.Is(err, auth.ErrRefreshInvalid) {
		t.Errorf("Refresh of an expired token = %v, want ErrRefreshInvalid", err)
	}
}

func TestLoginDeactivatedCountsAsFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	u, err := b.svc.Register(ctx, "gone@example.test", "gone-password-1", "Gone User")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.SetActive(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	// Right password, inactive user: the same answer as a wrong password.
	if _, err := b.svc.Login(ctx, "127.0.0.1", "gone@example.test", "gone-password-1"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("Login of a deactivated user = %v, want ErrInvalidCredentials", err)
	}
}
