"""Compat client for Python DB-API drivers: PyMySQL and mysqlclient (MySQLdb).

Usage: dbapi.py pymysql|MySQLdb, configured by COMPAT_* environment variables.
Prints one deterministic line per check; the Go test compares a run through
Switchyard with a run against the primary.
"""
import hashlib
import os
import sys

E = os.environ
DRIVER = sys.argv[1]
HOST, PORT = E["COMPAT_HOST"], int(E["COMPAT_PORT"])
USER, PASSWORD = E["COMPAT_USER"], E["COMPAT_PASSWORD"]
DB, DB2 = E["COMPAT_DB"], E["COMPAT_DB2"]
TLS = E.get("COMPAT_TLS") == "1"
INFILE = E["COMPAT_INFILE"]
LARGE = int(E["COMPAT_LARGE"])

if DRIVER == "pymysql":
    import pymysql as m
    from pymysql.constants import CLIENT

    def connect(password=PASSWORD, charset="utf8mb4", flags=0, **kw):
        return m.connect(host=HOST, port=PORT, user=USER, password=password,
                         database=DB, charset=charset, local_infile=True, autocommit=True,
                         max_allowed_packet=64 << 20,
                         client_flag=CLIENT.MULTI_STATEMENTS | flags, **kw)
else:
    import MySQLdb as m
    from MySQLdb.constants import CLIENT

    def connect(password=PASSWORD, charset="utf8mb4", flags=0, **kw):
        return m.connect(host=HOST, port=PORT, user=USER, passwd=password,
                         db=DB, charset=charset, local_infile=1, autocommit=True,
                         client_flag=CLIENT.MULTI_STATEMENTS | flags, **kw)


def out(name, *vals):
    print(name + ": " + " ".join(repr(v) for v in vals), flush=True)


def err(name, e):
    out(name, "ERROR", *e.args)


def step(name, fn):
    """Runs one group of checks; an unexpected error is reported as FAILED."""
    try:
        fn()
    except m.Error as e:
        out(name, "FAILED", *e.args)


def q(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchall()


conn = connect()
cur = conn.cursor()
out("connect", q(cur, "SELECT 1"))

try:
    connect(password="wrong")
    out("badpass", "connected with a wrong password")
except m.OperationalError as e:
    out("badpass", e.args[0])

if TLS:
    def tls():
        if DRIVER == "pymysql":
            c = connect(ssl={"verify_mode": "none"})
            ok = c._sock.version().startswith("TLS")
        else:
            # libmariadb turns TLS on when any ssl option is set and does
            # not verify the server certificate unless asked to.
            c = connect(ssl={"cipher": "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256"})
            ok = True
        cc = c.cursor()
        print("tls: %s %r" % ("ok" if ok and q(cc, "SELECT 1") == ((1,),) else "FAILED", q(cc, "SELECT 1")))
        c.close()
    try:
        tls()
    except m.Error as e:
        print("tls: FAILED %r" % (e.args,))

if DRIVER == "MySQLdb":
    def compress():
        c = connect(compress=1)
        cc = c.cursor()
        out("compress", q(cc, "SELECT 1, REPEAT('x', 100000) = REPEAT('x', 100000)"))
        cc.execute("SELECT REPEAT('abc', 50000)")
        out("compress.big", len(cc.fetchone()[0]))
        c.close()
    step("compress", compress)

cur.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) UNIQUE, n INT)")


def inserts():
    cur.execute("INSERT INTO t (v, n) VALUES ('a', 1)")
    out("insert", cur.lastrowid, cur.rowcount)
    cur.execute("INSERT INTO t (v, n) VALUES ('b', 2), ('c', 3)")
    out("insert.multi", cur.lastrowid, cur.rowcount)
    out("insert.last_insert_id", q(cur, "SELECT LAST_INSERT_ID()"))


step("insert", inserts)


def updates():
    cur.execute("UPDATE t SET n = n + 10 WHERE id <= 2")
    out("update", cur.rowcount)
    cur.execute("UPDATE t SET n = n WHERE id = 1")
    out("update.unchanged", cur.rowcount)
    c = connect(flags=CLIENT.FOUND_ROWS)
    cc = c.cursor()
    cc.execute("UPDATE t SET n = n WHERE id <= 2")
    out("update.found_rows", cc.rowcount)
    c.close()


step("update", updates)

