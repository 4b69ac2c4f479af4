# Drives COM_CHANGE_USER and COM_RESET_CONNECTION through libmariadb (the
# mariadb CLI's client library) against the proxy: argv = host port.
import ctypes
import sys
from ctypes import POINTER, c_char, c_char_p, c_int, c_uint, c_ulong, c_void_p

lib = ctypes.CDLL("libmariadb.so.3")
lib.mysql_init.restype = c_void_p
lib.mysql_init.argtypes = [c_void_p]
lib.mysql_real_connect.restype = c_void_p
lib.mysql_real_connect.argtypes = [c_void_p, c_char_p, c_char_p, c_char_p, c_char_p, c_uint, c_char_p, c_ulong]
lib.mysql_change_user.restype = c_char
lib.mysql_change_user.argtypes = [c_void_p, c_char_p, c_char_p, c_char_p]
lib.mysql_reset_connection.restype = c_int
lib.mysql_reset_connection.argtypes = [c_void_p]
lib.mysql_query.restype = c_int
lib.mysql_query.argtypes = [c_void_p, c_char_p]
lib.mysql_store_result.restype = c_void_p
lib.mysql_store_result.argtypes = [c_void_p]
lib.mysql_fetch_row.restype = POINTER(c_char_p)
lib.mysql_fetch_row.argtypes = [c_void_p]
lib.mysql_free_result.argtypes = [c_void_p]
lib.mysql_error.restype = c_char_p
lib.mysql_error.argtypes = [c_void_p]
lib.mysql_errno.restype = c_uint
lib.mysql_errno.argtypes = [c_void_p]

host, port = sys.argv[1].encode(), int(sys.argv[2])
m = lib.mysql_init(None)
if not lib.mysql_real_connect(m, host, b"app", b"app", b"pt2", port, None, 0):
    sys.exit("connect: %s" % lib.mysql_error(m))


def q(sql):
    if lib.mysql_query(m, sql.encode()):
        sys.exit("%s: %s" % (sql, lib.mysql_error(m)))
    res = lib.mysql_store_result(m)
    if not res:
        return None
    row = lib.mysql_fetch_row(res)
    v = row[0] if row else None
    lib.mysql_free_result(res)
    return v.decode() if v is not None else "NULL"


def expect(sql, want):
    got = q(sql)
    if got != want:
        sys.exit("%s = %r, want %r" % (sql, got, want))


q("INSERT INTO pt2.cu VALUES (1)")
q("SET @x = 'before'")
q("SET SESSION sql_mode = 'ANSI'")
expect("SELECT CONCAT(SUBSTRING_INDEX(CURRENT_USER(), '@', 1), ' ', DATABASE(), ' ', @x)", "app pt2 before")
if lib.mysql_change_user(m, b"other", b"pw2", None) != b"\x00":
    sys.exit("change_user: %s" % lib.mysql_error(m))
expect("SELECT CONCAT(SUBSTRING_INDEX(CURRENT_USER(), '@', 1), ' ', COALESCE(DATABASE(), 'null'), ' ', COALESCE(@x, 'null'))", "other null null")
expect("SELECT @@sql_mode = 'ANSI'", "0")
q("SET @y = 1")
if lib.mysql_reset_connection(m):
    sys.exit("reset_connection: %s" % lib.mysql_error(m))
expect("SELECT CONCAT(SUBSTRING_INDEX(CURRENT_USER(), '@', 1), ' ', COALESCE(@y, 'null'))", "other null")
# A wrong password: access denied, as from a server.
if lib.mysql_change_user(m, b"app", b"wrong", None) == b"\x00":
    sys.exit("change_user with a wrong password succeeded")
if lib.mysql_errno(m) != 1045:
    sys.exit("wrong password: errno %d %s" % (lib.mysql_errno(m), lib.mysql_error(m)))
# As on mariadbd, the connection stays open as the old user and database,
# with the rest of the session reset.
expect("SELECT CONCAT(SUBSTRING_INDEX(CURRENT_USER(), '@', 1), ' ', COALESCE(DATABASE(), 'null'), ' ', COALESCE(@y, 'null'))", "other null null")
if lib.mysql_change_user(m, b"app", b"app", b"pt2") != b"\x00":
    sys.exit("change_user back: %s" % lib.mysql_error(m))
q("SET @z = 3")
if lib.mysql_change_user(m, b"app", b"app", b"no_such_db") == b"\x00":
    sys.exit("change_user to an unknown database succeeded")
if lib.mysql_errno(m) != 1049:
    sys.exit("unknown database: errno %d %s" % (lib.mysql_errno(m), lib.mysql_error(m)))
expect("SELECT CONCAT(SUBSTRING_INDEX(CURRENT_USER(), '@', 1), ' ', DATABASE(), ' ', COALESCE(@z, 'null'))", "app pt2 null")
# The connection's write before its user changes is still its own.
expect("SELECT COUNT(*) FROM pt2.cu", "1")
print("ok")
