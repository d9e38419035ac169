#!/usr/bin/env bash
# Run each cmocka unit-test binary in its own process with a time limit and add up the
# results. Usage: scripts/run-unit.sh BUILD_DIR BINARY...
set -u
build=$1; shift
pass=0; fail=0; skip=0; failed=()
for t in "$@"; do
  log="$t.log"
  if timeout 300 "$t" >"$log" 2>&1; then
    n=$(grep -c '^\[       OK \]' "$log")
    pass=$((pass + n))
    s=$(grep '^\[  SKIPPED \] test_' "$log" | sort -u | wc -l)
    if [ "$s" -gt 0 ]; then
      skip=$((skip + s)); grep '^\[  SKIPPED \] test_' "$log" | sort -u | sed "s|^|  $(basename "$t"): |"
    fi
  else
    ok=$(grep -c '^\[       OK \]' "$log"); bad=$(grep '^\[  FAILED  \] test_' "$log" | sort -u | wc -l)
    pass=$((pass + ok)); fail=$((fail + (bad > 0 ? bad : 1)))
    failed+=("$t")
    echo "---- $t"; tail -40 "$log"
  fi
done
echo "unit ($build): $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