TYPES = """CREATE TABLE types (
  id INT PRIMARY KEY, i INT, bu BIGINT UNSIGNED, bs BIGINT, d DECIMAL(20,6),
  f FLOAT, dbl DOUBLE, dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(3),
  s VARCHAR(50), b BLOB, j JSON, bt BIT(10), e ENUM('a','b','c'), st SET('x','y','z'),
  y YEAR, ti TINYINT, si SMALLINT, mi MEDIUMINT, c CHAR(3), tx TEXT)"""
TYPES_ROW = """INSERT INTO types VALUES (1, -2147483648, 18446744073709551615,
  -9223372036854775808, 12345678901234.123456, 1.5, 3.141592653589793,
  '2024-02-29', '2024-02-29 23:59:59.123456', '2024-01-01 00:00:00.500',
  '-838:59:59.000', 'héllo 🐬 wörld', 0x00FF7F80000A0D5C27225C,
  '{"a": [1, 2.5, null, "x"]}', b'1010101010', 'b', 'x,z', 2024, -128, 32767,
  -8388608, 'abc', 'text')"""


def types():
    cur.execute(TYPES)
    cur.execute(TYPES_ROW)
    cur.execute("INSERT INTO types (id) VALUES (2)")
    cur.execute("SELECT * FROM types ORDER BY id")
    out("types.columns", [d[:2] for d in cur.description])
    out("types.description", cur.description)
    for row in cur.fetchall():
        out("types.row", row)
    out("types.param", q(cur, "SELECT s, b, bu FROM types WHERE s = %s AND b = %s",
                         ("héllo 🐬 wörld", b"\x00\xff\x7f\x80\x00\x0a\x0d\x5c\x27\x22\x5c")))


step("types", types)


def results(name):
    i = 0
    while True:
        if cur.description is not None:
            out("%s.%d" % (name, i), [d[0] for d in cur.description], cur.fetchall())
        else:
            out("%s.%d" % (name, i), "ok", cur.rowcount)
        i += 1
        if not cur.nextset():
            break


def multi():
    cur.execute("CREATE PROCEDURE p2() BEGIN SELECT 1 AS a; SELECT 'two' AS b, 2 AS c; END")
    cur.execute("CALL p2()")
    results("call")
    out("call.after", q(cur, "SELECT 3"))
    cur.execute("SELECT 1 AS x; SELECT 2 AS y; UPDATE t SET n = n + 1 WHERE id = 3")
    results("multistatement")
    out("multistatement.after", q(cur, "SELECT n FROM t WHERE id = 3"))


step("multi", multi)


def transactions():
    conn.autocommit(False)
    cur.execute("INSERT INTO t (v, n) VALUES ('tx1', 1)")
    conn.rollback()
    out("tx.rollback", q(cur, "SELECT COUNT(*) FROM t WHERE v = 'tx1'"))
    cur.execute("INSERT INTO t (v, n) VALUES ('tx2', 1)")
    conn.commit()
    out("tx.commit", q(cur, "SELECT COUNT(*) FROM t WHERE v = 'tx2'"))
    conn.autocommit(True)
    conn.begin()
    cur.execute("INSERT INTO t (v, n) VALUES ('tx3', 1)")
    out("tx.inside", q(cur, "SELECT COUNT(*) FROM t WHERE v = 'tx3'"))
    conn.rollback()
    out("tx.begin_rollback", q(cur, "SELECT COUNT(*) FROM t WHERE v = 'tx3'"))
    out("tx.autocommit", q(cur, "SELECT @@autocommit, @@in_transaction"))


step("tx", transactions)


def warnings():
    cur.execute("INSERT IGNORE INTO t (v, n) VALUES ('a', 99)")
    out("warnings.insert", cur.rowcount)
    out("warnings.show", q(cur, "SHOW WARNINGS"))
    cur.execute("SELECT CAST('12abc' AS INT)")
    out("warnings.cast", cur.fetchall(), q(cur, "SHOW WARNINGS"))


step("warnings", warnings)


def errors():
    for sql in ["INSERT INTO t (v, n) VALUES ('a', 1)", "SELEC 1",
                "SELECT * FROM no_such_table", "SELECT no_such_column FROM t"]:
        try:
            cur.execute(sql)
            out("error", sql, "no error")
        except m.Error as e:
            err("error", e)
    out("error.after", q(cur, "SELECT 1"))


step("errors", errors)


