package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// composeFile is the part of docker-compose.yml the rules look at (decoded
// loosely: compose has many more fields, and its own tool validates those).
type composeFile struct {
	Services map[string]struct {
		Image         string          `json:"image"`
		Build         json.RawMessage `json:"build"`
		ContainerName string          `json:"container_name"`
		Ports         []string        `json:"ports"`
		DependsOn     json.RawMessage `json:"depends_on"`
		Healthcheck   *struct {
			Test    []string `json:"test"`
			Disable bool     `json:"disable"`
		} `json:"healthcheck"`
		StopGracePeriod string            `json:"stop_grace_period"`
		Environment     map[string]string `json:"environment"`
	} `json:"services"`
}

var (
	pinnedMinor = regexp.MustCompile(`^[^:]+:v?\d+\.\d+`) // name:1.2, name:v1.2.3, name:15.20-alpine
	localBind   = regexp.MustCompile(`^(127\.0\.0\.1|\$\{[A-Z_]+:-127\.0\.0\.1\}):`)
	envDefault  = regexp.MustCompile(`^\$\{[A-Z_]+:-([^}]*)\}$`)
)

// CheckCompose asserts what `docker compose up --scale worker=3` and the docs
// rely on; it needs no Docker engine.
func CheckCompose(text []byte) []string {
	var p problems
	var f composeFile
	js, err := yaml.YAMLToJSON(text) // resolves anchors and << merges
	if err != nil {
		return []string{"docker-compose.yml: " + err.Error()}
	}
	if err := json.Unmarshal(js, &f); err != nil {
		return []string{"docker-compose.yml: " + err.Error()}
	}
	healthWants := map[string][]string{
		"postgres":     {"pg_isready"},
		"redis":        {"redis-cli", "ping"},
		"bank-sandbox": {"wget", ":8090/health"},
		"api":          {"wget", ":8080/health/ready"},
		"worker":       {"wget", ":9091/health"},
		"prometheus":   {"wget"},
		"grafana":      {"wget"},
	}
	for name := range healthWants {
		if _, ok := f.Services[name]; !ok {
			p.add("compose: no service %s", name)
		}
	}
	for name, s := range f.Services {
		where := "compose service " + name
		if s.ContainerName != "" {
			p.add("%s: container_name %q (one fixed name per service stops --scale)", where, s.ContainerName)
		}
		switch {
		case s.Image == "":
			p.add("%s: no image", where)
		case len(s.Build) > 0:
			if !strings.HasSuffix(s.Image, ":local") {
				p.add("%s: a built image is tagged :local, not %q, so it never shadows a pulled one", where, s.Image)
			}
		case !pinnedMinor.MatchString(s.Image):
			p.add("%s: image %q is not pinned to a minor version (name:X.Y)", where, s.Image)
		}
		hc := s.Healthcheck
		if hc == nil || hc.Disable || len(hc.Test) == 0 {
			p.add("%s: no healthcheck", where)
		} else if wants, ok := healthWants[name]; ok {
			test := strings.Join(hc.Test, " ")
			for _, w := range wants {
				if !strings.Contains(test, w) {
					p.add("%s: healthcheck %q does not use %q", where, test, w)
				}
			}
			if name == "worker" && strings.Contains(test, "/metrics") {
				p.add("%s: healthcheck on /metrics; /health is the one that pings Postgres and Redis", where)
			}
		}
		for _, port := range s.Ports {
			if !localBind.MatchString(port) {
				p.add("%s: port %q is published on every interface; bind 127.0.0.1 by default", where, port)
			}
		}
		if len(s.DependsOn) > 0 {
			var deps map[string]struct {
				Condition string `json:"condition"`
			}
			if err := json.Unmarshal(s.DependsOn, &deps); err != nil {
				p.add("%s: depends_on must be the long form with condition: service_healthy", where)
			}
			for dep, d := range deps {
				if d.Condition != "service_healthy" {
					p.add("%s: depends_on %s has condition %q, want service_healthy", where, dep, d.Condition)
				}
			}
		}
	}
	if w, ok := f.Services["worker"]; ok {
		if len(w.Ports) > 0 {
			p.add("compose service worker: publishes %q; a host port allows one replica only", w.Ports)
		}
		shutdown := 15 * time.Second
		if v := w.Environment["WORKER_SHUTDOWN_TIMEOUT"]; v != "" {
			if m := envDefault.FindStringSubmatch(v); m != nil {
				v = m[1]
			}
			if d, err := time.ParseDuration(v); err == nil {
				shutdown = d
			}
		}
		grace, err := time.ParseDuration(w.StopGracePeriod)
		if err != nil {
			grace = 10 * time.Second // compose's default
		}
		if need := 2*shutdown + 5*time.Second; grace <= need {
			p.add("compose service worker: stop_grace_period %v must exceed 2 x WORKER_SHUTDOWN_TIMEOUT + 5 s = %v", grace, need)
		}
	}
	for name, bind := range map[string]string{"api": "API_BIND", "bank-sandbox": "SANDBOX_BIND"} {
		if s, ok := f.Services[name]; ok && !slices.ContainsFunc(s.Ports, func(port string) bool {
			return strings.HasPrefix(port, "${"+bind+":-127.0.0.1}:")
		}) {
			p.add("compose service %s: publish it as ${%s:-127.0.0.1}:<port>:<port> (local by default, overridable)", name, bind)
		}
	}
	slices.Sort(p)
	return p
}

