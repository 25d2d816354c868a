#!/usr/bin/env bash
# Statement coverage from a `go test -coverpkg=… -coverprofile` profile: one line
# per package (covered %, statements), the total, and the packages under the
# 85 % bar of the certification checklist (docs/certification.md). Fails only
# below the floor given as $2 (default 80), so coverage cannot slide back
# unnoticed while the bar is not yet met everywhere.
set -euo pipefail
profile=${1:-coverage.out}
floor=${2:-80}
bar=85
[ -s "$profile" ] || { echo "coverage: no profile at $profile"; exit 1; }
awk -v floor="$floor" -v bar="$bar" '
  NR == 1 { next }                                  # mode: line
  {
    # file.go:l.c,l.c statements count; a block seen by several test binaries
    # counts once, covered if any of them ran it.
    n = $(NF-1); c = $NF; block = $1
    stmts[block] = n
    if (c > 0) hit[block] = 1
  }
  END {
    for (b in stmts) {
      file = b; sub(/:.*/, "", file)
      pkg = file; sub(/\/[^\/]*$/, "", pkg); sub(/^github.com\/banesco-verifier\/verifier/, ".", pkg)
      total[pkg] += stmts[b]; all += stmts[b]
      if (b in hit) { covered[pkg] += stmts[b]; cov += stmts[b] }
    }
    n = 0
    for (p in total) names[++n] = p
    # insertion sort: awk has no portable sort
    for (i = 2; i <= n; i++) { v = names[i]; for (j = i - 1; j > 0 && names[j] > v; j--) names[j+1] = names[j]; names[j+1] = v }
    printf "coverage by package (statements, -coverpkg across packages):\n"
    under = ""
    for (i = 1; i <= n; i++) {
      p = names[i]; pct = 100 * covered[p] / total[p]
      printf "  %5.1f%%  %5d  %s\n", pct, total[p], p
      if (pct < bar) under = under sprintf(" %s (%.1f%%)", p, pct)
    }
    pct = 100 * cov / all
    printf "coverage: %.1f%% of %d statements (bar %d%%, floor %d%%)\n", pct, all, bar, floor
    if (under != "") printf "coverage: under %d%%:%s\n", bar, under
    if (pct < floor) { printf "coverage: %.1f%% is below the floor of %d%%\n", pct, floor; exit 1 }
  }' "$profile"
