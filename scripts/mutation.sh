#!/usr/bin/env bash
# Mutation testing (make mutation) with gremlins, pinned below and installed into
# bin/tools/ on first use (not in go.mod). For each package it changes one operator
# at a time in the package's non-test code (a "mutant": `<` to `<=`, `==` to `!=`,
# `+` to `-`, ...), runs that package's tests against it, and counts the mutants
# the tests catch (KILLED) and the ones they let through (LIVED).
#
#   score = killed / (killed + lived)
#
# Mutants on lines no test of the package runs are NOT COVERED (not tried); a mutant
# whose tests ran past the timeout (the clean run's time x MUTATION_TIMEOUT_COEF) is
# TIMED OUT; one that does not compile (`+` on strings turned into `-`) is NOT
# VIABLE. Neither of those two counts in the score.
#
# Safety: the repository is never mutated. This script copies the working tree
# (tracked and untracked files, not what .gitignore ignores, nor .git or
# bench/results) to a temporary directory, and gremlins copies that again, once per
# worker, before it changes a file. Ctrl-C or a failure removes the copies.
#
# Variables (make mutation VAR=value):
#   MUTATION_PKGS          packages to test (default: internal/banesco internal/auth;
#                          "all" = internal/banesco internal/auth internal/transaction
#                          internal/verify). Each mutant runs the package's whole test
#                          suite: on 2 cores internal/transaction and internal/verify take
#                          hours (see bench/results/mutation/ for measured times).
#   MUTATION_RUN           a -run regexp (no spaces) for every go test of this run, the
#                          coverage run included, e.g. MUTATION_RUN='^TestCreate' to try
#                          only the mutants those tests reach; the others are NOT COVERED.
#   MUTATION_SKIP          a -skip regexp (no spaces), the same way: the tests to leave out.
#                          For internal/verify (80 s, most of it TestThreeWorkersKeepTheBankLimits
#                          and TestOnePaymentConfirmsOneTransaction) skipping those two was not
#                          enough (a mutant still took 1.5-3 min, 2 at a time); the handler's
#                          and the limiter's own tests are (~2 mutants a minute):
#                          MUTATION_RUN='^Test(BankReplies|NotFoundYetIsScheduled|DeadlinePassedIsUnknown|CredentialsRejected|Limiter.*|ReferencesSharingATailShareTheLimit|ConcurrentGrantsForOneReference|Sweeper.*|RetryDelayNeverCutsAWaitShort|PostgresDownIsARetriedFailure|RedisDownIsNotAGrant|DuplicateDeliveryRecordsOnce)$'
#   MUTATION_EXCLUDE       a regexp of source files to leave unmutated (gremlins -E), e.g.
#                          MUTATION_EXCLUDE='handler\.go' to finish a package whose
#                          handler.go was already scored; the report says so.
#   MUTATION_DRY_RUN=1     list the mutants and whether a test reaches them, without
#                          testing any (this still runs each package's tests once, for
#                          coverage; with MUTATION_RUN='^$' it runs none and lists every
#                          mutant as NOT COVERED: a count that needs no database).
#   MUTATION_WORKERS       mutants tested in parallel (default: the number of cores).
#   MUTATION_TIMEOUT_COEF  a mutant's tests time out after the clean coverage run's time
#                          times this. Default per package: 10 for internal/banesco and
#                          internal/auth (a 4 s suite: rebuilding the mutated package and
#                          relinking its test binary, with the other worker busy, took
#                          more than 3x of it and gremlins' default of 3 booked sound
#                          mutants as TIMED OUT), 5 for internal/transaction, 3 otherwise.
#   MUTATION_OUT           where the report goes (default bench/results/mutation/<date>):
#                          report.md, and per package <pkg>.json (gremlins' output),
#                          <pkg>.log (every mutant) and <pkg>.meta.json (how it was run);
#                          a dry run writes <pkg>.dry.* instead, so it never replaces a real one.
#                          report.md covers every <pkg>.json in that directory, so runs of
#                          different packages on the same day add up to one report.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

GREMLINS_VERSION=v0.6.0
ALL_PKGS="internal/banesco internal/auth internal/transaction internal/verify"

pkgs=${MUTATION_PKGS:-internal/banesco internal/auth}
[ "$pkgs" = all ] && pkgs=$ALL_PKGS
# MUTATION_PKGS=none only rewrites report.md from the results already in the folder.
[ "$pkgs" = none ] && pkgs=""
run_re=${MUTATION_RUN:-}
skip_re=${MUTATION_SKIP:-}
exclude_re=${MUTATION_EXCLUDE:-}
dry=${MUTATION_DRY_RUN:-}
workers=${MUTATION_WORKERS:-$(nproc)}
coef_for() {
  if [ -n "${MUTATION_TIMEOUT_COEF:-}" ]; then
    echo "$MUTATION_TIMEOUT_COEF"
    return
  fi
  case $1 in
  internal/banesco | internal/auth) echo 10 ;;
  internal/transaction) echo 5 ;;
  *) echo 3 ;;
  esac
}
out=${MUTATION_OUT:-bench/results/mutation/$(date +%F)}

