package admin

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// colType is a result column's declared type. go-mysql's simple builders
// infer types from the first row (and call an empty result all-NULL), so
// the admin port declares them itself.
type colType uint8

const (
	colText  colType = iota // VARCHAR utf8mb4
	colInt                  // BIGINT
	colUint                 // BIGINT UNSIGNED
	colFloat                // DOUBLE
	colTime                 // DATETIME(3), UTC
)

type column struct {
	name string
	typ  colType
}

// table is a result set under construction. Cells are string, int64,
// uint64, float64, time.Time or nil (NULL).
type table struct {
	cols []column
	rows [][]any
}

func newTable(cols ...column) *table { return &table{cols: cols} }

func (t *table) add(cells ...any) {
	if len(cells) != len(t.cols) {
		panic(fmt.Sprintf("admin: row has %d cells for %d columns", len(cells), len(t.cols)))
	}
	t.rows = append(t.rows, cells)
}

// filter keeps rows whose column col matches the LIKE pattern (when given)
// and at most limit rows (when >= 0).
func (t *table) filter(c *command, col int) *table {
	if c.has {
		kept := t.rows[:0]
		for _, r := range t.rows {
			if s, ok := r[col].(string); ok && like(s, c.like) {
				kept = append(kept, r)
			}
		}
		t.rows = kept
	}
	if c.limit >= 0 && len(t.rows) > c.limit {
		t.rows = t.rows[:c.limit]
	}
	return t
}

func (t *table) result() *mysql.Result {
	rs := &mysql.Resultset{Fields: make([]*mysql.Field, len(t.cols))}
	for i, c := range t.cols {
		f := &mysql.Field{Name: []byte(c.name), Charset: 63, Flag: mysql.BINARY_FLAG}
		switch c.typ {
		case colText:
			f.Type, f.Charset, f.Flag, f.ColumnLength = mysql.MYSQL_TYPE_VAR_STRING, 45, 0, 1024
		case colInt:
			f.Type, f.ColumnLength = mysql.MYSQL_TYPE_LONGLONG, 20
		case colUint:
			f.Type, f.ColumnLength = mysql.MYSQL_TYPE_LONGLONG, 20
			f.Flag |= mysql.UNSIGNED_FLAG
		case colFloat:
			f.Type, f.ColumnLength, f.Decimal = mysql.MYSQL_TYPE_DOUBLE, 22, 31
		case colTime:
			f.Type, f.ColumnLength, f.Decimal = mysql.MYSQL_TYPE_DATETIME, 23, 3
		}
		rs.Fields[i] = f
	}
	for _, r := range t.rows {
		var row []byte
		for _, cell := range r {
			b, null := text(cell)
			if null {
				row = append(row, 0xfb)
				continue
			}
			row = append(row, mysql.PutLengthEncodedString(b)...)
		}
		rs.RowDatas = append(rs.RowDatas, row)
	}
	return mysql.NewResult(rs)
}

func text(v any) (b []byte, null bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		return []byte(v), false
	case int64:
		return strconv.AppendInt(nil, v, 10), false
	case uint64:
		return strconv.AppendUint(nil, v, 10), false
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, true
		}
		return strconv.AppendFloat(nil, v, 'f', -1, 64), false
	case time.Time:
		if v.IsZero() {
			return nil, true
		}
		return v.UTC().AppendFormat(nil, "2006-01-02 15:04:05.000"), false
	}
	panic(fmt.Sprintf("admin: unsupported cell type %T", v))
}

// ms converts a duration to milliseconds with microsecond precision.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/1e3) / 1e3
}

// like reports whether s matches the SQL LIKE pattern p: % is any run, _ one
// character, \ escapes; comparison is case-insensitive (as MySQL's default
// collations). Greedy with single-star backtracking: linear for typical
// patterns, never exponential.
func like(s, p string) bool {
	sr, pr := []rune(s), []rune(p)
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(sr) {
		if pi < len(pr) {
			switch c := pr[pi]; {
			case c == '%':
				star, mark = pi, si
				pi++
				continue
			case c == '_':
				si, pi = si+1, pi+1
				continue
			case c == '\\' && pi+1 < len(pr):
				if fold(pr[pi+1]) == fold(sr[si]) {
					si, pi = si+1, pi+2
					continue
				}
			default:
				if fold(c) == fold(sr[si]) {
					si, pi = si+1, pi+1
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		mark++
		si, pi = mark, star+1
	}
	for pi < len(pr) && pr[pi] == '%' {
		pi++
	}
	return pi == len(pr)
}

func fold(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}
