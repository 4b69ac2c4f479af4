package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/topology"
)

// handler serves one admin connection (go-mysql's server.Handler).
type handler struct {
	a      *Admin
	remote string
	nc     net.Conn // the raw connection, as the TLS hook sees it
	user   string
}

func (h *handler) log() *slog.Logger {
	return h.a.log.With("client", h.remote, "user", h.user)
}

func opError(format string, args ...any) error {
	return mysql.NewError(mysql.ER_UNKNOWN_ERROR, fmt.Sprintf(format, args...))
}

// HandleQuery parses and runs one admin command.
func (h *handler) HandleQuery(q string) (res *mysql.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			h.log().Error("admin command panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			res, err = nil, opError("internal error while running the admin command; see the proxy log")
		}
	}()
	// go-mysql hands over the query without copying its packet buffer, which
	// the next read reuses; names parsed from it (a switchover target, say)
	// may outlive this call.
	c, err := parseCommand(strings.Clone(q))
	if err != nil {
		return nil, mysql.NewError(mysql.ER_PARSE_ERROR, err.Error())
	}
	return h.run(c)
}

func (h *handler) run(c *command) (*mysql.Result, error) {
	d := &h.a.d
	switch c.kind {
	case cmdShowServers:
		return h.a.servers().filter(c, 0).result(), nil
	case cmdShowPools:
		if d.Proxy == nil {
			return nil, errNoProxy
		}
		return poolsTable(d.Proxy.Pools()).filter(c, 0).result(), nil
	case cmdShowClients:
		if d.Proxy == nil {
			return nil, errNoProxy
		}
		return clientsTable(d.Proxy.Clients()).filter(c, 1).result(), nil
	case cmdShowDigests:
		if d.Digests == nil {
			return nil, opError("query digests are not enabled")
		}
		return digestsTable(d.Digests.Snapshot()).filter(c, 1).result(), nil
	case cmdShowEvents:
		if d.Failover == nil {
			return nil, errNoFailover
		}
		return eventsTable(newestFirst(d.Failover.Events())...).filter(c, 1).result(), nil
	case cmdShowStatus:
		return h.a.status().filter(c, 0).result(), nil
	case cmdShowConfig:
		t, err := configTable(d.Config())
		if err != nil {
			return nil, opError("SHOW CONFIG: %v", err)
		}
		return t.filter(c, 0).result(), nil
	case cmdKillClient:
		if d.Proxy == nil {
			return nil, errNoProxy
		}
		if !d.Proxy.KillClient(c.id) {
			return nil, mysql.NewError(mysql.ER_NO_SUCH_THREAD, fmt.Sprintf("Unknown client id %d (see SHOW CLIENTS)", c.id))
		}
		h.log().Info("admin killed client", "id", c.id)
		return nil, nil
	case cmdSetServer:
		return nil, h.setServer(c.name, c.state)
	case cmdSwitchover, cmdFailover:
		return h.promote(c)
	case cmdReload:
		if d.Reload == nil {
			return nil, opError("RELOAD CONFIG is not available")
		}
		if err := d.Reload(); err != nil {
			h.log().Warn("admin config reload refused", "err", err)
			return nil, opError("RELOAD CONFIG refused, the running configuration stays: %v", err)
		}
		h.log().Info("admin reloaded config")
		return nil, nil
	case cmdResetDigests:
		if d.Digests != nil {
			d.Digests.Reset()
		}
		h.log().Info("admin reset query digests")
		return nil, nil
	case cmdHelp:
		t := newTable(column{"command", colText}, column{"description", colText})
		for _, l := range help {
			t.add(l[0], l[1])
		}
		return t.result(), nil
	case cmdSelect:
		return h.selectProbe(c), nil
	case cmdShowVariables:
		t := newTable(column{"Variable_name", colText}, column{"Value", colText})
		for _, v := range h.variables() {
			b, _ := text(v.value)
			t.add(v.name, string(b))
		}
		return t.filter(c, 0).result(), nil
	case cmdShowDatabases:
		return newTable(column{"Database", colText}).result(), nil
	case cmdShowWarnings:
		return newTable(column{"Level", colText}, column{"Code", colUint}, column{"Message", colText}).result(), nil
	case cmdSetSession, cmdUse:
		return nil, nil
	}
	return nil, opError("admin command not implemented")
}

var (
	errNoProxy    = opError("the proxy is not running")
	errNoFailover = opError("failover is not running")
)

var help = [][2]string{
	{"SHOW SERVERS [LIKE 'p'] [LIMIT n]", "servers with role, state, read_only, lag_ms, gtid, connections, queries"},
	{"SHOW POOLS [LIKE 'p'] [LIMIT n]", "backend connection pools per server and user"},
	{"SHOW CLIENTS [LIKE 'user'] [LIMIT n]", "application client connections"},
	{"KILL CLIENT <id>", "close one application client connection"},
	{"SHOW QUERY DIGESTS [LIKE 'text'] [LIMIT n]", "statement statistics by normalised text, by total time"},
	{"RESET QUERY DIGESTS", "forget all statement statistics"},
	{"SHOW EVENTS [LIKE 'kind'] [LIMIT n]", "failovers and switchovers, newest first, with phase timings"},
	{"SHOW STATUS [LIKE 'p']", "proxy status: uptime, primary, write gate, failover state, counters"},
	{"SHOW CONFIG [LIKE 'key']", "the running configuration, secrets masked"},
	{"SET SERVER '<name>' OFFLINE | ONLINE | DRAIN", "take a server out of routing (OFFLINE: running statements finish; DRAIN: pinned sessions finish) or back"},
	{"SWITCHOVER [TO '<name>']", "planned primary change without client errors"},
	{"FAILOVER [TO '<name>']", "forced promotion when the primary is known to be dead"},
	{"RELOAD CONFIG", "re-read the configuration file; an invalid file is refused whole"},
	{"HELP", "this list"},
}