// CheckDockerfile asserts the image's shape: pinned bases, a non-root user, a
// HEALTHCHECK, and only api and worker in the default (last) stage.
func CheckDockerfile(text string) []string {
	var p problems
	type stage struct{ from, name, body string }
	var stages []stage
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			s := stage{from: f[1]}
			if len(f) >= 4 && strings.EqualFold(f[2], "AS") {
				s.name = f[3]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) > 0 && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			stages[len(stages)-1].body += line + "\n"
		}
	}
	if len(stages) == 0 {
		return []string{"Dockerfile: no FROM"}
	}
	names := map[string]stage{}
	for _, s := range stages {
		names[s.name] = s
		if _, internal := names[s.from]; internal || strings.Contains(s.from, "${") {
			continue // an earlier stage, or the pinned GO_VERSION build argument
		}
		if !pinnedMinor.MatchString(s.from) {
			p.add("Dockerfile: FROM %s is not pinned to a minor version", s.from)
		}
	}
	last := stages[len(stages)-1]
	// A stage's user and files include those of the stages it is built FROM.
	chain := func(s stage) string {
		body := s.body
		for b, ok := names[s.from]; ok; b, ok = names[b.from] {
			body = b.body + body
		}
		return body
	}
	body := chain(last)
	if !strings.Contains(body, "HEALTHCHECK") {
		p.add("Dockerfile: the default stage %q has no HEALTHCHECK", last.name)
	}
	if !strings.Contains(body, "USER 10001") {
		p.add("Dockerfile: the default stage %q does not run as user 10001", last.name)
	}
	if strings.Contains(text, "./cmd/...") {
		p.add("Dockerfile: builds every ./cmd/... binary; build only the ones the images ship")
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "COPY --from=build") {
			for _, bin := range []string{"bank-sandbox", "loadgen"} {
				if strings.Contains(line, bin) {
					p.add("Dockerfile: the default stage ships %s: %s", bin, strings.TrimSpace(line))
				}
			}
		}
	}
	if sb, ok := names["sandbox"]; !ok || !strings.Contains(chain(sb), "HEALTHCHECK") {
		p.add("Dockerfile: no sandbox stage with a HEALTHCHECK (docker-compose.yml builds target sandbox)")
	}
	slices.Sort(p)
	return p
}
