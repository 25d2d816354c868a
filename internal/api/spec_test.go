package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/banesco-verifier/verifier/internal/api"
	"github.com/banesco-verifier/verifier/internal/apitest"
	"github.com/banesco-verifier/verifier/openapi/spectest"
)

// fullApp is api.New with every dependency the production main passes (so
// every route is mounted), served on a real listener.
func fullApp(t *testing.T) (*fiber.App, string) {
	t.Helper()
	srv := apitest.Start(t, apitest.Options{Metrics: true})
	return srv.App, srv.URL
}

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// TestSpecMatchesRoutes walks Fiber's route table and fails when a route is
// missing from openapi.yaml or openapi.yaml names a route the app does not serve.
func TestSpecMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := spectest.Load(t)
	app, base := fullApp(t)

	inSpec := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inSpec[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range app.GetRoutes(true) {
		if r.Method == http.MethodHead {
			continue // Fiber's automatic twin of each GET
		}
		served[r.Method+" "+fiberParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	// /monitoring is a prefix mount (app.Use), which the route table lists
	// among the middleware: it is served when a USE route has that path and a
	// request to it reaches the dashboard's guard (401, not 404).
	// Fiber lists middleware once per method, with the mount path, only when
	// asked for it (GetRoutes(false)).
	for _, r := range app.GetRoutes(false) {
		if r.Method == http.MethodGet && r.Path == api.MonitoringPath {
			served["GET "+api.MonitoringPath] = true
		}
	}
	if served["GET "+api.MonitoringPath] {
		resp, err := http.Get(base + api.MonitoringPath)
		if err != nil {
			t.Fatalf("GET /monitoring: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /monitoring without credentials = %d, want 401 (the mount is not guarded?)", resp.StatusCode)
		}
	}

	var missing, extra []string
	for k := range served {
		if !inSpec[k] {
			missing = append(missing, k)
		}
	}
	for k := range inSpec {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes the app serves that openapi.yaml does not describe:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("operations in openapi.yaml that the app does not serve:\n  %s", strings.Join(extra, "\n  "))
	}
	if len(served) < 20 {
		t.Errorf("only %d routes found; is the route table complete? %v", len(served), served)
	}
}

// TestSpecDescribesContract checks properties of the spec that the route walk
// cannot: every API operation documents its error replies, and the routes
// that need a token say so.
func TestSpecDescribesContract(t *testing.T) {
	t.Parallel()
	doc := spectest.Load(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.Responses.Value("200") == nil && op.Responses.Value("201") == nil &&
				op.Responses.Value("202") == nil && op.Responses.Value("204") == nil {
				t.Errorf("%s: no success response", name)
			}
			if !strings.HasPrefix(path, "/api/") {
				continue
			}
			for _, code := range []string{"429", "500", "503"} {
				if op.Responses.Value(code) == nil {
					t.Errorf("%s: no %s response", name, code)
				}
			}
			if op.RequestBody != nil {
				for _, code := range []string{"400", "413", "422"} {
					if op.Responses.Value(code) == nil {
						t.Errorf("%s: has a body but no %s response", name, code)
					}
				}
			}
			public := slices.Contains([]string{"/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh"}, path)
			if op.Security == nil {
				t.Errorf("%s: no security requirement stated", name)
				continue
			}
			if public != (len(*op.Security) == 0) {
				t.Errorf("%s: security %v, want public=%v", name, *op.Security, public)
			}
			if !public && op.Responses.Value("401") == nil {
				t.Errorf("%s: needs a token but has no 401 response", name)
			}
		}
	}
	if doc.Components.SecuritySchemes["bearerAuth"] == nil {
		t.Error("no bearerAuth security scheme")
	}
}