def load_data():
    cur.execute("CREATE TABLE li (id INT PRIMARY KEY, s VARCHAR(50))")
    cur.execute("LOAD DATA LOCAL INFILE %s INTO TABLE li CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY ','", (INFILE,))
    out("load_data", cur.rowcount)
    out("load_data.check", q(cur, "SELECT COUNT(*), SUM(id), MAX(s) FROM li"))
    out("load_data.after", q(cur, "SELECT s FROM li WHERE id = 7"))


step("load_data", load_data)


def large():
    blob = (bytes(range(256)) * (LARGE // 256 + 1))[:LARGE]
    cur.execute("CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)")
    cur.execute("INSERT INTO big VALUES (1, %s)", (blob,))
    out("large.insert", cur.rowcount)
    cur.execute("SELECT b, LENGTH(b), MD5(b) FROM big WHERE id = 1")
    b, n, md5 = cur.fetchone()
    out("large.select", n, md5, bytes(b) == blob, hashlib.md5(blob).hexdigest() == md5)
    out("large.after", q(cur, "SELECT 1"))


step("large", large)


def charsets():
    cur.execute("SET NAMES latin1")
    out("charset.set_names", q(cur, "SELECT @@character_set_client, @@character_set_connection, @@character_set_results"))
    out("charset.set_names.again", q(cur, "SELECT @@character_set_client, HEX(CAST('x' AS CHAR))"))
    cur.execute("SET NAMES utf8mb4")
    c = connect(charset="latin1")
    cc = c.cursor()
    out("charset.latin1", q(cc, "SELECT @@character_set_client, s, HEX(s) FROM types WHERE id = 1"))
    out("charset.latin1.literal", q(cc, "SELECT 'é', HEX('é'), LENGTH('é')"))
    c.close()
    out("charset.utf8mb4", q(cur, "SELECT @@character_set_client, 'é🐬', HEX('é🐬')"))


step("charset", charsets)


def session_vars():
    cur.execute("SET SESSION sql_mode = 'ANSI_QUOTES,ONLY_FULL_GROUP_BY'")
    cur.execute("SET time_zone = '+05:00'")
    for i in range(4):
        out("session.sql_mode.%d" % i, q(cur, "SELECT @@sql_mode, @@time_zone"))
        out("session.table.%d" % i, q(cur, 'SELECT "v", ts FROM t, types WHERE t.id = 1 AND types.id = 1'))
    cur.execute("SET SESSION sql_mode = DEFAULT")
    cur.execute("SET time_zone = DEFAULT")
    out("session.default", q(cur, "SELECT @@sql_mode, @@time_zone"))


step("session", session_vars)


def user_vars():
    cur.execute("SET @u1 = 42, @u2 = 'héllo', @u3 = NULL")
    for i in range(4):
        out("uservar.%d" % i, q(cur, "SELECT @u1, @u2, @u3, n FROM t WHERE id = 1"))
    cur.execute("SELECT @u4 := 7")
    out("uservar.assigned", cur.fetchall(), q(cur, "SELECT @u4"))


step("uservar", user_vars)


def temp_table():
    cur.execute("CREATE TEMPORARY TABLE tt (x INT)")
    cur.execute("INSERT INTO tt VALUES (1), (2)")
    for i in range(3):
        out("temp.%d" % i, q(cur, "SELECT SUM(x) FROM tt"))
    cur.execute("DROP TEMPORARY TABLE tt")


step("temp", temp_table)


def use_db():
    conn.select_db(DB2)
    out("initdb", q(cur, "SELECT DATABASE()"))
    for i in range(3):
        out("initdb.%d" % i, q(cur, "SELECT DATABASE(), COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"))
    cur.execute("USE " + DB)
    out("use", q(cur, "SELECT DATABASE(), COUNT(*) FROM t"))


step("use", use_db)


def ping():
    conn.ping()
    out("ping", q(cur, "SELECT 1"))


step("ping", ping)

if DRIVER == "MySQLdb":
    def change_user():
        cur.execute("SET @cu = 1")
        conn.change_user(USER, PASSWORD, DB2)
        out("change_user", q(cur, "SELECT @cu, DATABASE(), CURRENT_USER()"))
        try:
            conn.change_user(USER, "wrong", DB)
            out("change_user.badpass", "changed with a wrong password")
        except m.OperationalError as e:
            out("change_user.badpass", e.args[0])
    step("change_user", change_user)

conn.close()
out("done", 1)