case "$run_re$skip_re$exclude_re" in *[[:space:]]*)
  echo "mutation: MUTATION_RUN and MUTATION_SKIP must not contain spaces (they travel in GOFLAGS)" >&2
  exit 2
  ;;
esac
for p in $pkgs; do
  if [ ! -d "$p" ]; then
    echo "mutation: no package directory $p (MUTATION_PKGS is a list of directories like internal/auth)" >&2
    exit 2
  fi
done
command -v jq >/dev/null 2>&1 || {
  echo "mutation: needs jq (apt-get install -y jq)" >&2
  exit 1
}

# The pinned tool, in a directory named after its version so a bump reinstalls.
gremlins_dir=$root/bin/tools/gremlins-$GREMLINS_VERSION
gremlins=$gremlins_dir/gremlins
if [ ! -x "$gremlins" ]; then
  echo "mutation: installing gremlins $GREMLINS_VERSION into ${gremlins_dir#"$root"/}"
  GOBIN=$gremlins_dir GOFLAGS=-buildvcs=false go install "github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION"
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mutation.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
src=$tmp/src
mkdir -p "$src" "$tmp/t" "$tmp/gobin" "$tmp/goout"

# A snapshot of the working tree: what others edit meanwhile does not leak into a
# run half-way, and what gremlins copies per worker stays small.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard -- . ':!:bench/results' |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$src" -xf -
else
  tar --exclude=./.git --exclude=./bin --exclude=./bench/results -cf - . | tar -C "$src" -xf -
fi

# gremlins v0.6.0 books a mutant that does not compile as KILLED: `go test` exits 1
# for a failing test and for a failed build alike, and gremlins reads exit 2 as
# NOT VIABLE. This `go`, first on gremlins' PATH, answers 2 when go test says the
# build failed, so such mutants are NOT VIABLE and stay out of the score.
real_go=$(command -v go)
cat >"$tmp/gobin/go" <<EOF
#!/usr/bin/env bash
[ "\${1:-}" = test ] || exec "$real_go" "\$@"
log=\$(mktemp "$tmp/goout/test.XXXXXX")
rc=0
"$real_go" "\$@" >"\$log" 2>&1 || rc=\$?
cat "\$log"
if [ "\$rc" = 1 ] && grep -qE '\[(build|setup) failed\]' "\$log"; then rc=2; fi
rm -f "\$log"
exit "\$rc"
EOF
chmod +x "$tmp/gobin/go"

# -count=1: a cached coverage run would report ~0 s and gremlins derives every
# mutant's timeout from it. -trimpath: the per-worker copies live in other
# directories, and without it every worker's first mutant rebuilds every package
# of the module (the directory is part of the build cache key), which can outlast
# the timeout of a fast package.
goflags="${GOFLAGS:-} -count=1 -trimpath"
[ -n "$run_re" ] && goflags="$goflags -run=$run_re"
[ -n "$skip_re" ] && goflags="$goflags -skip=$skip_re"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(if [ -n "$(git status --porcelain -- . ':!:bench/results' 2>/dev/null)" ]; then echo true; else echo false; fi)

total_start=$(date +%s)
for p in $pkgs; do
  slug=${p//\//-}${dry:+.dry}
  coef=$(coef_for "$p")
  flags=(--workers "$workers" --timeout-coefficient "$coef")
  [ -n "$dry" ] && flags+=(--dry-run)
  [ -n "$exclude_re" ] && flags+=(--exclude-files "$exclude_re")
  echo "== mutation: $p (workers $workers, timeout x$coef${run_re:+, -run $run_re}${skip_re:+, -skip $skip_re}${dry:+, dry run})"
  start=$(date +%s)
  rc=0
  (cd "$src" && PATH="$tmp/gobin:$PATH" TMPDIR=$tmp/t GOFLAGS="$goflags" \
    "$gremlins" unleash "$src/$p" "${flags[@]}" --output "$out/$slug.json") 2>&1 |
    sed -u 's/\x1b\[[0-9;]*m//g' | tee "$out/$slug.log" || rc=$?
  secs=$(($(date +%s) - start))
  if [ "$rc" != 0 ] || [ ! -s "$out/$slug.json" ]; then
    echo "mutation: gremlins failed on $p (log: ${out#"$root"/}/$slug.log)" >&2
    exit 1
  fi
  jq -n --arg pkg "$p" --arg gremlins "$GREMLINS_VERSION" --arg run "$run_re" --arg skip "$skip_re" --arg exclude "$exclude_re" \
    --argjson dry "$([ -n "$dry" ] && echo true || echo false)" \
    --argjson workers "$workers" --argjson coef "$coef" --argjson seconds "$secs" \
    --arg commit "$commit" --argjson dirty "$dirty" --arg date "$(date -u +%FT%TZ)" \
    --arg go "$(go env GOVERSION)" --arg cores "$(nproc)" \
    '{pkg: $pkg, gremlins: $gremlins, go: $go, cores: ($cores | tonumber), workers: $workers,
      timeout_coefficient: $coef, run: $run, skip: $skip, exclude: $exclude, dry_run: $dry, seconds: $seconds,
      commit: $commit, dirty: $dirty, finished: $date}' >"$out/$slug.meta.json"
  echo "== mutation: $p took ${secs}s"
