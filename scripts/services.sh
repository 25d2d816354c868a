#!/usr/bin/env bash
# Makes sure Postgres and Redis answer on their local ports. On this project's
# machines (Debian, services installed but maybe stopped) it starts them; elsewhere
# it says what to run. Used by `make test`, `make run` and .ci/run.
set -euo pipefail

PGHOST_=${PGHOST_:-127.0.0.1}
pg_up() { pg_isready -q -h "$PGHOST_" -p 5432 2>/dev/null || (exec 3<>/dev/tcp/$PGHOST_/5432) 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  fi
fi
if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "services: starting Redis" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
    for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  fi
fi

ok=1
if ! pg_up; then
  ok=0
  echo "PostgreSQL is not reachable on 127.0.0.1:5432." >&2
  echo "  Debian/Ubuntu: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
  echo "  With Docker:   docker compose up -d postgres redis" >&2
fi
if ! redis_up; then
  ok=0
  echo "Redis is not reachable on 127.0.0.1:6379." >&2
  echo "  Debian/Ubuntu: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no" >&2
  echo "  With Docker:   docker compose up -d postgres redis" >&2
fi
[ "$ok" = 1 ]
