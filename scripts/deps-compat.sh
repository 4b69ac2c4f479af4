#!/bin/sh
# Installs the client runtimes and MySQL libraries the compat suite drives
# through Switchyard: PyMySQL, mysqlclient (C libmariadb), PHP mysqli and
# PDO_mysql (mysqlnd), Perl DBD::MariaDB and DBD::mysql, Ruby mysql2,
# MariaDB Connector/J (Java 17+) and Node's mysql. Quick when everything is
# there; a missing package makes its compat subtest skip loudly, not fail.
set -e
need=""
pkg() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'ok installed' || need="$need $1"; }
for p in python3-pymysql python3-mysqldb php-cli php-mysql libdbd-mariadb-perl \
	libdbd-mysql-perl ruby-mysql2 libmariadb-java openjdk-17-jre-headless nodejs node-mysql; do
	pkg "$p"
done
[ -z "$need" ] && exit 0

echo "deps-compat: installing:$need"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps-compat: need root or sudo to install:$need" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $need
