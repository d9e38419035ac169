#!/usr/bin/env bash
# Run one stage of `make test` and print its name and how long it took.
# Usage: scripts/stage.sh NAME COMMAND...
name=$1; shift
t0=$(date +%s%N)
echo "==> $name"
"$@"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
printf '<== %s: %d.%01d s (exit %d)\n' "$name" $((ms / 1000)) $(((ms % 1000) / 100)) "$rc"
exit $rc
