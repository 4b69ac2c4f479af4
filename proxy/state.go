package proxy

import (
	"strings"

	"github.com/switchyard/switchyard/proxy/wire"
)

// state is the part of a client session that lives in a backend connection
// and must be reproduced on whichever pooled connection runs the session's
// next statement. A state is immutable once shared: changes make a copy, so
// sessions and backends compare states by pointer on the fast path.
type state struct {
	db       string
	names    string            // SET NAMES / SET CHARACTER SET statement; "" = the pool's handshake charset
	multi    bool              // multi-statements enabled (COM_SET_OPTION)
	sysvars  map[string]string // session variable (lower case) -> value, replayed as @@session.name = value
	uservars map[string]string // user variable (lower case) -> literal, replayed as @name = value
	verbatim []string          // SET statements the proxy could not parse, replayed as sent
}

// baseState is what a freshly dialled backend carries.
var baseState = &state{}

// unknownDB marks a backend whose current database is unknown (after
// COM_RESET_CONNECTION), so the next replay selects one.
const unknownDB = "\x00unknown"

// maxVerbatim bounds the replayed unparseable SETs; beyond it the session is
// pinned instead.
const maxVerbatim = 32

// clone returns a modifiable copy.
func (s *state) clone() *state {
	n := &state{db: s.db, names: s.names, multi: s.multi}
	if len(s.sysvars) > 0 {
		n.sysvars = make(map[string]string, len(s.sysvars)+1)
		for k, v := range s.sysvars {
			n.sysvars[k] = v
		}
	}
	if len(s.uservars) > 0 {
		n.uservars = make(map[string]string, len(s.uservars)+1)
		for k, v := range s.uservars {
			n.uservars[k] = v
		}
	}
	n.verbatim = append([]string(nil), s.verbatim...)
	return n
}

func (s *state) setSys(name, value string) {
	if s.sysvars == nil {
		s.sysvars = make(map[string]string)
	}
	s.sysvars[name] = value
}

func (s *state) setUser(name, value string) {
	if s.uservars == nil {
		s.uservars = make(map[string]string)
	}
	s.uservars[name] = value
}

// equal compares two states without allocating.
func (s *state) equal(o *state) bool {
	if s == o {
		return true
	}
	if s.db != o.db || s.names != o.names || s.multi != o.multi ||
		len(s.sysvars) != len(o.sysvars) || len(s.uservars) != len(o.uservars) || len(s.verbatim) != len(o.verbatim) {
		return false
	}
	for k, v := range s.sysvars {
		if w, ok := o.sysvars[k]; !ok || w != v {
			return false
		}
	}
	for k, v := range s.uservars {
		if w, ok := o.uservars[k]; !ok || w != v {
			return false
		}
	}
	for i := range s.verbatim {
		if s.verbatim[i] != o.verbatim[i] {
			return false
		}
	}
	return true
}

// replay is the batch of commands that brings a backend from one state to
// another.
type replay struct {
	cmds [][]byte
}

func (r *replay) query(sql string) {
	r.cmds = append(r.cmds, append([]byte{wire.ComQuery}, sql...))
}

// plan computes the commands that bring a backend in state from to state to.
// baseNames restores the pool's handshake charset; track re-enables session
// tracking after a reset.
func plan(from, to *state, baseNames, track string) replay {
	var r replay
	// Unparseable SETs cannot be undone except by resetting the connection.
	reset := len(from.verbatim) > len(to.verbatim)
	for i := 0; !reset && i < len(from.verbatim); i++ {
		reset = from.verbatim[i] != to.verbatim[i]
	}
	if reset {
		r.cmds = append(r.cmds, []byte{wire.ComResetConnection})
		r.query(track)
		from = &state{db: unknownDB}
	}
	if from.multi != to.multi {
		opt := wire.OptionMultiStatementsOff
		if to.multi {
			opt = wire.OptionMultiStatementsOn
		}
		r.cmds = append(r.cmds, []byte{wire.ComSetOption, byte(opt), byte(opt >> 8)})
	}
	if from.names != to.names {
		if to.names != "" {
			r.query(to.names)
		} else if baseNames != "" {
			r.query(baseNames)
		}
	}
	var set strings.Builder
	add := func(s string) {
		if set.Len() == 0 {
			set.WriteString("SET ")
		} else {
			set.WriteString(", ")
		}
		set.WriteString(s)
	}
	for k, v := range to.sysvars {
		if w, ok := from.sysvars[k]; !ok || w != v {
			add("@@session." + k + " = " + v)
		}
	}
	for k := range from.sysvars {
		if _, ok := to.sysvars[k]; !ok {
			add("@@session." + k + " = DEFAULT")
		}
	}
	for k, v := range to.uservars {
		if w, ok := from.uservars[k]; !ok || w != v {
			add("@" + quoteIdent(k) + " = " + v)
		}
	}
	for k := range from.uservars {
		if _, ok := to.uservars[k]; !ok {
			add("@" + quoteIdent(k) + " = NULL")
		}
	}
	if set.Len() > 0 {
		r.query(set.String())
	}
	for _, v := range to.verbatim[len(from.verbatim):] {
		r.query(v)
	}
	if from.db != to.db && to.db != "" {
		r.cmds = append(r.cmds, append([]byte{wire.ComInitDB}, to.db...))
	}
	return r
}

// quoteIdent quotes a user variable name with backticks.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// quoteValue renders a value read back from the server as an SQL literal:
// numbers as they are, anything else as a quoted string. ok is false when the
// value cannot be quoted independently of sql_mode (it holds a backslash).
func quoteValue(v []byte, null bool) (string, bool) {
	if null {
		return "NULL", true
	}
	if isNumber(v) {
		return string(v), true
	}
	if strings.IndexByte(string(v), '\\') >= 0 {
		return "", false
	}
	return "'" + strings.ReplaceAll(string(v), "'", "''") + "'", true
}

func isNumber(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	i := 0
	if v[0] == '-' {
		i = 1
	}
	digits, dot := 0, false
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