done
echo "== mutation: all took $(($(date +%s) - total_start))s"

# The report: one row per package tested in $out, then the mutants that lived.
{
  echo "# Mutation testing, $(basename "$out")"
  echo
  echo "\`make mutation\` (scripts/mutation.sh): gremlins $GREMLINS_VERSION; each package's mutants are"
  echo "tried against that package's own tests. Score = killed / (killed + lived); NOT COVERED"
  echo "mutants are on lines those tests never run; TIMED OUT and NOT VIABLE (does not compile)"
  echo "are left out of the score. Mutators: gremlins' defaults (arithmetic base, conditionals"
  echo "boundary and negation, increment/decrement, invert negatives)."
  echo
  echo "| package | score | killed | lived | not covered | timed out | not viable | mutants | time | how |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for j in "$out"/*.json; do
    case "$j" in *.meta.json) continue ;; esac
    m=${j%.json}.meta.json
    [ -f "$m" ] || continue
    jq -r -s '.[0] as $r | .[1] as $m
      | [$r.files[].mutations[].status] as $s
      | def n(x): [$s[] | select(. == x)] | length;
      (n("KILLED")) as $k | (n("LIVED")) as $l
      | "| \($m.pkg) | \(if $m.dry_run then "dry run: \(n("RUNNABLE")) covered" elif ($k + $l) > 0 then "\((1000 * $k / ($k + $l) | round) / 10)%" else "-" end)"
        + " | \($k) | \($l) | \(n("NOT COVERED")) | \(n("TIMED OUT")) | \(n("NOT VIABLE"))"
        + " | \($s | length) | \(($m.seconds / 60 * 10 | round) / 10) min"
        + " | \($m.workers) workers, timeout x\($m.timeout_coefficient)\(if $m.run != "" then ", -run `\($m.run)`" else "" end)\(if ($m.skip // "") != "" then ", -skip `\($m.skip)`" else "" end)\(if ($m.exclude // "") != "" then ", files `\($m.exclude)` left out" else "" end), \($m.commit)\(if $m.dirty then "+dirty" else "" end) |"' \
      "$j" "$m"
  done
  echo
  echo "Mutants per type (all statuses):"
  echo
  for j in "$out"/*.json; do
    case "$j" in *.meta.json) continue ;; esac
    m=${j%.json}.meta.json
    [ -f "$m" ] || continue
    jq -r -s '.[1].pkg as $p | [.[0].files[].mutations[].type] | group_by(.)
      | "- \($p): " + (map("\(.[0]) \(length)") | join(", "))' "$j" "$m"
  done
  echo
  echo "## Mutants that lived"
  echo
  echo "Each one is a change to the code that every test of its package still passes."
  echo
  for j in "$out"/*.json; do
    case "$j" in *.meta.json) continue ;; esac
    m=${j%.json}.meta.json
    [ -f "$m" ] || continue
    jq -r -s '.[1].pkg as $p | [.[0].files[] | .file_name as $f | .mutations[]
      | select(.status == "LIVED" or .status == "TIMED OUT") | {f: $f, line, column, type, status}]
      | sort_by(.f, .line, .column)
      | .[] | "- `\($p)/\(.f):\(.line):\(.column)` \(.type)\(if .status != "LIVED" then " (\(.status))" else "" end)"' \
      "$j" "$m"
  done
  echo
  echo "Re-run: \`make mutation MUTATION_PKGS='...'\`; every mutant with its status is in <pkg>.log."
  if [ -f "$out/notes.md" ]; then
    echo
    echo "Which of these are test gaps and which are equivalent mutants: [notes.md](notes.md)."
  fi
} >"$out/report.md"
echo "mutation: report in ${out#"$root"/}/report.md"
