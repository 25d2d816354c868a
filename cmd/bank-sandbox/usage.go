package main

const usage = `bank-sandbox is a stand-in for the bank's API (docs/bank.md): the token and
check endpoints, the bank's limits and quirks, fault injection and a demo mode.
Admin routes: POST /sandbox/payments, POST /sandbox/scripts, PUT|GET /sandbox/faults,
POST /sandbox/expire-tokens, POST /sandbox/reset, GET /sandbox/stats, GET /sandbox/arrivals.

usage:
  bank-sandbox               serve on SANDBOX_ADDR (default :8090)
  bank-sandbox -h | --help   this text
  bank-sandbox --version     version, commit and build date

environment (defaults in .env.example and cmd/bank-sandbox/config.go):
  SANDBOX_ADDR, SANDBOX_FLAVOR, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_ACCOUNT_ID,
  SANDBOX_MAX_RPS, SANDBOX_PER_REFERENCE_PER_MINUTE, SANDBOX_TOKEN_REQUESTS_PER_MINUTE,
  SANDBOX_TOKEN_TTL, SANDBOX_REFUSE_CLIENT_CREDENTIALS, SANDBOX_TRANSFER_WITHOUT_BANK_ID,
  SANDBOX_MAX_RANGE_DAYS, SANDBOX_MAINTENANCE_WINDOW, SANDBOX_TLS_CERT, SANDBOX_TLS_KEY,
  SANDBOX_DEMO, SANDBOX_SETTLE_AFTER, SANDBOX_FAULT_* (rate_limited, retry_after, server_error,
  maintenance, slow, slow_delay, malformed, token_ttl, maintenance_for, maintenance_code,
  range_too_wide_once, token_refusal, align_replies), LOG_LEVEL, LOG_FORMAT
`
