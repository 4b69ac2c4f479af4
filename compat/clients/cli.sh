#!/bin/sh
# Compat client for the mariadb command-line client (libmariadb): batch mode
# with --force, so errors are printed and the script goes on.
H="$COMPAT_HOST" P="$COMPAT_PORT" U="$COMPAT_USER" PW="$COMPAT_PASSWORD" DB="$COMPAT_DB"
cli() { mariadb -h"$H" -P"$P" -u"$U" -p"$PW" --default-character-set=utf8mb4 --batch --force --column-names --binary-as-hex "$@" 2>&1; }

echo "connect: $(cli -N -e 'SELECT 1')"
echo "badpass: $(mariadb -h"$H" -P"$P" -u"$U" -pwrong -N -e 'SELECT 1' 2>&1 | sed 's/@.*//')"
if [ "$COMPAT_TLS" = 1 ]; then
	out=$(cli -N --ssl --disable-ssl-verify-server-cert -e 'SELECT 1' "$DB")
	[ "$out" = 1 ] && echo "tls: ok" || echo "tls: FAILED $out"
fi
echo "compress: $(cli -N --compress -e "SELECT 1, LENGTH(REPEAT('abc', 50000)), MD5(REPEAT('abc', 50000))" "$DB")"
echo "compress.big: $(cli -N --compress -e "SELECT REPEAT('abc', 500000)" "$DB" | wc -c)"

# Errors go to stderr, unordered with stdout: print them after the results.
errs=$(mktemp)
trap 'rm -f "$errs"' EXIT
mariadb -h"$H" -P"$P" -u"$U" -p"$PW" --default-character-set=utf8mb4 --force --binary-as-hex \
	--local-infile=1 --show-warnings -vvv "$DB" <<SQL 2>"$errs" | grep -v -e '^Bye' -e 'sec)$' -e '^--------------$'
CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) UNIQUE, n INT);
INSERT INTO t (v, n) VALUES ('a', 1);
SELECT LAST_INSERT_ID();
INSERT INTO t (v, n) VALUES ('b', 2), ('c', 3);
SELECT LAST_INSERT_ID(), ROW_COUNT();
UPDATE t SET n = n + 10 WHERE id <= 2;
UPDATE t SET n = n WHERE id = 1;
CREATE TABLE types (
  id INT PRIMARY KEY, i INT, bu BIGINT UNSIGNED, bs BIGINT, d DECIMAL(20,6),
  f FLOAT, dbl DOUBLE, dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(3),
  s VARCHAR(50), b BLOB, j JSON, bt BIT(10), e ENUM('a','b','c'), st SET('x','y','z'),
  y YEAR, ti TINYINT, si SMALLINT, mi MEDIUMINT, c CHAR(3), tx TEXT);
INSERT INTO types VALUES (1, -2147483648, 18446744073709551615,
  -9223372036854775808, 12345678901234.123456, 1.5, 3.141592653589793,
  '2024-02-29', '2024-02-29 23:59:59.123456', '2024-01-01 00:00:00.500',
  '-838:59:59.000', 'héllo 🐬 wörld', 0x00FF7F80000A0D5C27225C,
  '{"a": [1, 2.5, null, "x"]}', b'1010101010', 'b', 'x,z', 2024, -128, 32767,
  -8388608, 'abc', 'text');
INSERT INTO types (id) VALUES (2);
SELECT * FROM types ORDER BY id;
PREPARE s1 FROM 'SELECT id, s, bu FROM types WHERE id >= ? ORDER BY id';
SET @x = 1;
EXECUTE s1 USING @x;
EXECUTE s1 USING @x;
DEALLOCATE PREPARE s1;
DELIMITER //
CREATE PROCEDURE p2() BEGIN SELECT 1 AS a; SELECT 'two' AS b, 2 AS c; END //
DELIMITER ;
CALL p2();
SELECT 1 AS x; SELECT 2 AS y;
START TRANSACTION;
INSERT INTO t (v, n) VALUES ('tx1', 1);
ROLLBACK;
SELECT COUNT(*) FROM t WHERE v = 'tx1';
SET autocommit = 0;
INSERT INTO t (v, n) VALUES ('tx2', 1);
COMMIT;
SET autocommit = 1;
SELECT COUNT(*), @@autocommit, @@in_transaction FROM t WHERE v = 'tx2';
INSERT IGNORE INTO t (v, n) VALUES ('a', 99);
SHOW WARNINGS;
INSERT INTO t (v, n) VALUES ('a', 1);
SELEC 1;
SELECT * FROM no_such_table;
CREATE TABLE li (id INT PRIMARY KEY, s VARCHAR(50));
LOAD DATA LOCAL INFILE '$COMPAT_INFILE' INTO TABLE li CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',';
SELECT COUNT(*), SUM(id), MAX(s) FROM li;
SET NAMES latin1;
SELECT @@character_set_client, HEX('é');
SET NAMES utf8mb4;
SET SESSION sql_mode = 'ANSI_QUOTES,ONLY_FULL_GROUP_BY', time_zone = '+05:00', @u1 = 42;
SELECT @@sql_mode, @@time_zone, @u1, "v", ts FROM t, types WHERE t.id = 1 AND types.id = 1;
SELECT @@sql_mode, @@time_zone, @u1, "v", ts FROM t, types WHERE t.id = 1 AND types.id = 1;
SELECT @@sql_mode, @@time_zone, @u1, "v", ts FROM t, types WHERE t.id = 1 AND types.id = 1;
CREATE TEMPORARY TABLE tt (x INT);
INSERT INTO tt VALUES (1), (2);
SELECT SUM(x) FROM tt;
DROP TEMPORARY TABLE tt;
use $COMPAT_DB2
SELECT DATABASE();
SELECT DATABASE();
use $COMPAT_DB
SELECT DATABASE(), COUNT(*) FROM t;
SQL
cat "$errs"

# A 20 MiB value through the client and back: several 16 MiB packets.
echo "large: $(cli -N --max-allowed-packet=64M "$DB" -e "CREATE TABLE big (b LONGBLOB); INSERT INTO big VALUES (REPEAT('x', $COMPAT_LARGE)); SELECT LENGTH(b), MD5(b) FROM big")"
# A new session: read/write split only promises a session its own writes, and
# a 20 MiB row may still be replicating, so this read asks for the primary.
echo "large.select: $(cli -N --comments --max-allowed-packet=64M "$DB" -e '/* switchyard: route=primary */ SELECT b FROM big' | md5sum)"
echo "done: 1"
