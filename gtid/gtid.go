// Package gtid parses and compares replication positions: MariaDB GTID lists
// ("0-1-100,1-2-7") and MySQL GTID sets ("uuid:1-100"). Comparisons on the
// read-your-writes path allocate nothing for MariaDB positions.
package gtid

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// GTID is one MariaDB global transaction id.
type GTID struct {
	Domain   uint32
	ServerID uint32
	Seq      uint64
}

func (g GTID) String() string { return fmt.Sprintf("%d-%d-%d", g.Domain, g.ServerID, g.Seq) }

// ParseGTID parses one MariaDB GTID "domain-server-seq".
func ParseGTID(s string) (GTID, error) {
	s = strings.TrimSpace(s)
	a, rest, ok1 := strings.Cut(s, "-")
	b, c, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return GTID{}, fmt.Errorf("gtid %q: want domain-server-seq", s)
	}
	d, err1 := strconv.ParseUint(a, 10, 32)
	sv, err2 := strconv.ParseUint(b, 10, 32)
	q, err3 := strconv.ParseUint(c, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return GTID{}, fmt.Errorf("gtid %q: not numeric", s)
	}
	return GTID{Domain: uint32(d), ServerID: uint32(sv), Seq: q}, nil
}

// Set is a replication position: a MariaDB GTID list (one GTID per domain) or
// a MySQL GTID set. The zero value is the empty position.
type Set struct {
	MariaDB []GTID        // sorted by domain; nil for MySQL
	MySQL   mysql.GTIDSet // nil for MariaDB
}

// ParseMariaDB parses a gtid_slave_pos/gtid_current_pos/gtid_binlog_pos value.
func ParseMariaDB(s string) (Set, error) {
	var out Set
	s = strings.TrimSpace(s)
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		g, err := ParseGTID(part)
		if err != nil {
			return Set{}, err
		}
		out.MariaDB = insertDomain(out.MariaDB, g)
	}
	return out, nil
}

// insertDomain keeps the highest seq per domain and the list sorted by domain.
func insertDomain(list []GTID, g GTID) []GTID {
	for i := range list {
		if list[i].Domain == g.Domain {
			if g.Seq > list[i].Seq {
				list[i] = g
			}
			return list
		}
		if list[i].Domain > g.Domain {
			list = append(list, GTID{})
			copy(list[i+1:], list[i:])
			list[i] = g
			return list
		}
	}
	return append(list, g)
}

// ParseMySQL parses a gtid_executed value.
func ParseMySQL(s string) (Set, error) {
	set, err := mysql.ParseMysqlGTIDSet(strings.TrimSpace(s))
	if err != nil {
		return Set{}, fmt.Errorf("gtid set %q: %w", s, err)
	}
	return Set{MySQL: set}, nil
}

// IsZero reports whether the position is empty.
func (s Set) IsZero() bool {
	return len(s.MariaDB) == 0 && (s.MySQL == nil || s.MySQL.String() == "")
}

// CoversGTID reports whether this position has applied g (MariaDB).
func (s Set) CoversGTID(g GTID) bool {
	for i := range s.MariaDB {
		if s.MariaDB[i].Domain == g.Domain {
			return s.MariaDB[i].Seq >= g.Seq
		}
	}
	return false
}

// Contains reports whether s includes every transaction of o. For MariaDB
// positions this compares sequence numbers per domain.
func (s Set) Contains(o Set) bool {
	if o.MySQL != nil {
		return s.MySQL != nil && s.MySQL.Contain(o.MySQL)
	}
	for _, g := range o.MariaDB {
		if !s.CoversGTID(g) {
			return false
		}
	}
	return true
}

// Equal reports whether two positions are the same.
func (s Set) Equal(o Set) bool { return s.Contains(o) && o.Contains(s) }

func (s Set) String() string {
	if s.MySQL != nil {
		return s.MySQL.String()
	}
	var b strings.Builder
	for i, g := range s.MariaDB {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(g.String())
	}
	return b.String()
}
