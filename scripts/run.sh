#!/usr/bin/env bash
# `make run`: the whole system in the foreground — bank sandbox, API (which
# migrates), worker — until Ctrl-C, which stops all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -f .env ] && set -a && . ./.env && set +a
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/verifier?sslmode=disable}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export API_ADDR=${API_ADDR:-:8080}
export WORKER_METRICS_ADDR=${WORKER_METRICS_ADDR:-:9091}
export LOG_FORMAT=${LOG_FORMAT:-console}
export ADMIN_EMAIL=${ADMIN_EMAIL:-admin@example.com}
export ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin-password-123}
export SANDBOX_ADDR=${SANDBOX_ADDR:-:8090}
export SANDBOX_DEMO=${SANDBOX_DEMO:-true}
sandbox_port=${SANDBOX_ADDR##*:}
export BANESCO_ENVIRONMENT=${BANESCO_ENVIRONMENT:-qa}
export BANESCO_QA_AUTH_URL=${BANESCO_QA_AUTH_URL:-http://127.0.0.1:$sandbox_port/token}
export BANESCO_QA_API_URL=${BANESCO_QA_API_URL:-http://127.0.0.1:$sandbox_port/transactions/financial-account/transactions}

if ! scripts/services.sh; then
  echo "make run: start the services above, then run it again." >&2
  exit 1
fi

echo "Building…"
go build -o bin/ ./cmd/...

bin/api createdb
bin/api migrate

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "Stopping…"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

bin/bank-sandbox & pids+=($!)
bin/api & pids+=($!)
bin/worker & pids+=($!)

api_port=${API_ADDR##*:}
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$api_port/health/ready" >/dev/null 2>&1 && break; sleep 0.2; done
cat <<MSG

  API          http://localhost:$api_port         (ready: /health/ready, docs: /docs)
  Dashboard    http://localhost:$api_port/monitoring  (log in as the admin below)
  Metrics      http://localhost:$api_port/metrics and http://localhost:${WORKER_METRICS_ADDR##*:}/metrics
  Bank sandbox http://localhost:$sandbox_port         (stats: /sandbox/stats)
  Admin login  $ADMIN_EMAIL / $ADMIN_PASSWORD

  Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
