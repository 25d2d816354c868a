package systest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/webhooktest"
)

// TestNoSecretsInLogs runs the whole flow through the real binaries with
// LOG_LEVEL=debug — users, tokens, a webhook endpoint with a rotated secret,
// pago móvil and transfer checks at the bank, signed deliveries — then stops
// every process and greps every process's log for each secret and personal
// datum it used, in every form it took on the wire: none may appear.
//
// The worker reaches the sandbox through a wiretap (a recording proxy), so the
// test knows the bank access tokens that were really issued, and the forms the
// bank really received and returned (the phone as 58 + 10 digits, the
// merchant's account, the masked account and the national id of reply rows);
// it also asserts that the wire carried the forms it scans for, so a change
// of form on the wire cannot make the scan look for the wrong thing.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: runs the real binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin, err := os.MkdirTemp("", "verifier-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	if err := Build(bin); err != nil {
		t.Fatal(err)
	}

	// Every value is long and mixed enough that no log line can carry it by
	// accident (timestamps, ids, latencies); digit-only values are matched
	// between non-digits (see leakAt).
	const (
		// The password grant authenticates as the client: username is the
		// client id, password the client secret (internal/banesco/token.go).
		bankClientID     = "vrf-bankuser-Q7k2M9w"
		bankClientSecret = "bnk-secret-Zq83LwT5pRx1"
		jwtSecret        = "jwt-secret-Hs9Kd2Qm7Xv4Lp1Nc8Rb6Tw3Yf5Gj0"
		webhookSecretKey = "whk-seal-Pm4Rt8Vx2Zb6Nq9Lc3Hs7Jd1"
		merchantAccount  = "01347730294618550923"
		userEmail        = "secret-user@example.com"
		userFullName     = "Eulalia Bracamonte-Ystueta"
		userPassword     = "usr-pass-Wm5Tq8Rz2Kx"
		wrongPassword    = "wrong-pass-Jb7Nv3Lc9Ps"
	)
	rcv := webhooktest.Start(t)
	c, err := Start(ctx, Options{
		// No worker yet: the one started below reaches the bank through the
		// wiretap. No demo mode: the sandbox answers the registered payments only.
		Dir: t.TempDir(), BinDir: bin, Workers: 0, Schedule: "1s",
		SandboxEnv: []string{"LOG_LEVEL=debug", "SANDBOX_CLIENT_ID=" + bankClientID,
			"SANDBOX_CLIENT_SECRET=" + bankClientSecret, "SANDBOX_ACCOUNT_ID=" + merchantAccount},
		ExtraEnv: []string{"LOG_LEVEL=debug", "BANESCO_GRANT_TYPE=password",
			"BANESCO_QA_CLIENT_ID=" + bankClientID, "BANESCO_QA_CLIENT_SECRET=" + bankClientSecret,
			"BANESCO_ACCOUNT_ID=" + merchantAccount, "JWT_SECRET=" + jwtSecret, "WEBHOOK_SECRET_KEY=" + webhookSecretKey,
			"WEBHOOK_ALLOW_HTTP=true", "WEBHOOK_ALLOW_PRIVATE=true"}, // the receiver is http on 127.0.0.1
	})
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	tap, err := startWiretap(c.BankURL)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	if err := addWorkerVia(c, tap.URL); err != nil {
		t.Fatal(err)
	}

	var secrets []secret
	add := func(what string, values ...string) {
		for _, v := range values {
			secrets = append(secrets, secret{what, v})
		}
	}
	add("admin password", AdminPassword)
	add("admin access token", c.Token())
	add("bank client id (password-grant username)", bankClientID)
	add("bank client secret (password-grant password)", bankClientSecret)
	add("JWT secret", jwtSecret)
	add("webhook secret key", webhookSecretKey)
	add("merchant account", merchantAccount)
	add("user full name", userFullName)
	add("user password", userPassword)
	add("wrong user password", wrongPassword)

	code, b, err := c.DoAs(ctx, "", http.MethodPost, "/api/v1/auth/register",
		map[string]string{"email": userEmail, "password": userPassword, "full_name": userFullName})
	var user struct {
		ID       string `json:"id"`
		FullName string `json:"full_name"`
	}
	if err != nil || code != http.StatusCreated || json.Unmarshal(b, &user) != nil {
		t.Fatalf("register: %d %s %v", code, b, err)
	}
	add("user full name (stored)", user.FullName)
	code, b, err = c.DoAs(ctx, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": userEmail, "password": userPassword})
	var pair tokenPair
	if err != nil || code != http.StatusOK || json.Unmarshal(b, &pair) != nil {
		t.Fatalf("login: %d %s %v", code, b, err)
	}
	// A failed login carries a password too.
	if code, b, err := c.DoAs(ctx, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": userEmail, "password": wrongPassword}); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("wrong login: %d %s %v", code, b, err)
	}
	code, b, err = c.DoAs(ctx, "", http.MethodPost, "/api/v1/auth/refresh", map[string]string{"refresh_token": pair.RefreshToken})
	var rotated tokenPair
	if err != nil || code != http.StatusOK || json.Unmarshal(b, &rotated) != nil {
		t.Fatalf("refresh: %d %s %v", code, b, err)
	}
	add("user access token", pair.AccessToken, rotated.AccessToken)
	add("user refresh token", pair.RefreshToken, rotated.RefreshToken)
	tok := rotated.AccessToken

	// The user gets webhook:manage, registers an endpoint and rotates its
	// secret: deliveries are then signed with both secrets.
	if code, b, err := c.Do(ctx, http.MethodPut, "/api/v1/users/"+user.ID+"/permissions",
		map[string][]string{"permissions": {"transaction:create", "transaction:read", "webhook:manage"}}); err != nil || code != http.StatusOK {
		t.Fatalf("grant webhook:manage: %d %s %v", code, b, err)
	}
	code, b, err = c.DoAs(ctx, tok, http.MethodPost, "/api/v1/webhooks", map[string]string{"url": rcv.URL, "description": "secrets test"})
	var ep struct{ ID, Secret string }
	if err != nil || code != http.StatusCreated || json.Unmarshal(b, &ep) != nil || !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Fatalf("register a webhook: %d %s %v", code, b, err)
	}
	code, b, err = c.DoAs(ctx, tok, http.MethodPost, "/api/v1/webhooks/"+ep.ID+"/rotate-secret")
	var rot struct{ Secret string }
	if err != nil || code != http.StatusOK || json.Unmarshal(b, &rot) != nil || !strings.HasPrefix(rot.Secret, "whsec_") {
		t.Fatalf("rotate the webhook secret: %d %s %v", code, b, err)
	}
	rcv.SetSecrets(ep.Secret, rot.Secret)
	for _, s := range []string{ep.Secret, rot.Secret} {
		add("webhook signing secret", s)
		add("webhook signing key (the secret without whsec_)", strings.TrimPrefix(s, "whsec_"))
	}

	// Customers: three pago móvil payments and one transfer, one of them typed
	// untidily (lower-case national id, stray spaces in the name) so that the
	// typed and the stored forms differ.
	customers := []struct {
		name, phone, nationalID, concept string
		transfer                         bool
	}{
		{"Yusmary Arocha-Villafane", "04249173865", "V20594817", "Cuota Odontologica Xq41", false},
		{"Nelson Quevedo Lanz", "04245860913", "E84302615", "Mensualidad Taller Zr83", false},
		{"dayerlin  tovar   mujica", "04247302589", "v17659042", "Pago Inscripcion Kw27", false},
		{"Ramses Oberto-Guaicara", "04243815076", "V23048579", "Alquiler Local Jp65", true},
	}
	date := time.Now().In(time.FixedZone("VET", -4*3600)).Format(time.DateOnly)
	for i, cu := range customers {
		body, p := Payment("SECRET", i, date)
		body.Customer = client.Customer{FullName: cu.name, Phone: cu.phone, NationalID: cu.nationalID, Concept: cu.concept}
		digits := strings.TrimLeft(cu.nationalID, "VvEe")
		p.Phone, p.Concept = cu.phone, cu.concept
		p.CustomerIDBen = strings.ToUpper(cu.nationalID[:1]) + "-" + digits // as the bank writes it: V-12345678
		if cu.transfer {
			body.Bank, body.PayerBankCode = client.BankBanesco, ""
			p.Mode, p.Phone, p.BankID = banksandbox.ModeTransfer, "", "" // into the merchant's account
		}
		if err := c.AddPayments(ctx, []banksandbox.Payment{p}); err != nil {
			t.Fatal(err)
		}
		code, b, err := c.DoAs(ctx, tok, http.MethodPost, "/api/v1/transactions", body)
		var created struct {
			Customer client.Customer `json:"customer"`
		}
		if err != nil || code != http.StatusCreated || json.Unmarshal(b, &created) != nil {
			t.Fatalf("create: %d %s %v", code, b, err)
		}
		add("customer name (as typed)", cu.name)
		add("customer name (stored)", created.Customer.FullName)
		add("customer phone (as typed)", cu.phone)
		add("customer phone (58 + 10 digits, the bank's form)", "58"+cu.phone[1:])
		add("customer phone (10 digits)", cu.phone[1:])
		add("customer national id (as typed)", cu.nationalID)
		add("customer national id (stored)", created.Customer.NationalID)
		add("customer national id (digits)", digits)
		add("customer national id (the bank's form)", p.CustomerIDBen)
		add("customer concept", cu.concept)
		// What the owner does with them: filter by phone and national id.
		q := url.Values{"phone": {cu.phone}, "national_id": {cu.nationalID}}
		if code, b, err := c.DoAs(ctx, tok, http.MethodGet, "/api/v1/transactions?"+q.Encode()); err != nil || code != http.StatusOK {
			t.Fatalf("list by phone and national id: %d %s %v", code, b, err)
		}
	}
	if _, err := c.WaitAll(ctx, len(customers)); err != nil {
		t.Fatal(err)
	}
	// Every completion reaches the receiver, validly signed: the worker read
	// (and unsealed) the endpoint's secrets.
	for {
		completed := map[string]bool{}
		for _, d := range rcv.Deliveries() {
			if d.Valid && d.Answered == webhooktest.OK && d.Type == "transaction.completed" {
				completed[d.ID] = true
			}
		}
		if len(completed) >= len(customers) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d completions delivered to the webhook: %v", len(completed), len(customers), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if code, b, err := c.DoAs(ctx, tok, http.MethodPost, "/api/v1/auth/logout", map[string]string{"refresh_token": rotated.RefreshToken}); err != nil || code != http.StatusNoContent {
		t.Fatalf("logout: %d %s %v", code, b, err)
	}

	// Stop every process and wait for it to exit before reading a log, so that
	// nothing is still on its way to the files (shutdown lines included).
	for _, p := range append(append([]*Proc{}, c.Workers...), c.API, c.Sandbox) {
		if err := p.Stop(); err != nil {
			t.Errorf("stop %s: %v", p.Name, err)
		}
	}
	c.Redis.Stop()
	tap.Close()

	secrets = append(secrets, tap.secrets(t, wireExpectations{
		clientID: bankClientID, clientSecret: bankClientSecret, merchantAccount: merchantAccount,
		phones: func() (ps []string) {
			for _, cu := range customers {
				if !cu.transfer {
					ps = append(ps, "58"+cu.phone[1:])
				}
			}
			return ps
		}(),
		nationalIDs: func() (ids []string) {
			for _, cu := range customers {
				ids = append(ids, strings.ToUpper(cu.nationalID[:1])+"-"+strings.TrimLeft(cu.nationalID, "VvEe"))
			}
			return ids
		}(),
	})...)

	files, err := filepath.Glob(filepath.Join(c.Opts.Dir, "*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no logs in %s: %v", c.Opts.Dir, err)
	}
	total, debug := 0, map[string]bool{}
	distinct := map[string]bool{}
	for _, s := range secrets {
		if len(s.value) < 8 {
			t.Fatalf("%s %q: too short to scan for without false hits (empty reply?)", s.what, s.value)
		}
		distinct[s.value] = true
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		logs, name := string(data), filepath.Base(f)
		total += len(logs)
		debug[name] = strings.Contains(logs, `"level":"debug"`)
		reported := map[string]bool{}
		for _, s := range secrets {
			if reported[s.value] {
				continue
			}
			if i := leakAt(logs, s.value); i >= 0 {
				t.Errorf("%s: %s %q appears in the log: …%s…", name, s.what, s.value, logs[max(0, i-160):min(len(logs), i+len(s.value)+40)])
				reported[s.value] = true
			}
		}
	}
	if !debug["worker-0.log"] {
		// The bank client logs every check at debug level.
		t.Fatalf("expected debug-level lines in the worker's log; is LOG_LEVEL=debug applied? (%v)", debug)
	}
	t.Logf("scanned %d bytes of logs (%d files) for %d secrets and personal data (%d distinct values)",
		total, len(files), len(secrets), len(distinct))
}

