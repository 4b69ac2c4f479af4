// Compat client for MariaDB Connector/J with server-side prepared statements.
// Run: java -cp /usr/share/java/mariadb-java-client.jar clients/Compat.java
import java.security.MessageDigest;
import java.sql.*;
import java.util.*;

public class Compat {
    static final Map<String, String> E = System.getenv();
    static final String DB = E.get("COMPAT_DB"), DB2 = E.get("COMPAT_DB2");

    static Connection conn(String password, String opts) throws SQLException {
        String url = "jdbc:mariadb://" + E.get("COMPAT_HOST") + ":" + E.get("COMPAT_PORT") + "/" + DB
                + "?useServerPrepStmts=true&allowLocalInfile=true&allowMultiQueries=true&maxAllowedPacket=67108864" + opts;
        return DriverManager.getConnection(url, E.get("COMPAT_USER"), password);
    }

    static Connection conn(String opts) throws SQLException { return conn(E.get("COMPAT_PASSWORD"), opts); }

    static String r(Object v) throws SQLException {
        if (v == null) return "NULL";
        if (v instanceof byte[] b) return "x" + HexFormat.of().formatHex(b);
        if (v instanceof String s) return "'" + s + "'";
        if (v instanceof Blob b) return r(b.getBytes(1, (int) b.length()));
        return v.getClass().getSimpleName() + ":" + v;
    }

    static void out(String name, Object... vals) throws SQLException {
        StringBuilder sb = new StringBuilder(name).append(":");
        for (Object v : vals) sb.append(' ').append(v instanceof List<?> || v instanceof Number || v instanceof Boolean ? String.valueOf(v) : r(v));
        System.out.println(sb);
    }

    static void err(String name, SQLException e) { System.out.println(name + ": ERROR " + e.getErrorCode() + " " + e.getSQLState() + " " + e.getMessage().replaceAll("\\n.*", "").replaceAll("\\(conn=\\d+\\) ", "")); }

