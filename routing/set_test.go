package routing

import (
	"fmt"
	"strings"
	"testing"
)

func fmtItems(items []SetItem) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%v %s=%s", it.Scope, it.Name, it.Value)
		if it.Collation != nil {
			fmt.Fprintf(&b, " collate %s", it.Collation)
		}
		if it.Literal {
			b.WriteString(" lit")
		}
	}
	return b.String()
}

func TestParseSet(t *testing.T) {
	cases := []struct {
		sql  string
		want string // fmtItems of the result; "!" = not ok
	}{
		{"SET autocommit = 0", "session autocommit=0 lit"},
		{"set AUTOCOMMIT=ON", "session autocommit=ON lit"},
		{"SET autocommit = DEFAULT", "session autocommit=DEFAULT"},
		{"SET sql_mode = 'STRICT_ALL_TABLES'", "session sql_mode='STRICT_ALL_TABLES' lit"},
		{"SET sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')", "session sql_mode=CONCAT(@@sql_mode, ',NO_ZERO_DATE')"},
		{"SET SESSION sql_mode = TRADITIONAL", "session sql_mode=TRADITIONAL lit"},
		{"SET LOCAL wait_timeout = 10", "session wait_timeout=10 lit"},
		{"SET @@session.time_zone = '+00:00'", "session time_zone='+00:00' lit"},
		{"SET @@SESSION.Time_Zone='UTC'", "session time_zone='UTC' lit"},
		{"SET @@local.wait_timeout = 5", "session wait_timeout=5 lit"},
		{"SET @@time_zone = 'UTC'", "session time_zone='UTC' lit"},
		{"SET GLOBAL max_connections = 500", "global max_connections=500 lit"},
		{"SET PERSIST max_connections = 500", "global max_connections=500 lit"},
		{"SET @@global.read_only = 1", "global read_only=1 lit"},
		{"SET GLOBAL a = 1, b = 2", "global a=1 lit; global b=2 lit"},
		{"SET GLOBAL a = 1, SESSION b = 2, c = 3", "global a=1 lit; session b=2 lit; session c=3 lit"},
		{"SET GLOBAL a = 1, @@session.b = 2, c = 3", "global a=1 lit; session b=2 lit; global c=3 lit"},
		{"SET @x = 1", "user x=1 lit"},
		{"SET @X := -1.5", "user x=-1.5 lit"},
		{"SET @x = 'a,b', @y = \"c\"", "user x='a,b' lit; user y=\"c\" lit"},
		{"SET @x = NULL, @y = TRUE, @z = false", "user x=NULL lit; user y=TRUE lit; user z=false lit"},
		{"SET @x = 0x1F, @y = x'1F', @z = b'1'", "user x=0x1F lit; user y=x'1F' lit; user z=b'1' lit"},
		{"SET @x = ON", "user x=ON"},
		{"SET @x = (SELECT MAX(id) FROM t)", "user x=(SELECT MAX(id) FROM t)"},
		{"SET @x = 1 + 1", "user x=1 + 1"},
		{"SET @x = @y", "user x=@y"},
		{"SET @x = NOW()", "user x=NOW()"},
		{"SET @'my var' = 1", "user my var=1 lit"},
		{"SET @`q` = 'it''s'", "user q='it''s' lit"},
		{"SET @a = 1, b = f(1, (2, 3), 'x,y'), @@global.c = 4", "user a=1 lit; session b=f(1, (2, 3), 'x,y'); global c=4 lit"},
		{"SET NAMES utf8mb4", "names names=utf8mb4 lit"},
		{"SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'", "names names='utf8mb4' collate 'utf8mb4_unicode_ci' lit"},
		{"SET NAMES utf8mb4 COLLATE utf8mb4_bin, autocommit = 1", "names names=utf8mb4 collate utf8mb4_bin lit; session autocommit=1 lit"},
		{"SET NAMES DEFAULT", "names names=DEFAULT lit"},
		{"SET CHARACTER SET utf8", "character set character set=utf8 lit"},
		{"SET CHARSET 'latin1'", "character set character set='latin1' lit"},
		{"SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "transaction transaction=ISOLATION LEVEL READ COMMITTED"},
		{"SET TRANSACTION READ ONLY", "transaction transaction=READ ONLY"},
		{"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE", "transaction transaction=ISOLATION LEVEL REPEATABLE READ, READ WRITE"},
		{"SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE", "session transaction transaction=ISOLATION LEVEL SERIALIZABLE"},
		{"SET GLOBAL TRANSACTION READ ONLY", "global transaction=READ ONLY"},
		{"/*!40101 SET NAMES utf8 */", "names names=utf8 lit"},
		{"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */", "user old_sql_mode=@@SQL_MODE; session sql_mode='NO_AUTO_VALUE_ON_ZERO' lit"},
		{"/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */", "user old_unique_checks=@@UNIQUE_CHECKS; session unique_checks=0 lit"},
		{"SET /* c */ autocommit /* c */ = /* c */ 1", "session autocommit=1 lit"},
		{"  set autocommit=1  ", "session autocommit=1 lit"},
		{"SET autocommit = 1;", "session autocommit=1 lit"},
		{"SET autocommit = 1 ; -- done", "session autocommit=1 lit"},
		{"SET TRANSACTION READ ONLY;", "transaction transaction=READ ONLY"},
		{"SET autocommit = 1; SELECT 1", "!"},
		{"SET `sql_mode` = ''", "session sql_mode='' lit"},
		{"SET default.key_buffer_size = 1", "!"},
		{"SET myisam.key_buffer_size = 1", "session myisam.key_buffer_size=1 lit"},
		{"SET session_track_gtids = OWN_GTID", "session session_track_gtids=OWN_GTID lit"},
		{"SET max_statement_time = -1", "session max_statement_time=-1 lit"},
		// not understood: replayed verbatim
		{"SET", "!"},
		{"SET autocommit", "!"},
		{"SET autocommit =", "!"},
		{"SET autocommit = 1,", "!"},
		{"SET a = (1", "!"},
		{"SET a = 1)", "!"},
		{"SET a = 'x", "!"},
		{"SET a = 1; SET b = 2", "!"},
		{"SET a = 1, TRANSACTION READ ONLY", "!"},
		{"SET STATEMENT max_statement_time = 1 FOR SELECT 1", "!"},
		{"SET PASSWORD = 'x'", "!"},
		{"SET ROLE r", "!"},
		{"SET DEFAULT ROLE r FOR u", "!"},
		{"SET CHARACTER utf8", "!"},
		{"SET 1 = 2", "!"},
		{"SELECT 1", "!"},
		{"", "!"},
		{"SET @ = 1", "!"},
	}
	for _, c := range cases {
		prefix := []SetItem{{Name: "keep"}}
		items, ok := ParseSet([]byte(c.sql), prefix)
		got := "!"
		if ok {
			if len(items) < 1 || items[0].Name != "keep" {
				t.Fatalf("%q: dst prefix lost", c.sql)
			}
			got = fmtItems(items[1:])
		} else if len(items) != 1 {
			t.Errorf("%q: not ok but dst changed to %d items", c.sql, len(items))
		}
		if got != c.want {
			t.Errorf("ParseSet(%q)\n got %s\nwant %s", c.sql, got, c.want)
		}
		if ok && Classify([]byte(c.sql)).Kind != KindSet && Classify([]byte(c.sql)).Kind != KindSetTransaction {
			t.Errorf("%q parses as SET but classifies as %v", c.sql, Classify([]byte(c.sql)).Kind.testName())
		}
	}
}

func TestSetItemBool(t *testing.T) {
	for v, want := range map[string]int{"1": 1, "ON": 1, "on": 1, "TRUE": 1, "'ON'": 1, `"1"`: 1,
		"0": 0, "OFF": 0, "false": 0, "'off'": 0, "2": -1, "DEFAULT": -1, "": -1, "'": -1} {
		b, ok := SetItem{Value: []byte(v)}.Bool()
		got := -1
		if ok {
			got = 0
			if b {
				got = 1
			}
		}
		if got != want {
			t.Errorf("Bool(%q) = %d, want %d", v, got, want)
		}
	}
}

// Well-known names are interned: parsing the usual session SETs allocates
// only dst growth.
func TestParseSetAllocs(t *testing.T) {
	sql := []byte("SET NAMES utf8mb4 COLLATE utf8mb4_bin, autocommit = 1, @@session.sql_mode = 'STRICT_ALL_TABLES', time_zone = '+00:00'")
	dst := make([]SetItem, 0, 8)
	if n := testing.AllocsPerRun(100, func() { dst, _ = ParseSet(sql, dst[:0]) }); n != 0 {
		t.Errorf("ParseSet allocates %v times", n)
	}
}

func TestParseUse(t *testing.T) {
	cases := []struct{ sql, db string }{
		{"USE db", "db"},
		{"use Db_1", "Db_1"},
		{"USE `my db`", "my db"},
		{"USE `a``b`", "a`b"},
		{"USE db;", "db"},
		{"/* c */ USE db -- c", "db"},
		{"USE db; ", "db"},
		{"USE", ""},
		{"USE db1 db2", ""},
		{"USE db; SELECT 1", ""},
		{"USE 'db'", ""},
		{"USE ``", ""},
		{"SELECT 1", ""},
	}
	for _, c := range cases {
		db, ok := ParseUse([]byte(c.sql))
		if ok != (c.db != "") || db != c.db {
			t.Errorf("ParseUse(%q) = %q, %v; want %q", c.sql, db, ok, c.db)
		}
	}
}
