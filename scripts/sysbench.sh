#!/bin/bash
# `make sysbench`: issue 3's acceptance run. sysbench oltp_read_write with and
# without server-side prepared statements, THREADS threads for TIME seconds,
# through Switchyard (read/write split on) and directly against the primary,
# on a fresh sandbox. Passes when every run completes without an error (InnoDB
# deadlocks, 1213 and 1020, are part of the workload: sysbench retries them
# and counts them as "ignored", here as directly) and, afterwards, every node
# holds identical tables (CHECKSUM TABLE).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/switchyard
THREADS=${THREADS:-16}
TIME=${TIME:-60}
TABLES=${TABLES:-8}
SIZE=${SIZE:-10000}
dir=$(mktemp -d /tmp/switchyard-sysbench.XXXXXX)
base=${BASE_PORT:-24306}
app=${APP_PORT:-24033}

proxy=""
cleanup() {
	[ -n "$proxy" ] && kill "$proxy" 2>/dev/null && wait "$proxy" 2>/dev/null || true
	"$bin" sandbox down --dir "$dir/sb" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$bin" sandbox up --dir "$dir/sb" --base-port "$base" >/dev/null
sed -e "s/app: 127.0.0.1:6033/app: 127.0.0.1:$app/" \
	-e "s/admin: 127.0.0.1:6032/admin: 127.0.0.1:$((app + 1))/" \
	-e "s/metrics: 127.0.0.1:9104/metrics: 127.0.0.1:$((app + 2))/" \
	"$dir/sb/switchyard.yaml" >"$dir/switchyard.yaml"
"$bin" serve --config "$dir/switchyard.yaml" 2>"$dir/proxy.log" &
proxy=$!
for _ in $(seq 50); do
	mariadb -h127.0.0.1 -P"$app" -uapp -papp -e 'SELECT 1' >/dev/null 2>&1 && break
	sleep 0.2
done

mariadb -h127.0.0.1 -P"$base" -uapp -papp -e 'CREATE DATABASE sbtest'
common=(oltp_read_write --db-driver=mysql --mysql-user=app --mysql-password=app --mysql-db=sbtest
	--tables="$TABLES" --table-size="$SIZE" --mysql-host=127.0.0.1)
sysbench "${common[@]}" --mysql-port="$app" --threads=4 prepare >/dev/null

fail=0
printf '%-10s %-8s %8s %10s %8s %10s\n' target ps-mode tps qps p95_ms deadlocks
for mode in auto disable; do
	for target in switchyard direct; do
		port=$app
		[ "$target" = direct ] && port=$base
		out=$(sysbench "${common[@]}" --mysql-port="$port" --threads="$THREADS" --time="$TIME" \
			--db-ps-mode="$mode" --mysql-ignore-errors=1213,1020 run 2>&1) || { echo "$out"; fail=1; continue; }
		tps=$(echo "$out" | awk '/transactions:/ {gsub(/[(]/,"",$3); print $3}')
		qps=$(echo "$out" | awk '/queries:/ && /per sec/ {gsub(/[(]/,"",$3); print $3}')
		p95=$(echo "$out" | awk '/95th percentile:/ {print $3}')
		errs=$(echo "$out" | awk '/ignored errors:/ {print $3}')
		printf '%-10s %-8s %8s %10s %8s %10s\n' "$target" "$mode" "$tps" "$qps" "$p95" "$errs"
	done
done

# Every node must hold the same data once the replicas caught up.
pos=$(mariadb -h127.0.0.1 -P"$base" -uapp -papp -N -e 'SELECT @@gtid_binlog_pos')
tables=$(seq -s, -f 'sbtest.sbtest%g' 1 "$TABLES")
sums=""
for port in "$base" $((base + 1)) $((base + 2)); do
	if [ "$port" != "$base" ]; then
		mariadb -h127.0.0.1 -P"$port" -uapp -papp -N -e "SELECT MASTER_GTID_WAIT('$pos', 120)" >/dev/null
	fi
	sum=$(mariadb -h127.0.0.1 -P"$port" -uapp -papp -N -e "CHECKSUM TABLE $tables" | md5sum | cut -c1-12)
	echo "node 127.0.0.1:$port checksum $sum"
	sums="$sums$sum\n"
done
if [ "$(printf "$sums" | sort -u | wc -l)" != 1 ]; then
	echo "sysbench: the nodes' tables differ"
	fail=1
fi
if [ "$fail" != 0 ]; then
	echo "sysbench: FAILED (proxy log: see above)"
	exit 1
fi
echo "sysbench: no errors through Switchyard or directly (deadlocks retried by sysbench); all nodes identical"
