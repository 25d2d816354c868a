package main

const usage = `worker checks transactions with the bank and delivers webhooks: it runs the
verify, sweep and webhook tasks of Asynq under the bank's limits (shared by every replica through Redis) and
serves /metrics and /health on WORKER_METRICS_ADDR.

usage:
  worker                     run until SIGTERM (in-flight checks finish, the rest return to the queue)
  worker ops <command>       operator commands, safe while workers run (worker ops for the list)
  worker bank <command>      the bank certification kit: token, check, certify (worker bank for the list)
  worker -h | --help         this text
  worker --version           version, commit and build date

environment (defaults in .env.example; a bad value stops the process naming it):
  DATABASE_URL, DATABASE_MAX_CONNS, REDIS_URL, LOG_LEVEL, LOG_FORMAT, WORKER_METRICS_ADDR,
  WORKER_CONCURRENCY, WORKER_POLL_INTERVAL, WORKER_SHUTDOWN_TIMEOUT, SWEEP_INTERVAL,
  VERIFY_SCHEDULE, VERIFY_SCHEDULE_<BANK>, VERIFY_DEADLINE, VERIFY_OUTAGE_BACKOFF, VERIFY_RANGE_TOO_WIDE_REVIEW_AFTER,
  BANESCO_MAX_RPS, BANESCO_PER_TRANSACTION_PER_MINUTE,
  webhooks: WEBHOOK_CONCURRENCY, WEBHOOK_POLL_INTERVAL, WEBHOOK_SCHEDULE, WEBHOOK_TIMEOUT,
  WEBHOOK_DISABLE_AFTER, WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOW_PRIVATE, WEBHOOK_SECRET_KEY,
  EVENT_RETENTION,
  the bank: BANESCO_ENVIRONMENT, BANESCO_QA_* / BANESCO_PROD_* (AUTH_URL, API_URL, CLIENT_ID,
  CLIENT_SECRET), BANESCO_GRANT_TYPE, BANESCO_SCOPE, BANESCO_ACCOUNT_ID, BANESCO_TIMEOUT,
  BANESCO_TRANSFER_BANK_ID, BANESCO_DATE_MATCH, BANESCO_DATE_LOOKBACK_DAYS, BANESCO_CURRENCY,
  BANESCO_CONNECT_RETRIES, BANESCO_CA_FILE, BANESCO_DEVICE_IP, BANESCO_MAINTENANCE_WINDOW
  (docs/bank.md says what each does)
`