func (h *handler) setServer(name string, st topology.AdminState) error {
	v := h.a.d.View
	if v.Load().Server(name) == nil {
		return opError("Unknown server '%s' (see SHOW SERVERS)", name)
	}
	found := false
	v.UpdateServer(name, func(s *topology.Server) {
		s.Admin, found = st, true
	})
	if !found { // removed by a reload in between
		return opError("Unknown server '%s' (see SHOW SERVERS)", name)
	}
	h.log().Info("admin set server state", "server", name, "state", st.String())
	return nil
}

func (h *handler) promote(c *command) (*mysql.Result, error) {
	f := h.a.d.Failover
	if f == nil {
		return nil, errNoFailover
	}
	op, run := "SWITCHOVER", f.Switchover
	if c.kind == cmdFailover {
		op, run = "FAILOVER", f.Failover
	}
	ctx, cancel := context.WithTimeout(h.a.ctx, commandTimeout)
	defer cancel()
	h.log().Info("admin "+strings.ToLower(op)+" requested", "target", c.name)
	ev, err := run(ctx, c.name)
	if err != nil {
		h.log().Warn("admin "+strings.ToLower(op)+" failed", "target", c.name, "err", err)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, opError("%s did not finish within %v: %v", op, commandTimeout, err)
		}
		return nil, opError("%s failed: %v", op, err)
	}
	return eventsTable(ev).result(), nil
}

// selectProbe answers the SELECTs clients send on connect.
func (h *handler) selectProbe(c *command) *mysql.Result {
	vars := h.variables()
	cols := make([]column, len(c.items))
	row := make([]any, len(c.items))
	for i, it := range c.items {
		var v any
		switch it.kind {
		case tokVar:
			for _, sv := range vars {
				if strings.EqualFold(sv.name, it.expr) {
					v = sv.value
				}
			}
		case tokNumber:
			if n, err := strconv.ParseInt(it.expr, 10, 64); err == nil {
				v = n
			} else if f, err := strconv.ParseFloat(it.expr, 64); err == nil {
				v = f
			}
		case tokString:
			v = it.expr
		case tokWord:
			switch it.expr {
			case "USER()", "CURRENT_USER()", "SESSION_USER()", "SYSTEM_USER()":
				v = h.user + "@" + hostOfString(h.remote)
			case "VERSION()":
				v = h.a.serverVersion()
			case "NOW()", "CURRENT_TIMESTAMP()", "UTC_TIMESTAMP()":
				v = time.Now()
			}
		}
		cols[i] = column{it.alias, typeOf(v)}
		row[i] = v
	}
	t := newTable(cols...)
	t.add(row...)
	if c.limit == 0 {
		t.rows = nil
	}
	return t.result()
}

func typeOf(v any) colType {
	switch v.(type) {
	case int64:
		return colInt
	case uint64:
		return colUint
	case float64:
		return colFloat
	case time.Time:
		return colTime
	}
	return colText
}

type variable struct {
	name  string
	value any
}

// variables are the session variables clients commonly read on connect.
func (h *handler) variables() []variable {
	return []variable{
		{"autocommit", int64(1)},
		{"character_set_client", "utf8mb4"},
		{"character_set_connection", "utf8mb4"},
		{"character_set_results", "utf8mb4"},
		{"character_set_server", "utf8mb4"},
		{"collation_connection", "utf8mb4_general_ci"},
		{"collation_server", "utf8mb4_general_ci"},
		{"interactive_timeout", int64(28800)},
		{"lower_case_table_names", int64(0)},
		{"max_allowed_packet", int64(16777216)},
		{"net_write_timeout", int64(60)},
		{"sql_mode", ""},
		{"system_time_zone", "UTC"},
		{"time_zone", "+00:00"},
		{"transaction_isolation", "REPEATABLE-READ"},
		{"transaction_read_only", int64(0)},
		{"tx_isolation", "REPEATABLE-READ"},
		{"tx_read_only", int64(0)},
		{"version", h.a.serverVersion()},
		{"version_comment", "Switchyard admin port"},
		{"wait_timeout", int64(28800)},
	}
}

// serverVersion starts with a MySQL version so that clients which parse it
// pick a modern protocol dialect.
func (a *Admin) serverVersion() string {
	v := a.d.Version
	if v == "" {
		v = "dev"
	}
	return "8.0.11-switchyard-" + v
}

func hostOfString(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

// UseDB accepts any database: there are none, and refusing breaks clients
// that send one on connect.
func (h *handler) UseDB(string) error { return nil }

func (h *handler) HandleFieldList(string, string) ([]*mysql.Field, error) {
	return nil, opError("the admin port has no tables")
}

func (h *handler) HandleStmtPrepare(string) (int, int, any, error) {
	return 0, 0, nil, mysql.NewError(mysql.ER_UNSUPPORTED_PS, "prepared statements are not supported on the admin port; send commands as plain queries")
}

func (h *handler) HandleStmtExecute(any, string, []any) (*mysql.Result, error) {
	return nil, mysql.NewError(mysql.ER_UNSUPPORTED_PS, "prepared statements are not supported on the admin port")
}

func (h *handler) HandleStmtClose(any) error { return nil }

func (h *handler) HandleOtherCommand(cmd byte, _ []byte) error {
	switch cmd {
	case mysql.COM_SET_OPTION, mysql.COM_RESET_CONNECTION:
		return nil
	}
	return mysql.NewError(mysql.ER_UNKNOWN_COM_ERROR, fmt.Sprintf("command 0x%02x is not supported on the admin port", cmd))
}
