package systest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestWebhookTargetsRefusedByTheRealAPI: the api binary with its defaults
// (WEBHOOK_ALLOW_HTTP and WEBHOOK_ALLOW_PRIVATE unset) refuses every target a
// webhook could use to reach inside the network, naming the url field, and
// stores none of them. (Delivery through real processes, kill -9 and
// FLUSHALL included, is TestFaultWebhooks in the fault suite.)
func TestWebhookTargetsRefusedByTheRealAPI(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: runs the real binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Dir: t.TempDir(), BinDir: testBins(t)})
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{
		"https://127.0.0.1:8443/hook",
		"https://localhost/hook",
		"https://10.0.0.7/hook",
		"https://192.168.1.20/hook",
		"https://169.254.169.254/latest/meta-data/",
		"https://[::1]/hook",
		"https://[fd12::1]/hook",
		"http://93.184.215.14/hook",  // plain http
		c.APIURL + "/api/v1/auth/me", // the API itself
	} {
		code, body, err := c.Do(ctx, http.MethodPost, "/api/v1/webhooks", map[string]string{"url": url})
		var e struct {
			Error struct {
				Code   string            `json:"code"`
				Fields map[string]string `json:"fields"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		if err != nil || code != http.StatusUnprocessableEntity || e.Error.Code != "validation_failed" || e.Error.Fields["url"] == "" {
			t.Errorf("register %s: %d %s %v, want 422 validation_failed naming url", url, code, body, err)
		}
	}
	var stored int
	if err := c.DB.GetContext(ctx, &stored, `SELECT count(*) FROM webhook_endpoints`); err != nil || stored != 0 {
		t.Errorf("%d endpoints stored (%v), want none", stored, err)
	}
}