    static List<String> rows(ResultSet rs) throws SQLException {
        List<String> out = new ArrayList<>();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) {
            List<String> row = new ArrayList<>();
            for (int i = 1; i <= n; i++) row.add(r(rs.getObject(i)));
            out.add(row.toString());
        }
        return out;
    }

    static List<String> meta(ResultSetMetaData m) throws SQLException {
        List<String> out = new ArrayList<>();
        for (int i = 1; i <= m.getColumnCount(); i++)
            out.add(m.getColumnLabel(i) + "/" + m.getColumnTypeName(i) + "/" + m.getPrecision(i) + "/" + m.getScale(i) + "/" + m.isNullable(i) + "/" + m.isSigned(i));
        return out;
    }

    static List<String> q(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) ps.setObject(i + 1, args[i]);
            try (ResultSet rs = ps.executeQuery()) { return rows(rs); }
        }
    }

    interface Step { void run() throws Exception; }

    static void step(String name, Step s) {
        try { s.run(); } catch (Exception e) { System.out.println(name + ": FAILED " + e.toString().replaceAll("\\(conn=\\d+\\) ", "")); }
    }

    static final String TYPES = "CREATE TABLE types (id INT PRIMARY KEY, i INT, bu BIGINT UNSIGNED, bs BIGINT, d DECIMAL(20,6),"
            + " f FLOAT, dbl DOUBLE, dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(3),"
            + " s VARCHAR(50), b BLOB, j JSON, bt BIT(10), e ENUM('a','b','c'), st SET('x','y','z'),"
            + " y YEAR, ti TINYINT, si SMALLINT, mi MEDIUMINT, c CHAR(3), tx TEXT)";
    static final String TYPES_ROW = "INSERT INTO types VALUES (1, -2147483648, 18446744073709551615,"
            + " -9223372036854775808, 12345678901234.123456, 1.5, 3.141592653589793,"
            + " '2024-02-29', '2024-02-29 23:59:59.123456', '2024-01-01 00:00:00.500',"
            + " '-838:59:59.000', 'héllo 🐬 wörld', 0x00FF7F80000A0D5C27225C,"
            + " '{\"a\": [1, 2.5, null, \"x\"]}', b'1010101010', 'b', 'x,z', 2024, -128, 32767,"
            + " -8388608, 'abc', 'text')";

    public static void main(String[] a) throws Exception {
        Connection c = conn("");
        Statement s = c.createStatement();
        out("connect", q(c, "SELECT 1"));
        try { conn("wrong", ""); out("badpass", "connected"); } catch (SQLException e) { out("badpass", e.getErrorCode(), e.getSQLState()); }
        if ("1".equals(E.get("COMPAT_TLS"))) {
            try (Connection t = conn("&useSsl=true&trustServerCertificate=true")) {
                System.out.println("tls: ok " + q(t, "SELECT 1"));
            } catch (SQLException e) { System.out.println("tls: FAILED " + e); }
        }
        step("compress", () -> {
            try (Connection z = conn("&useCompression=true")) {
                out("compress", q(z, "SELECT 1, LENGTH(REPEAT('abc', 50000))"), q(z, "SELECT MD5(REPEAT('abc', 500000))"));
            }
        });
        s.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) UNIQUE, n INT)");
        step("insert", () -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO t (v, n) VALUES (?, ?)", Statement.RETURN_GENERATED_KEYS)) {
                ps.setString(1, "a"); ps.setInt(2, 1);
                out("insert", ps.executeUpdate());
                ResultSet k = ps.getGeneratedKeys(); k.next(); out("insert.id", k.getLong(1));
            }
            out("insert.multi", s.executeUpdate("INSERT INTO t (v, n) VALUES ('b', 2), ('c', 3)", Statement.RETURN_GENERATED_KEYS));
            out("insert.multi.keys", rows(s.getGeneratedKeys()));
        });
        step("update", () -> {
            out("update", s.executeUpdate("UPDATE t SET n = n + 10 WHERE id <= 2"));
            // Connector/J sets CLIENT_FOUND_ROWS unless useAffectedRows=true.
            out("update.found_rows", s.executeUpdate("UPDATE t SET n = n WHERE id <= 2"));
            try (Connection x = conn("&useAffectedRows=true")) {
                out("update.affected_rows", x.createStatement().executeUpdate("UPDATE t SET n = n WHERE id <= 2"));
            }
        });
        step("types", () -> {
            s.execute(TYPES); s.execute(TYPES_ROW); s.execute("INSERT INTO types (id) VALUES (2)");
            try (ResultSet rs = s.executeQuery("SELECT * FROM types ORDER BY id")) {
                out("types.text.meta", meta(rs.getMetaData())); out("types.text.rows", rows(rs));
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT * FROM types WHERE id >= ? ORDER BY id")) {
                for (int i = 0; i < 2; i++) {
                    ps.setInt(1, 1);
                    try (ResultSet rs = ps.executeQuery()) { out("types.binary.meta", meta(rs.getMetaData())); out("types.binary.rows", rows(rs)); }
                }
            }
            out("types.params", q(c, "SELECT ?, ?, ?, ?, ?", "héllo 🐬", null, new java.math.BigDecimal("18446744073709551615"), new byte[]{0, -1}, java.sql.Timestamp.valueOf("2024-02-29 23:59:59.123456")));
        });
        step("large", () -> {
            byte[] blob = new byte[Integer.parseInt(E.get("COMPAT_LARGE"))];
            for (int i = 0; i < blob.length; i++) blob[i] = (byte) i;
            s.execute("CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO big VALUES (1, ?)")) {
                ps.setBytes(1, blob); out("large.insert", ps.executeUpdate());
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT b, LENGTH(b), MD5(b) FROM big WHERE id = ?")) {
                ps.setInt(1, 1);
                ResultSet rs = ps.executeQuery(); rs.next();
                String md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(blob));
                out("large.select", rs.getLong(2), rs.getString(3), Arrays.equals(rs.getBytes(1), blob), md5.equals(rs.getString(3)));
            }
        });
        step("multi", () -> {
            s.execute("CREATE PROCEDURE p2() BEGIN SELECT 1 AS a; SELECT 'two' AS b, 2 AS c; END");
            try (CallableStatement cs = c.prepareCall("{CALL p2()}")) {
                boolean rs = cs.execute(); int i = 0;
                while (true) {
                    if (rs) out("call." + i, rows(cs.getResultSet())); else if (cs.getUpdateCount() == -1) break; else out("call." + i, "count", cs.getUpdateCount());
                    rs = cs.getMoreResults(); i++;
                }
            }
            boolean rs = s.execute("SELECT 1 AS x; SELECT 2 AS y; UPDATE t SET n = n + 1 WHERE id = 3"); int i = 0;
            while (true) {
                if (rs) out("multistatement." + i, rows(s.getResultSet())); else if (s.getUpdateCount() == -1) break; else out("multistatement." + i, "count", s.getUpdateCount());
                rs = s.getMoreResults(); i++;
            }
            out("multistatement.after", q(c, "SELECT n FROM t WHERE id = 3"));
        });
        step("tx", () -> {
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO t (v, n) VALUES ('tx1', 1)");
            c.rollback();
            out("tx.rollback", q(c, "SELECT COUNT(*) FROM t WHERE v = 'tx1'"));
            s.executeUpdate("INSERT INTO t (v, n) VALUES ('tx2', 1)");
            Savepoint sp = c.setSavepoint("sp1");
            s.executeUpdate("INSERT INTO t (v, n) VALUES ('tx3', 1)");
            c.rollback(sp);
            c.commit();
            c.setAutoCommit(true);
            out("tx.commit", q(c, "SELECT v FROM t WHERE v LIKE 'tx%' ORDER BY v"), q(c, "SELECT @@autocommit, @@in_transaction"));
            c.setReadOnly(true);
            out("tx.readonly", q(c, "SELECT COUNT(*) FROM t"));
            c.setReadOnly(false);
        });
        step("warnings", () -> {
            out("warnings.insert", s.executeUpdate("INSERT IGNORE INTO t (v, n) VALUES ('a', 99)"));
            SQLWarning w = s.getWarnings();
            out("warnings.get", w == null ? "none" : w.getErrorCode() + " " + w.getMessage());
            out("warnings.show", q(c, "SHOW WARNINGS"));
        });
        step("errors", () -> {
            for (String sql : new String[]{"INSERT INTO t (v, n) VALUES ('a', 1)", "SELEC 1", "SELECT * FROM no_such_table"}) {
                try { s.execute(sql); out("error.text", "no error"); } catch (SQLException e) { err("error.text", e); }
                try (PreparedStatement ps = c.prepareStatement(sql)) { ps.execute(); out("error.prepared", "no error"); } catch (SQLException e) { err("error.prepared", e); }
            }
            out("error.after", q(c, "SELECT 1"));
        });
        step("load_data", () -> {
            s.execute("CREATE TABLE li (id INT PRIMARY KEY, s VARCHAR(50))");
            out("load_data", s.executeUpdate("LOAD DATA LOCAL INFILE '" + E.get("COMPAT_INFILE") + "' INTO TABLE li CHARACTER SET utf8mb4 FIELDS TERMINATED BY ','"));
            out("load_data.check", q(c, "SELECT COUNT(*), SUM(id), MAX(s) FROM li"));
        });
        step("session", () -> {
            s.execute("SET SESSION sql_mode = 'ANSI_QUOTES,ONLY_FULL_GROUP_BY', time_zone = '+05:00', @u1 = 42");
            for (int i = 0; i < 4; i++) out("session." + i, q(c, "SELECT @@sql_mode, @@time_zone, @u1, \"v\", ts FROM t, types WHERE t.id = ? AND types.id = 1", 1));
            s.execute("SET SESSION sql_mode = DEFAULT, time_zone = DEFAULT");
        });
        step("charset", () -> {
            s.execute("SET NAMES latin1");
            out("charset.set_names", q(c, "SELECT @@character_set_client, HEX(?)", "é"));
            s.execute("SET NAMES utf8mb4");
            out("charset.utf8mb4", q(c, "SELECT @@character_set_client, 'é🐬', HEX('é🐬')"));
        });
        step("use", () -> {
            c.setCatalog(DB2);
            out("use.catalog", c.getCatalog(), q(c, "SELECT DATABASE()"), q(c, "SELECT DATABASE()"));
            s.execute("USE " + DB);
            out("use", q(c, "SELECT DATABASE(), COUNT(*) FROM t"));
        });
        step("ping", () -> out("ping", c.isValid(5), q(c, "SELECT 1")));
        c.close();
        out("done", 1);
    }
}
