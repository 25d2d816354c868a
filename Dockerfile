# syntax=docker/dockerfile:1
# Two images from one build:
#   app (the default, last stage)  api and worker; pick one with the container command,
#                                  e.g. `command: ["worker"]`
#   sandbox                        bank-sandbox only, the local stand-in for the bank
# The sandbox stays out of the app image: what talks to the real bank carries no fake bank.
#
#   docker build -t verifier .
#   docker build --target sandbox -t verifier-sandbox .
#   docker run --rm verifier api migrate status

ARG GO_VERSION=1.26.10

# --- build -------------------------------------------------------------------
FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath

# Dependencies first, so a code change does not download modules again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w" -o /out/ ./cmd/api ./cmd/worker ./cmd/bank-sandbox

# --- runtime base ------------------------------------------------------------
# Alpine rather than distroless so that healthchecks can use busybox wget.
FROM alpine:3.22 AS runtime
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 verifier \
 && adduser -S -D -H -u 10001 -G verifier verifier
USER 10001:10001

# --- sandbox -----------------------------------------------------------------
FROM runtime AS sandbox
COPY --from=build /out/bank-sandbox /usr/local/bin/
EXPOSE 8090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8090/health || exit 1
CMD ["bank-sandbox"]

# --- app (default) -----------------------------------------------------------
FROM runtime AS app
COPY --from=build /out/api /out/worker /usr/local/bin/
# api :8080, worker metrics and /health :9091
EXPOSE 8080 9091
# One image, two roles: healthy when this container's API is ready or its worker's
# /health answers (each pings Postgres and Redis). Compose and Kubernetes use their
# own per-role checks; this one serves a plain `docker run`.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/health/ready || wget -q -O /dev/null http://127.0.0.1:9091/health || exit 1
# The API migrates the database at start unless MIGRATE_ON_START=false; `api createdb`,
# `api migrate [up|down|status|preview|wait]` are one-off commands.
CMD ["api"]
