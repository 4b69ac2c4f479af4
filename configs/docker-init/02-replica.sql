-- Mounted on the replicas only: replicate from db1 by its fixed address
-- (Switchyard matches a replica's source address against the discovered
-- servers' addresses) with GTID auto-positioning and a short heartbeat, so a
-- dead primary is noticed within seconds. Until db1 is up, the IO thread
-- retries every second.
CHANGE MASTER TO MASTER_HOST='10.214.0.11', MASTER_PORT=3306,
  MASTER_USER='repl', MASTER_PASSWORD='repl',
  MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=0.5;
START SLAVE;
