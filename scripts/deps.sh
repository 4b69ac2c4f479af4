#!/bin/sh
# Installs the Debian packages Switchyard's demo, tests and benchmarks use:
# mariadbd and mariadb-install-db (the sandbox runs its own servers), the
# mariadb client, sysbench and pt-heartbeat. Quick when everything is there.
# The distribution's MariaDB service is neither needed nor started: sandbox
# nodes read only their own option files, ports and sockets, so a system
# server on 3306 does not interfere either.
set -e
need=""
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
{ have mariadbd && have mariadb-install-db; } || need="$need mariadb-server"
have mariadb || need="$need mariadb-client"
have sysbench || need="$need sysbench"
have pt-heartbeat || need="$need percona-toolkit"
if ! command -v go >/dev/null 2>&1; then
	echo "deps: Go is not installed (see go.mod for the version); install it from https://go.dev/dl/" >&2
	exit 1
fi
[ -z "$need" ] && exit 0

echo "deps: installing:$need"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps: need root or sudo to install:$need" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Keep the packages' postinst from starting a system mariadb service: it is
# not used, and where services cannot start (containers, CI) it would fail the
# install. A policy-rc.d already present (e.g. Docker's) is left alone.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $need
