# syntax=docker/dockerfile:1
# One image, every binary: api, worker and bank-sandbox (all of ./cmd/...).
# Pick the binary with the container command, e.g. `command: ["worker"]`.
#
#   docker build -t verifier .
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
    go build -ldflags="-s -w" -o /out/ ./cmd/...

# --- runtime -----------------------------------------------------------------
# Alpine rather than distroless so that compose healthchecks can use busybox wget.
FROM alpine:3.20
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 verifier \
 && adduser -S -D -H -u 10001 -G verifier verifier
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
# api :8080, worker metrics :9091, bank-sandbox :8090
EXPOSE 8080 9091 8090
# The API migrates the database at start; `api createdb` and `api migrate [up|down|status]`
# are also available as one-off commands.
CMD ["api"]
