-- Runs once on every MariaDB node, at its first start (mounted into
-- /docker-entrypoint-initdb.d). Outside the binary log: every node creates
-- the same users itself, so replication starts from an empty GTID history.
-- Change the passwords together with configs/docker.yaml.
SET SESSION sql_log_bin=0;

CREATE DATABASE IF NOT EXISTS shop;
-- Heartbeat schema written by Switchyard on the primary (pt-heartbeat layout).
CREATE DATABASE IF NOT EXISTS switchyard;

-- The application user; Switchyard logs in to the servers as the client's user.
CREATE USER 'app'@'%' IDENTIFIED BY 'app';
GRANT ALL PRIVILEGES ON shop.* TO 'app'@'%';

-- Switchyard's monitor: health checks, heartbeat, promotion, repointing and
-- fencing without SUPER.
CREATE USER 'switchyard_mon'@'%' IDENTIFIED BY 'monitor';
GRANT PROCESS, RELOAD, REPLICA MONITOR, BINLOG MONITOR, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN,
      READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO 'switchyard_mon'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON switchyard.* TO 'switchyard_mon'@'%';

-- Replication, also used by Switchyard when it repoints replicas.
CREATE USER 'repl'@'%' IDENTIFIED BY 'repl';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';

SET SESSION sql_log_bin=1;
