// Package systest runs the real system as separate processes — the api, worker
// and bank-sandbox binaries against a private Postgres cluster and a private
// redis-server — so fault tests can kill -9 a worker, flush or restart Redis and
// restart Postgres without touching anything else on the machine, and the load
// tool can measure the binaries users run.
package systest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Build compiles the three binaries into dir.
func Build(dir string) error { return build(dir) }

// BuildRace compiles the three binaries with the race detector, for tests of
// what several processes do at once; a data race makes a process exit 66.
func BuildRace(dir string) error { return build(dir, "-race") }

func build(dir string, flags ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := append(append([]string{"build"}, flags...), "-o", dir+string(os.PathSeparator), "./cmd/api", "./cmd/worker", "./cmd/bank-sandbox")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("systest: cannot find the module root")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreePort returns a TCP port free on 127.0.0.1 right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Proc is one running binary with its log file.
type Proc struct {
	Name string
	Log  string
	bin  string
	args []string
	env  []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

// StartProc starts bin with env (added to a minimal environment); output goes to logPath.
func StartProc(name, bin string, env []string, logPath string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, Log: logPath, bin: bin, args: args, env: env}
	return p, p.Start()
}

// Start (re)starts the process.
func (p *Proc) Start() error {
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); f.Close() }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return nil
}

// Pid is the process id (0 when not running).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Signal sends sig and waits up to wait for the exit.
func (p *Proc) Signal(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not exit within %s after %v; killed", p.Name, wait, sig)
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	return nil
}

// Kill is kill -9: no shutdown code runs.
func (p *Proc) Kill() { _ = p.Signal(syscall.SIGKILL, 10*time.Second) }

// Stop is SIGTERM with a generous wait (graceful shutdown).
func (p *Proc) Stop() error { return p.Signal(syscall.SIGTERM, 60*time.Second) }

// WaitHTTP polls url until it answers 200 or ctx ends.
func WaitHTTP(ctx context.Context, url string) error {
	return waitHTTP(ctx, http.DefaultClient, url)
}

func waitHTTP(ctx context.Context, hc *http.Client, url string) error {
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error %v)", url, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
