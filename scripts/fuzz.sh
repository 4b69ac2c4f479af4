#!/bin/bash
# Runs every fuzz target in the module for FUZZTIME each (default 30s).
# Seed corpora live in each package's testdata/fuzz; a failing input is
# written there too, so it becomes a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
t="${FUZZTIME:-30s}"
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg="./$(dirname "${f#./}")"
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r fn; do
		echo "== $pkg $fn ($t)"
		go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$t" "$pkg"
	done
done
