#!/bin/sh
# Installs the Debian packages Switchyard's demo, tests and benchmarks use.
# Quick when everything is already there.
set -e
need=""
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need="$need mariadb-server"
command -v mariadb >/dev/null 2>&1 || need="$need mariadb-client"
command -v sysbench >/dev/null 2>&1 || need="$need sysbench"
command -v pt-heartbeat >/dev/null 2>&1 || need="$need percona-toolkit"
[ -z "$need" ] && exit 0
echo "installing:$need"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian's postinst tries to start the service; the sandbox runs its own mariadbd.
$SUDO apt-get install -y -qq --no-install-recommends $need
