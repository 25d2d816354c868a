# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
PKGS := ./...

.PHONY: run test test-short migrate migrate-down build lint vet fmt-check vulncheck bench bench-quick test-faults clean services

run: ## the whole system in the foreground: sandbox, API (migrates), worker
	@scripts/run.sh

services: ## start local Postgres/Redis if they are down
	@scripts/services.sh

test: services ## every test, with the race detector, against real Postgres and Redis
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	@scripts/promtool-test.sh

migrate: services build ## create the database if missing and apply migrations
	bin/api createdb && bin/api migrate

migrate-down: build ## roll back every migration
	bin/api migrate down

build: ## binaries into bin/
	$(GO) build -o bin/ ./cmd/...

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: vet fmt-check vulncheck ## go vet, gofmt, govulncheck and the OpenAPI linter
	@if [ -f scripts/lint-openapi.sh ]; then scripts/lint-openapi.sh; fi

# Standard-library findings only warn where the machine pins its toolchain
# (GOTOOLCHAIN=local): upgrading Go is not this repository's to do there.
vulncheck: ## govulncheck over every package (database built from the module proxy)
	@if [ "$$($(GO) env GOTOOLCHAIN)" = local ]; then VULNCHECK_STDLIB=warn scripts/govulncheck.sh; else scripts/govulncheck.sh; fi

bench: services ## the benchmark report (bench/results/<date>/report.md)
	@if [ -d cmd/loadgen ]; then $(GO) run ./cmd/loadgen; else echo "no benchmark harness yet (issue: Proof)"; fi

bench-quick: services
	@if [ -d cmd/loadgen ]; then $(GO) run ./cmd/loadgen -quick; else echo "no benchmark harness yet (issue: Proof)"; fi

clean:
	rm -rf bin/

test-faults: services ## the fault suite: real processes, kill -9, Redis flush/restart, Postgres restart, bank chaos, SIGTERM
	$(GO) test -tags faults -count=1 -timeout 60m -v ./internal/systest/