// secret is a value that must never reach a log, and what it is.
type secret struct{ what, value string }

type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// leakAt returns where value appears in logs, or -1. A value of digits only
// (a phone, a national id, an account) counts only between non-digits, so
// that it cannot match inside an unrelated number (a timestamp's nanoseconds);
// each of its longer forms is scanned for in its own right.
func leakAt(logs, value string) int {
	if strings.Trim(value, "0123456789") != "" {
		return strings.Index(logs, value)
	}
	loc := regexp.MustCompile(`(?:^|[^0-9])` + value + `(?:[^0-9]|$)`).FindStringIndex(logs)
	if loc == nil {
		return -1
	}
	return strings.Index(logs[loc[0]:], value) + loc[0]
}

// addWorkerVia starts a worker that reaches the bank at bankURL (the wiretap)
// instead of the sandbox itself.
func addWorkerVia(c *Cluster, bankURL string) error {
	c.workerEnv = append(append([]string{}, c.workerEnv...),
		"BANESCO_QA_AUTH_URL="+bankURL+"/token",
		"BANESCO_QA_API_URL="+bankURL+"/transactions/financial-account/transactions")
	return c.AddWorker()
}

// wiretap is a recording HTTP proxy between the worker and the sandbox: what
// went over the wire to the bank, and what came back.
type wiretap struct {
	URL    string
	target string
	srv    *http.Server
	mu     sync.Mutex
	calls  []wireCall
}

