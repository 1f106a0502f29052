#!/usr/bin/env bash
# national-list.sh - prints, as one Citizen Lab CSV (header + rows, categories kept), the test
# lists the testbed's national world serves (they are listed in $CS_TESTBED_DIR/world.files).
set -euo pipefail
files=${CS_TESTBED_DIR:-/run/cs-testbed}/world.files
head -1 "$(head -1 "$files")"
while read -r f; do tail -n +2 "$f"; done <"$files"
