#!/usr/bin/env bash
# Checks the Prometheus config and alert rules and runs their unit tests
# (`promtool test rules`) when they exist.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
tests=(monitoring/prometheus/tests/*.yml)
[ ${#tests[@]} -eq 0 ] && exit 0
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool missing: apt-get install -y prometheus" >&2
  exit 1
fi
promtool check config monitoring/prometheus/prometheus.yml
promtool check rules monitoring/prometheus/rules/*.yml
promtool test rules "${tests[@]}"
