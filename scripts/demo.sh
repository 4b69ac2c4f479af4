#!/bin/bash
# `make demo`: a three-node MariaDB replication sandbox in .sandbox/ with the
# proxy in front of it. Ctrl-C stops the proxy and tears the sandbox down.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/switchyard
dir=.sandbox

if [ -e "$dir/sandbox.json" ]; then
	echo "demo: tearing down the sandbox a previous demo left in $dir"
	"$bin" sandbox down --dir "$dir" || true
fi
rm -rf "$dir"

# The foreground work runs as a background child that the script waits
# for: `wait` returns as soon as a signal arrives, a foreground child would
# delay the trap until it exits by itself.
child=""
cleanup() {
	trap - INT TERM EXIT
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	echo
	"$bin" sandbox down --dir "$dir" || true
}
trap cleanup INT TERM EXIT

"$bin" sandbox up --dir "$dir"
echo

echo "demo: starting the proxy; connect with the commands above. Ctrl-C stops everything."
"$bin" serve --config "$dir/switchyard.yaml" &
child=$!
wait "$child" || true
