package httpserver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"
)

func TestIsOutage(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("get user: %w", err) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain bug", errors.New("nil map"), false},
		{"no rows", wrap(sql.ErrNoRows), false},
		{"unique violation", wrap(&pq.Error{Code: "23505"}), false},
		{"syntax error", wrap(&pq.Error{Code: "42601"}), false},
		{"context canceled by client", wrap(context.Canceled), false},
		{"marked unavailable", Unavailable("op", errors.New("x")), true},
		{"connection refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{"ECONNRESET", wrap(syscall.ECONNRESET), true},
		{"EOF mid-reply", wrap(io.ErrUnexpectedEOF), true},
		{"bad conn", wrap(driver.ErrBadConn), true},
		{"conn done", wrap(sql.ErrConnDone), true},
		{"deadline", wrap(context.DeadlineExceeded), true},
		{"redis client closed", wrap(redis.ErrClosed), true},
		{"redis pool timeout", wrap(redis.ErrPoolTimeout), true},
		{"postgres admin shutdown", wrap(&pq.Error{Code: "57P01"}), true},
		{"postgres connection failure", wrap(&pq.Error{Code: "08006"}), true},
		{"postgres too many connections", wrap(&pq.Error{Code: "53300"}), true},
		{"database dropped", wrap(&pq.Error{Code: "3D000"}), true},
		{"pool closed", wrap(errors.New("sql: database is closed")), true},
		{"server starting", wrap(errors.New("pq: the database system is starting up")), true},
		{"redis loading", wrap(errors.New("LOADING Redis is loading the dataset in memory")), true},
	}
	for _, tt := range tests {
		if got := IsOutage(tt.err); got != tt.want {
			t.Errorf("IsOutage(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestIsOutageOnRealClosedPool(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("postgres", "postgres://postgres@127.0.0.1:1/x?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	err = db.PingContext(context.Background())
	if err == nil || !IsOutage(fmt.Errorf("ping: %w", err)) {
		t.Errorf("a closed pool's error %v is not an outage", err)
	}
}