// wireCall is one request to the bank and its reply.
type wireCall struct {
	path, auth         string
	reqBody, respBody  []byte
	status             int
	contentType, error string
}

func startWiretap(target string) (*wiretap, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &wiretap{URL: "http://" + ln.Addr().String(), target: target}
	w.srv = &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = w.srv.Serve(ln) }()
	return w, nil
}

// Close stops the proxy (idempotent).
func (w *wiretap) Close() { _ = w.srv.Close() }

func (w *wiretap) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	call := wireCall{path: r.URL.Path, auth: r.Header.Get("Authorization"), reqBody: body, contentType: r.Header.Get("Content-Type")}
	defer func() {
		w.mu.Lock()
		w.calls = append(w.calls, call)
		w.mu.Unlock()
	}()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, w.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		call.error = err.Error()
		http.Error(rw, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Accept-Encoding") // keep the recorded reply readable
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		call.error = err.Error()
		http.Error(rw, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	call.respBody, _ = io.ReadAll(resp.Body)
	call.status = resp.StatusCode
	for k, v := range resp.Header {
		rw.Header()[k] = v
	}
	rw.WriteHeader(resp.StatusCode)
	_, _ = rw.Write(call.respBody)
}

// wireExpectations are the forms the test expects the wire to carry.
type wireExpectations struct {
	clientID, clientSecret, merchantAccount string
	phones                                  []string // pago móvil phones as the bank receives them
	nationalIDs                             []string // as reply rows carry them
}

// secrets returns every credential and personal datum seen on the wire, and
// fails the test when the wire did not carry what want says it should.
func (w *wiretap) secrets(t *testing.T, want wireExpectations) []secret {
	t.Helper()
	w.mu.Lock()
	calls := append([]wireCall(nil), w.calls...)
	w.mu.Unlock()
	var out []secret
	issued, phones, accounts, ids := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	var masked []string
	checks := 0
	for _, call := range calls {
		if call.error != "" {
			t.Logf("wiretap: %s: %s", call.path, call.error)
		}
		if call.path == "/token" {
			form, err := url.ParseQuery(string(call.reqBody))
			if err != nil {
				t.Errorf("wiretap: token request body %q: %v", call.reqBody, err)
				continue
			}
			if form.Get("grant_type") != "password" || form.Get("username") != want.clientID || form.Get("password") != want.clientSecret ||
				form.Get("client_id") != want.clientID || form.Get("client_secret") != want.clientSecret {
				t.Errorf("wiretap: the token request did not carry the configured password-grant credentials: %s", call.reqBody)
			}
			for _, k := range []string{"username", "password", "client_id", "client_secret"} {
				out = append(out, secret{"bank token request " + k + " (as on the wire)", form.Get(k)})
			}
			var reply struct {
				AccessToken string `json:"access_token"`
			}
			if call.status == http.StatusOK && json.Unmarshal(call.respBody, &reply) == nil && reply.AccessToken != "" {
				issued[reply.AccessToken] = true
				out = append(out, secret{"bank access token", reply.AccessToken})
			}
			continue
		}
		checks++
		if bearer, ok := strings.CutPrefix(call.auth, "Bearer "); ok {
			if !issued[bearer] {
				t.Errorf("wiretap: a check carried a bank token the tap never saw issued")
			}
			out = append(out, secret{"bank access token (check request)", bearer})
		}
		var req struct {
			DataRequest struct {
				Transaction struct {
					PhoneNum  string `json:"phoneNum"`
					AccountID string `json:"accountId"`
				} `json:"transaction"`
			} `json:"dataRequest"`
		}
		if err := json.Unmarshal(call.reqBody, &req); err != nil {
			t.Errorf("wiretap: check request %q: %v", call.reqBody, err)
		}
		if tx := req.DataRequest.Transaction; tx.PhoneNum != "" {
			phones[tx.PhoneNum] = true
			out = append(out, secret{"customer phone (check request)", tx.PhoneNum})
		}
		if tx := req.DataRequest.Transaction; tx.AccountID != "" {
			accounts[tx.AccountID] = true
			out = append(out, secret{"merchant account (check request)", tx.AccountID})
		}
		var reply struct {
			DataResponse *struct {
				TransactionDetail json.RawMessage `json:"transactionDetail"`
			} `json:"dataResponse"`
		}
		if json.Unmarshal(call.respBody, &reply) != nil || reply.DataResponse == nil {
			continue
		}
		type row struct {
			AccountID     string `json:"accountId"`
			CustomerIDBen string `json:"customerIdBen"`
			Concept       string `json:"concept"`
		}
		var rows []row
		if d := bytes.TrimSpace(reply.DataResponse.TransactionDetail); len(d) > 0 && d[0] == '{' {
			var r row
			err := json.Unmarshal(d, &r)
			rows = []row{r}
			if err != nil {
				t.Errorf("wiretap: reply row %s: %v", d, err)
			}
		} else if len(d) > 0 && d[0] == '[' {
			if err := json.Unmarshal(d, &rows); err != nil {
				t.Errorf("wiretap: reply rows %s: %v", d, err)
			}
		}
		for _, r := range rows {
			masked = append(masked, r.AccountID)
			ids[r.CustomerIDBen] = true
			out = append(out,
				secret{"account (bank reply row)", r.AccountID},
				secret{"customer national id (bank reply row)", r.CustomerIDBen},
				secret{"customer concept (bank reply row)", strings.TrimSpace(r.Concept)})
		}
	}
	if len(issued) == 0 || checks == 0 {
		t.Fatalf("wiretap: %d tokens issued and %d checks went through the tap: the worker did not use it", len(issued), checks)
	}
	for _, p := range want.phones {
		if !phones[p] {
			t.Errorf("wiretap: the bank never received the phone %s (it got %v): the test scans for a form the wire does not carry", p, phones)
		}
	}
	if !accounts[want.merchantAccount] {
		t.Errorf("wiretap: no transfer check carried the merchant account %s (got %v)", want.merchantAccount, accounts)
	}
	for _, id := range want.nationalIDs {
		if !ids[id] {
			t.Errorf("wiretap: no reply row carried the national id %s (got %v)", id, ids)
		}
	}
	// The bank returns the account masked ("1347************0923"): the
	// scan uses the form read from the wire; check that it is that one.
	digits := strings.TrimLeft(want.merchantAccount, "0")
	for _, m := range masked {
		if !strings.HasPrefix(m, digits[:4]) || !strings.HasSuffix(m, digits[len(digits)-4:]) || !strings.Contains(m, "****") {
			t.Errorf("wiretap: reply row account %q is not the merchant account masked", m)
		}
	}
	if len(masked) == 0 {
		t.Errorf("wiretap: no reply carried rows")
	}
	t.Logf("wiretap: %d calls to the bank, %d tokens issued; the bank got phones %v and accounts %v, and returned accounts %v and national ids %v",
		len(calls), len(issued), slices.Sorted(maps.Keys(phones)), slices.Sorted(maps.Keys(accounts)), slices.Compact(slices.Sorted(slices.Values(masked))), slices.Sorted(maps.Keys(ids)))
	return out
}
