package failover

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/topology"
)

// Statements differ between MariaDB and MySQL 8.0.23+; each builder below is
// the one place that knows both spellings.

// stopReplicationSQL stops both replication threads.
func stopReplicationSQL(f topology.Flavor) string {
	if f == topology.FlavorMySQL {
		return "STOP REPLICA"
	}
	return "STOP SLAVE"
}

// startReplicationSQL starts both replication threads.
func startReplicationSQL(f topology.Flavor) string {
	if f == topology.FlavorMySQL {
		return "START REPLICA"
	}
	return "START SLAVE"
}

// startSQLThreadSQL starts only the applier, to apply what was received.
func startSQLThreadSQL(f topology.Flavor) string {
	return startReplicationSQL(f) + " SQL_THREAD"
}

// readOnlySQL turns read-only on or off. On MySQL super_read_only also stops
// users with SUPER; MariaDB has no equivalent (see fenceServer).
func readOnlySQL(f topology.Flavor, on bool) string {
	switch {
	case f == topology.FlavorMySQL && on:
		return "SET GLOBAL super_read_only=1"
	case f == topology.FlavorMySQL:
		return "SET GLOBAL super_read_only=0, read_only=0"
	case on:
		return "SET GLOBAL read_only=1"
	}
	return "SET GLOBAL read_only=0"
}

// promoteSQL turns a replica into a writable primary. semiSync enables the
// source side of semi-synchronous replication.
func promoteSQL(f topology.Flavor, semiSync bool) []string {
	reset := "RESET SLAVE ALL"
	if f == topology.FlavorMySQL {
		reset = "RESET REPLICA ALL"
	}
	stmts := []string{stopReplicationSQL(f), reset}
	if semiSync {
		stmts = append(stmts, "SET GLOBAL rpl_semi_sync_master_enabled=1")
	}
	return append(stmts, readOnlySQL(f, false))
}

// heartbeatPeriod keeps replicas quick to notice a dead source (seconds).
const heartbeatPeriod = "0.5"

// source is where a replica is pointed.
type source struct {
	Host string
	Port int
	Cred config.Credentials
}

func sourceFromAddr(addr string, cred config.Credentials) (source, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return source{}, fmt.Errorf("source address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return source{}, fmt.Errorf("source address %q: bad port", addr)
	}
	return source{Host: host, Port: port, Cred: cred}, nil
}

// repointSQL points a replica at src with GTID auto-positioning and starts
// it. formerPrimary is set for a server that was a primary: on MariaDB its
// own binlog position becomes its replication position first, since
// gtid_slave_pos does not include transactions it wrote itself.
// semiSync enables the replica side of semi-synchronous replication. The
// returned statements contain the replication password: log them only through
// redact.
func repointSQL(f topology.Flavor, src source, formerPrimary, semiSync bool) []string {
	stmts := []string{stopReplicationSQL(f)}
	if f == topology.FlavorMySQL {
		if semiSync {
			stmts = append(stmts, "SET GLOBAL rpl_semi_sync_master_enabled=0", "SET GLOBAL rpl_semi_sync_slave_enabled=1")
		}
		stmts = append(stmts, fmt.Sprintf("CHANGE REPLICATION SOURCE TO SOURCE_HOST=%s, SOURCE_PORT=%d, SOURCE_USER=%s, SOURCE_PASSWORD=%s, SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1, SOURCE_HEARTBEAT_PERIOD=%s",
			quote(src.Host), src.Port, quote(src.Cred.User), quote(src.Cred.Password), heartbeatPeriod))
		return append(stmts, startReplicationSQL(f))
	}
	if formerPrimary {
		stmts = append(stmts, "SET GLOBAL gtid_slave_pos=@@gtid_current_pos")
	}
	if semiSync {
		stmts = append(stmts, "SET GLOBAL rpl_semi_sync_master_enabled=0", "SET GLOBAL rpl_semi_sync_slave_enabled=1")
	}
	stmts = append(stmts, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%d, MASTER_USER=%s, MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=%s",
		quote(src.Host), src.Port, quote(src.Cred.User), quote(src.Cred.Password), heartbeatPeriod))
	return append(stmts, startReplicationSQL(f))
}

// replicaStatusSQL reads the replication status row.
func replicaStatusSQL(f topology.Flavor) string {
	if f == topology.FlavorMySQL {
		return "SHOW REPLICA STATUS"
	}
	return "SHOW SLAVE STATUS"
}

// positionSQL reads server id, read-only, applied, binlog and current
// positions in one round trip. MySQL has a single executed set for all three.
func positionSQL(f topology.Flavor) string {
	if f == topology.FlavorMySQL {
		return "SELECT @@server_id, @@read_only, @@global.gtid_executed, @@global.gtid_executed, @@global.gtid_executed"
	}
	return "SELECT @@server_id, @@read_only, @@gtid_slave_pos, @@gtid_binlog_pos, @@gtid_current_pos"
}

// waitSQL waits until the applied position reaches the argument, with a
// timeout in seconds as the second argument. Both return 0 on success.
func waitSQL(f topology.Flavor) string {
	return "SELECT " + f.WaitGTIDFunc() + "(?, ?)"
}

// The connection lists below return an id and a description to log.

// openTrxSQL lists the connections with an open InnoDB transaction.
const openTrxSQL = `SELECT trx_mysql_thread_id, trx_started FROM information_schema.INNODB_TRX
WHERE trx_mysql_thread_id > 0 AND trx_mysql_thread_id <> CONNECTION_ID()`

// quote makes a SQL string literal. Backslash and quote are the only
// characters that can end or alter a literal under the default sql_mode.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

var passwordRE = regexp.MustCompile(`(?i)((?:MASTER|SOURCE)_PASSWORD\s*=\s*)'(?:[^'\\]|\\.|'')*'?`)

// redact masks replication passwords in statements and in server error
// messages that quote them.
func redact(s string) string {
	return passwordRE.ReplaceAllString(s, "${1}'*****'")
}
