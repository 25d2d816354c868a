package systest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the cluster's database driver

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
)

// Options shape a cluster.
type Options struct {
	Dir           string   // scratch directory (logs, binaries, Postgres data)
	BinDir        string   // prebuilt binaries; built into Dir/bin when empty
	Workers       int      // worker processes to start (0: none; AddWorker adds more)
	MaxRPS        int      // BANESCO_MAX_RPS, also the sandbox's limit
	PerTxPerMin   int      // BANESCO_PER_TRANSACTION_PER_MINUTE (2)
	Concurrency   int      // WORKER_CONCURRENCY
	Schedule      string   // VERIFY_SCHEDULE
	Sweep         string   // SWEEP_INTERVAL
	PollInterval  string   // WORKER_POLL_INTERVAL
	SandboxDemo   bool     // settle any queried payment after SandboxSettle
	SandboxEnv    []string // extra SANDBOX_* settings (faults)
	ExtraEnv      []string // extra settings for API and workers
	APIRateLimit  int
	Deadline      string // VERIFY_DEADLINE (default 24h)
	OutageBackoff string // VERIFY_OUTAGE_BACKOFF (default 1s,2s,5s)
	// SandboxTLS serves the sandbox over HTTPS with this certificate; the
	// workers trust CA through BANESCO_CA_FILE.
	SandboxTLS *TLSFiles
	// Redis, when set, is where the processes find Redis (a Sentinel setup
	// or a Redis Cluster, started by the caller and stopped by Close); by
	// default the cluster starts one private server (Cluster.Redis).
	Redis RedisTopology
}

// TLSFiles are PEM files: a server certificate and key, and the CA that signed them.
type TLSFiles struct{ Cert, Key, CA string }

// Cluster is the whole system as processes.
type Cluster struct {
	Opts  Options
	PG    *Postgres
	Redis *Redis // the private server; nil when Options.Redis names another topology
	// RedisTop is the topology the processes use (Options.Redis, or Redis).
	RedisTop RedisTopology
	DB       *sqlx.DB
	DBURL    string
	API      *Proc
	APIURL   string
	Workers  []*Proc
	// WorkerMetrics are the workers' /metrics URLs, in the order of Workers.
	WorkerMetrics []string
	Sandbox       *Proc
	BankURL       string
	bin           string
	workerEnv     []string
	token         string
	bankHTTP      *http.Client // trusts the sandbox's CA when it serves HTTPS
	// Client is the public Go client (package client), logged in as the admin.
	Client *client.Client
}

// AdminEmail and AdminPassword log in to every cluster.
const (
	AdminEmail    = "admin@example.com"
	AdminPassword = "admin-password-123"
)

