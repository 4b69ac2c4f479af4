#!/bin/sh
# Builds the local MariaDB image (default tag switchyard/mariadb-local:10.11)
# from the host's /usr/sbin/mariadbd, its shared libraries and a static Go
# entrypoint. Needs no registry. Cached: unchanged inputs only re-tag.
#   docker/image/build.sh [-tag REF] [-endpoint unix:///var/run/docker.sock]
set -eu
cd "$(dirname "$0")/../.."
exec go run ./docker/image/build "$@"
