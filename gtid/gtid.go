// Package gtid parses and compares replication positions: MariaDB GTID lists
// ("0-1-100,1-2-7") and MySQL GTID sets ("uuid:1-100"). Comparisons on the
// read-your-writes path allocate nothing for MariaDB positions.
package gtid

import (
	"fmt"
	"math"
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
	g, ok := Parse([]byte(strings.TrimSpace(s)))
	if !ok {
		return GTID{}, fmt.Errorf("gtid %q: want domain-server-seq (numbers)", s)
	}
	return g, nil
}

// Parse parses a MariaDB "domain-server-seq" without allocating, for the
// proxy's hot path (the GTID of every write, from its OK packet).
func Parse(b []byte) (GTID, bool) {
	var parts [3]uint64
	k := 0
	digits := 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if parts[k] > (math.MaxUint64-9)/10 {
				return GTID{}, false // overflows
			}
			parts[k] = parts[k]*10 + uint64(c-'0')
			digits++
		case c == '-' && k < 2 && digits > 0:
			k++
			digits = 0
		default:
			return GTID{}, false
		}
	}
	if k != 2 || digits == 0 || parts[0] > math.MaxUint32 || parts[1] > math.MaxUint32 {
		return GTID{}, false
	}
	return GTID{Domain: uint32(parts[0]), ServerID: uint32(parts[1]), Seq: parts[2]}, true
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
