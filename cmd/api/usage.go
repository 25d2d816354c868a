package main

const usage = `api serves the public HTTP interface: auth, transactions, health, /metrics,
/monitoring (Asynqmon, admins only), /openapi.yaml and /docs. It migrates the
database at start, unless MIGRATE_ON_START=false (then it refuses an older schema).

usage:
  api                        serve on API_ADDR
  api createdb               create the database of DATABASE_URL if it is missing
  api migrate [up]           apply pending migrations (prints what data migrations flag)
  api migrate preview        run pending migrations in a rolled-back transaction and print their report
  api migrate down           roll back every migration
  api migrate status         print the schema version
  api migrate wait           block until another process has migrated the schema to this binary's
  api -h | --help            this text
  api --version              version, commit and build date

environment (defaults in .env.example; a bad value stops the process naming it):
  APP_ENV, API_ADDR, DATABASE_URL, DATABASE_MAX_CONNS, REDIS_URL, LOG_LEVEL, LOG_FORMAT,
  JWT_SECRET, ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, AUTH_REGISTRATION, ADMIN_EMAIL,
  ADMIN_PASSWORD, CORS_ALLOWED_ORIGINS, API_RATE_LIMIT, LOGIN_MAX_FAILURES,
  LOGIN_FAILURE_WINDOW, VERIFY_DEADLINE, VERIFY_DEADLINE_<BANK>, BANESCO_PER_TRANSACTION_PER_MINUTE,
  MONITORING_READ_ONLY, WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOW_PRIVATE, WEBHOOK_SECRET_KEY,
  MIGRATE_ON_START
`