// Start brings up Postgres, Redis, the sandbox, the API and the workers.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.MaxRPS == 0 {
		o.MaxRPS = 50
	}
	if o.PerTxPerMin == 0 {
		o.PerTxPerMin = 2
	}
	if o.Concurrency == 0 {
		o.Concurrency = 20
	}
	if o.Schedule == "" {
		o.Schedule = "5s,10s,20s"
	}
	if o.Sweep == "" {
		o.Sweep = "5s"
	}
	if o.PollInterval == "" {
		o.PollInterval = "200ms"
	}
	if o.APIRateLimit == 0 {
		o.APIRateLimit = 1_000_000
	}
	if o.Deadline == "" {
		o.Deadline = "24h"
	}
	if o.OutageBackoff == "" {
		o.OutageBackoff = "1s,2s,5s"
	}
	c := &Cluster{Opts: o, bin: o.BinDir, bankHTTP: http.DefaultClient}
	if c.bin == "" {
		c.bin = filepath.Join(o.Dir, "bin")
		if err := Build(c.bin); err != nil {
			return nil, err
		}
	}
	var err error
	if c.PG, err = StartPostgres(); err != nil {
		return nil, err
	}
	if o.Redis != nil {
		c.RedisTop = o.Redis
	} else {
		if c.Redis, err = StartRedis(o.Dir); err != nil {
			return nil, err
		}
		c.RedisTop = singleTopology{c.Redis}
	}
	c.DBURL = c.PG.URL("verifier")
	sandboxPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	c.BankURL = fmt.Sprintf("http://127.0.0.1:%d", sandboxPort)
	var tlsEnv, caEnv []string
	if o.SandboxTLS != nil {
		c.BankURL = fmt.Sprintf("https://127.0.0.1:%d", sandboxPort)
		tlsEnv = []string{"SANDBOX_TLS_CERT=" + o.SandboxTLS.Cert, "SANDBOX_TLS_KEY=" + o.SandboxTLS.Key}
		caEnv = []string{"BANESCO_CA_FILE=" + o.SandboxTLS.CA}
		if c.bankHTTP, err = trusting(o.SandboxTLS.CA); err != nil {
			return nil, err
		}
	}
	sandboxEnv := append([]string{
		"SANDBOX_ADDR=127.0.0.1:" + itoa(sandboxPort),
		"SANDBOX_MAX_RPS=" + itoa(o.MaxRPS),
		"SANDBOX_PER_REFERENCE_PER_MINUTE=" + itoa(o.PerTxPerMin),
		fmt.Sprintf("SANDBOX_DEMO=%t", o.SandboxDemo),
		"SANDBOX_SETTLE_AFTER=1s",
		"LOG_LEVEL=warn",
	}, append(tlsEnv, o.SandboxEnv...)...)
	if c.Sandbox, err = StartProc("bank-sandbox", filepath.Join(c.bin, "bank-sandbox"), sandboxEnv, filepath.Join(o.Dir, "sandbox.log")); err != nil {
		return nil, err
	}
	apiPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	c.APIURL = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	common := append(append(append([]string{}, c.RedisTop.Env()...),
		"DATABASE_URL="+c.DBURL,
		"LOG_LEVEL=info",
		"ADMIN_EMAIL="+AdminEmail,
		"ADMIN_PASSWORD="+AdminPassword,
		"API_RATE_LIMIT="+itoa(o.APIRateLimit),
		"BANESCO_MAX_RPS="+itoa(o.MaxRPS),
		"BANESCO_PER_TRANSACTION_PER_MINUTE="+itoa(o.PerTxPerMin),
		"BANESCO_QA_AUTH_URL="+c.BankURL+"/token",
		"BANESCO_QA_API_URL="+c.BankURL+"/transactions/financial-account/transactions",
		"BANESCO_TIMEOUT=5s",
		"VERIFY_SCHEDULE="+o.Schedule,
		"VERIFY_DEADLINE="+o.Deadline,
		"VERIFY_OUTAGE_BACKOFF="+o.OutageBackoff,
		"SWEEP_INTERVAL="+o.Sweep,
		"WORKER_POLL_INTERVAL="+o.PollInterval,
		"WORKER_CONCURRENCY="+itoa(o.Concurrency),
	), append(caEnv, o.ExtraEnv...)...)
	apiBin := filepath.Join(c.bin, "api")
	for _, sub := range []string{"createdb", "migrate"} {
		p, err := StartProc("api-"+sub, apiBin, common, filepath.Join(o.Dir, "api-setup.log"), sub)
		if err != nil {
			return nil, err
		}
		if err := <-p.done; err != nil {
			return nil, fmt.Errorf("api %s failed (see %s): %w", sub, p.Log, err)
		}
	}
	if c.API, err = StartProc("api", apiBin, append(common, fmt.Sprintf("API_ADDR=127.0.0.1:%d", apiPort)), filepath.Join(o.Dir, "api.log")); err != nil {
		return nil, err
	}
	c.workerEnv = common
	for i := 0; i < o.Workers; i++ {
		if err := c.AddWorker(); err != nil {
			return nil, err
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := waitHTTP(waitCtx, c.bankHTTP, c.BankURL+"/health"); err != nil {
		return nil, err
	}
	if err := WaitHTTP(waitCtx, c.APIURL+"/health/ready"); err != nil {
		return nil, err
	}
	if c.DB, err = sqlx.Open("postgres", c.DBURL); err != nil {
		return nil, err
	}
	return c, c.login(ctx)
}

// AddWorker starts one more worker process.
func (c *Cluster) AddWorker() error {
	i := len(c.Workers)
	port, err := FreePort()
	if err != nil {
		return err
	}
	env := append(append([]string{}, c.workerEnv...), fmt.Sprintf("WORKER_METRICS_ADDR=127.0.0.1:%d", port))
	p, err := StartProc(fmt.Sprintf("worker-%d", i), filepath.Join(c.bin, "worker"), env, filepath.Join(c.Opts.Dir, fmt.Sprintf("worker-%d.log", i)))
	if err != nil {
		return err
	}
	c.Workers = append(c.Workers, p)
	c.WorkerMetrics = append(c.WorkerMetrics, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	return nil
}

// Close stops everything (best effort) and removes nothing: logs stay in Dir.
func (c *Cluster) Close() {
	for _, w := range c.Workers {
		w.Kill()
	}
	if c.API != nil {
		c.API.Kill()
	}
	if c.Sandbox != nil {
		c.Sandbox.Kill()
	}
	if c.DB != nil {
		c.DB.Close()
	}
	if c.RedisTop != nil {
		c.RedisTop.Stop()
	}
	if c.PG != nil {
		c.PG.Remove()
	}
}

// Do sends a JSON request to the API with the admin token.
func (c *Cluster) Do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	return c.do(ctx, c.token, method, path, body)
}

func (c *Cluster) do(ctx context.Context, token, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.APIURL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (c *Cluster) login(ctx context.Context) error {
	code, b, err := c.Do(ctx, http.MethodPost, "/api/v1/auth/login", map[string]string{"email": AdminEmail, "password": AdminPassword})
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("login: %d %s %v", code, b, err)
	}
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	c.token = pair.AccessToken
	// Retries of 429/503 with Retry-After come from the client itself; callers
	// add their own loop for longer outages.
	c.Client, err = client.New(c.APIURL, client.WithCredentials(AdminEmail, AdminPassword), client.WithRetries(8, 10*time.Second))
	return err
}

// Payment builds the i-th test payment: a create request (the public client's
// type) and the matching sandbox row.
func Payment(prefix string, i int, date string) (client.CreateTransaction, banksandbox.Payment) {
	ref := fmt.Sprintf("%012d", 100000000+i)
	body := client.CreateTransaction{
		TransactionID: fmt.Sprintf("%s-%06d", prefix, i), Bank: client.BankMobileTransfer, Reference: ref,
		Amount: "1240.00", PayerBankCode: "0102", PaidOn: date,
		Customer: client.Customer{FullName: "Ana Pérez", Phone: "04141234567", NationalID: "V12345678"},
	}
	return body, banksandbox.Payment{Reference: ref, Amount: "1240.00", Phone: "04141234567", BankID: "0102", Date: date, Mode: banksandbox.ModeMobile}
}

// AddPayments registers payments in the sandbox over its admin API.
func (c *Cluster) AddPayments(ctx context.Context, ps []banksandbox.Payment) error {
	b, _ := json.Marshal(ps)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.BankURL+"/sandbox/payments", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.bankHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("add payments: %d %s", resp.StatusCode, body)
	}
	return nil
}

