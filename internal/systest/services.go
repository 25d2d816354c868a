package systest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// Postgres is a private Postgres cluster in a temporary directory, run as the
// postgres OS user (initdb refuses root), with fsync off: it is throwaway.
type Postgres struct {
	Dir  string
	Port int
}

func asPostgres(args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
	}
	return exec.Command(args[0], args[1:]...)
}

// StartPostgres initialises and starts a cluster in a new temporary directory
// (not under a test's TempDir: the postgres user must be able to reach it).
func StartPostgres() (*Postgres, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "systest-pg-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "pgdata")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown %s: %v %s", dir, err, out)
		}
	}
	if out, err := asPostgres(pgBin+"/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	pg := &Postgres{Dir: data, Port: port}
	return pg, pg.Start()
}

// Start starts the server and waits until it accepts connections.
func (p *Postgres) Start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB",
		p.Port, p.Dir)
	cmd := asPostgres(pgBin+"/pg_ctl", "-D", p.Dir, "-o", opts, "-l", filepath.Join(p.Dir, "server.log"), "-w", "-t", "60", "start")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// Remove stops the server and deletes its files.
func (p *Postgres) Remove() {
	_ = p.Stop()
	_ = os.RemoveAll(filepath.Dir(p.Dir))
}

// Stop stops the server (fast mode: connections are cut, as in a restart).
func (p *Postgres) Stop() error {
	out, err := asPostgres(pgBin+"/pg_ctl", "-D", p.Dir, "-m", "fast", "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// URL of a database on this server.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

// Redis is a private redis-server without persistence.
type Redis struct {
	Port int
	proc *Proc
}

// StartRedis starts redis-server on a free port; its log goes under dir.
func StartRedis(dir string) (*Redis, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	p, err := StartProc("redis", "redis-server", nil, filepath.Join(dir, "redis.log"),
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err != nil {
		return nil, err
	}
	r := &Redis{Port: port, proc: p}
	return r, r.wait()
}

func (r *Redis) wait() error {
	c := r.Client()
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis on %d: %w", r.Port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL is the redis:// URL.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Client returns a new client (the caller closes it).
func (r *Redis) Client() *redis.Client { return redis.NewClient(&redis.Options{Addr: r.Addr()}) }

// Restart kills and restarts the server: with no persistence, everything is lost.
func (r *Redis) Restart() error {
	r.proc.Kill()
	if err := r.proc.Start(); err != nil {
		return err
	}
	return r.wait()
}

// Stop kills the server.
func (r *Redis) Stop() { r.proc.Kill() }
