package redisconn_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/crypto/bcrypt"

	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/redisconn"
	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/internal/verify"
	"github.com/banesco-verifier/verifier/tasks"
)

// TestEveryRedisUseWorksOnACluster runs each of our own uses of Redis on a
// real three-primary Redis Cluster, through the client redisconn builds from
// REDIS_CLUSTER_ADDRS: the login brute-force counters (one script over three
// keys: a hash tag keeps them in one slot), token revocation (two keys in two
// slots, read in one pipeline), the bank limiter's slots, and Asynq's
// enqueue, schedule and processing. On a Cluster a script or multi-key
// command over keys of different slots fails with CROSSSLOT; each of these
// would.
func TestEveryRedisUseWorksOnACluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rc, err := systest.StartRedisCluster(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(rc.Stop)
	cfg := redisconn.Config{ClusterAddrs: rc.Addrs()}
	rdb, err := cfg.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	db := pgtest.New(t)

	t.Run("login counters and revocation", func(t *testing.T) {
		svc := auth.NewService(auth.NewStore(db.DB), rdb, auth.Options{JWTSecret: "cluster-test-secret-0123456789abcdef",
			AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour, BcryptCost: bcrypt.MinCost,
			LoginMaxFailures: 3, LoginFailureWindow: time.Minute})
		defer svc.Close()
		if _, err := svc.Register(ctx, "cluster@example.test", "password-0123456789", "Cluster User"); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := svc.Login(ctx, "10.1.1.1", "cluster@example.test", "wrong-password-1"); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("bad login %d: %v, want invalid credentials", i, err)
			}
		}
		var tooMany *auth.ErrTooManyFailures
		if _, err := svc.Login(ctx, "10.1.1.1", "cluster@example.test", "password-0123456789"); !errors.As(err, &tooMany) {
			t.Fatalf("fourth login: %v, want the brute-force limit", err)
		}
		pair, err := svc.Login(ctx, "10.2.2.2", "cluster@example.test", "password-0123456789")
		if err != nil {
			t.Fatalf("login from another address: %v", err)
		}
		p, err := svc.Authenticate(ctx, pair.AccessToken)
		if err != nil {
			t.Fatalf("authenticate: %v", err)
		}
		if err := svc.Logout(ctx, p, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, pair.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("after logout: %v, want the token refused", err)
		}
	})

	t.Run("bank limiter", func(t *testing.T) {
		l := verify.NewLimiter(rdb, db.DB, 20, 2, nil)
		g, err := l.Acquire(ctx, "123456")
		if err != nil || !g.Granted() {
			t.Fatalf("first grant: %+v %v", g, err)
		}
		if err := g.Gate(ctx); err != nil {
			t.Fatal(err)
		}
		g2, err := l.Acquire(ctx, "123456")
		if err != nil || g2.Granted() || g2.Wait <= 0 {
			t.Errorf("second check of the reference at once: %+v %v, want a wait", g2, err)
		}
	})

	t.Run("asynq", func(t *testing.T) {
		qc := asynq.NewClientFromRedisClient(rdb)
		insp := asynq.NewInspectorFromRedisClient(rdb)
		sched := queue.NewScheduler(qc, insp, time.Second)
		const id = "0b0c6a2e-4bd4-4b8e-9c51-2f1a4c3d5e6f"
		if err := sched.Enqueue(ctx, id, "req-1", time.Now().Add(time.Second)); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
		var ran atomic.Int32
		srv := queue.NewServer(rdb, tasks.Queues(), queue.ServerOptions{Concurrency: 2, PollInterval: 100 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
		mux := asynq.NewServeMux()
		mux.HandleFunc(tasks.TypeVerify, func(context.Context, *asynq.Task) error { ran.Add(1); return nil })
		if err := srv.Start(mux); err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		for deadline := time.Now().Add(15 * time.Second); ran.Load() == 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the scheduled task never ran on the cluster")
			}
		}
		if _, err := cfg.Asynq(); err != nil {
			t.Fatal(err)
		}
	})
}