// SetFaults changes the sandbox's fault injection (JSON of banksandbox.Faults).
func (c *Cluster) SetFaults(ctx context.Context, faults string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, c.BankURL+"/sandbox/faults", strings.NewReader(faults))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.bankHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("set faults: %d %s", resp.StatusCode, body)
	}
	return nil
}

// Stats reads the sandbox counters.
func (c *Cluster) Stats(ctx context.Context) (banksandbox.Stats, error) {
	var s banksandbox.Stats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.BankURL+"/sandbox/stats", nil)
	resp, err := c.bankHTTP.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// Arrivals reads the sandbox's arrival log: every check request as it arrived,
// on the sandbox's clock, oldest first.
func (c *Cluster) Arrivals(ctx context.Context) ([]banksandbox.Arrival, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.BankURL+"/sandbox/arrivals", nil)
	resp, err := c.bankHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("arrivals: HTTP %d", resp.StatusCode)
	}
	var arr []banksandbox.Arrival
	return arr, json.NewDecoder(resp.Body).Decode(&arr)
}

// Logs returns the concatenated logs of every process (for secret scans and failures).
func (c *Cluster) Logs() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(c.Opts.Dir, "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

// Token is the admin's access token.
func (c *Cluster) Token() string { return c.token }

// LoginAs returns an access token for another user.
func (c *Cluster) LoginAs(ctx context.Context, email, password string) (string, error) {
	code, b, err := c.DoAs(ctx, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": password})
	if err != nil || code != http.StatusOK {
		return "", fmt.Errorf("login %s: %d %s %v", email, code, b, err)
	}
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	return pair.AccessToken, json.Unmarshal(b, &pair)
}

// DoAs sends a request with the given bearer token ("" for none) and optional body.
func (c *Cluster) DoAs(ctx context.Context, token, method, path string, body ...any) (int, []byte, error) {
	var b any
	if len(body) > 0 {
		b = body[0]
	}
	return c.do(ctx, token, method, path, b)
}

// trusting is an HTTP client that trusts the CA in file.
func trusting(file string) (*http.Client, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", file)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}, nil
}
