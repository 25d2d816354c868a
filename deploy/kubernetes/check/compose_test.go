package main

import (
	"os"
	"strings"
	"testing"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCompose(t *testing.T) {
	for _, p := range CheckCompose([]byte(read(t, "../../../docker-compose.yml"))) {
		t.Error(p)
	}
}

func TestDockerfile(t *testing.T) {
	for _, p := range CheckDockerfile(read(t, "../../../Dockerfile")) {
		t.Error(p)
	}
}

func TestBrokenComposeFails(t *testing.T) {
	text := read(t, "../../../docker-compose.yml")
	for _, c := range []struct{ name, old, new, want string }{
		{"unpinned image", "image: postgres:15.20", "image: postgres:15", `image "postgres:15" is not pinned`},
		{"latest image", "image: redis:7.2", "image: redis:latest", `image "redis:latest" is not pinned`},
		{"fixed container name", "  worker:\n", "  worker:\n    container_name: verifier-worker\n", "container_name"},
		{"worker host port", "    expose:\n      - \"9091\"\n", "    ports:\n      - \"127.0.0.1:9091:9091\"\n", "a host port allows one replica only"},
		{"api on every interface", `"${API_BIND:-127.0.0.1}:8080:8080"`, `"8080:8080"`, `port "8080:8080" is published on every interface`},
		{"worker health on metrics", "http://127.0.0.1:9091/health\"", "http://127.0.0.1:9091/metrics\"", "healthcheck on /metrics"},
		{"short grace", "stop_grace_period: 45s", "stop_grace_period: 30s", "stop_grace_period 30s must exceed"},
		{"started, not healthy", "      api:\n        condition: service_healthy", "      api:\n        condition: service_started", `depends_on api has condition "service_started"`},
		{"short depends_on", "    depends_on:\n      prometheus:\n        condition: service_healthy\n", "    depends_on:\n      - prometheus\n", "long form"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(text, c.old) {
				t.Fatalf("docker-compose.yml has no %q to break", c.old)
			}
			if p := CheckCompose([]byte(strings.Replace(text, c.old, c.new, 1))); !containsProblem(p, c.want) {
				t.Fatalf("problems = %q; want one containing %q", p, c.want)
			}
		})
	}
}

func TestBrokenDockerfileFails(t *testing.T) {
	text := read(t, "../../../Dockerfile")
	for _, c := range []struct{ name, old, new, want string }{
		{"every binary", "./cmd/api ./cmd/worker ./cmd/bank-sandbox", "./cmd/...", "builds every ./cmd/..."},
		{"sandbox in the app image", "COPY --from=build /out/api /out/worker /usr/local/bin/", "COPY --from=build /out/ /usr/local/bin/\nCOPY --from=build /out/bank-sandbox /usr/local/bin/", "the default stage ships bank-sandbox"},
		{"no healthcheck", "HEALTHCHECK --interval=10s --timeout=3s --start-period=10s", "#", "has no HEALTHCHECK"},
		{"root", "USER 10001:10001", "USER root", "does not run as user 10001"},
		{"unpinned base", "FROM alpine:3.22 AS runtime", "FROM alpine AS runtime", "FROM alpine is not pinned"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(text, c.old) {
				t.Fatalf("Dockerfile has no %q to break", c.old)
			}
			if p := CheckDockerfile(strings.Replace(text, c.old, c.new, 1)); !containsProblem(p, c.want) {
				t.Fatalf("problems = %q; want one containing %q", p, c.want)
			}
		})
	}
}
