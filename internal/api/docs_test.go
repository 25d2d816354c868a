package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/openapi"
	"github.com/banesco-verifier/verifier/openapi/spectest"
)

func fetch(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp, body
}

// TestDocsServed checks /openapi.yaml and the /docs page with its assets: all
// embedded, nothing from elsewhere, and under the strict CSP.
func TestDocsServed(t *testing.T) {
	t.Parallel()
	_, base := fullApp(t)
	c := &http.Client{Timeout: 10 * time.Second, Transport: spectest.NewTransport(t, base, nil)}

	resp, body := fetch(t, c, base+"/openapi.yaml")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, openapi.Spec()) {
		t.Errorf("GET /openapi.yaml = %d, %d bytes; want 200 and the embedded spec", resp.StatusCode, len(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("GET /openapi.yaml Content-Type = %q", ct)
	}

	resp, page := fetch(t, c, base+"/docs")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !slices.Contains(strings.Split(csp, "; "), "script-src 'self'") {
		t.Errorf("CSP of /docs = %q; want script-src 'self' only", csp)
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).Match(page) {
		t.Errorf("/docs has an inline script, which the CSP blocks:\n%s", page)
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).Match(page) {
		t.Errorf("/docs loads something from another host:\n%s", page)
	}
	refs := regexp.MustCompile(`(?:src|href)="(/docs/[^"]+)"`).FindAllSubmatch(page, -1)
	if len(refs) < 4 {
		t.Fatalf("/docs references %d assets, want the bundle, css, icon and docs.js:\n%s", len(refs), page)
	}
	for _, ref := range refs {
		resp, body := fetch(t, c, base+string(ref[1]))
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s = %d, %d bytes", ref[1], resp.StatusCode, len(body))
		}
	}
	_, js := fetch(t, c, base+"/docs/docs.js")
	if !bytes.Contains(js, []byte(`url: "/openapi.yaml"`)) {
		t.Errorf("docs.js does not point Swagger UI at /openapi.yaml:\n%s", js)
	}
	// Only the listed assets are served (the spec's enum says which).
	req, _ := http.NewRequestWithContext(spectest.ExpectInvalid(context.Background()), http.MethodGet, base+"/docs/index.html", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /docs/index.html: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /docs/index.html = %d, want 404", resp.StatusCode)
	}
}

// chromium returns the path of a Chromium binary, or "" when none is installed.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestDocsRenderInChromium loads /docs in headless Chromium (no network but
// the API itself) and checks that Swagger UI rendered the operations list.
func TestDocsRenderInChromium(t *testing.T) {
	t.Parallel()
	bin := needChromium(t)
	_, base := fullApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	profile := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--no-first-run",
		"--disable-dev-shm-usage", "--user-data-dir="+profile,
		"--virtual-time-budget=15000", "--dump-dom", base+"/docs")
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{
		`class="swagger-ui`,    // Swagger UI mounted
		`Verifier API`,         // the spec's title: /openapi.yaml was loaded and parsed
		`opblock`,              // operation blocks rendered
		`/api/v1/transactions`, // an operation path
		`/api/v1/auth/login`,   // another one
		`createTransaction`,    // operation ids are rendered in the ids of the blocks
	} {
		if !strings.Contains(string(dom), want) {
			t.Errorf("rendered /docs lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM (%d bytes):\n%.4000s\nchromium stderr:\n%.2000s", len(dom), dom, stderr.String())
	}
}

// needChromium returns the Chromium binary. Without one the test fails —
// `make test` installs it (scripts/test-tools.sh) — unless the run is the
// reduced one the user asked for (`make test-short`, go test -short).
func needChromium(t *testing.T) string {
	t.Helper()
	bin := chromium()
	if bin == "" {
		if testing.Short() {
			t.Skip("-short: the browser test needs Chromium")
		}
		t.Fatal("chromium is not installed: apt-get install -y chromium (make test installs it), or run make test-short")
	}
	return bin
}
