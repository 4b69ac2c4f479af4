// Compat client for Node's mysql (mysqljs, pure JavaScript protocol).
'use strict';
const mysql = require('mysql');
const crypto = require('crypto');
const E = process.env;

function conn(opts = {}) {
  return mysql.createConnection(Object.assign({
    host: E.COMPAT_HOST, port: +E.COMPAT_PORT, user: E.COMPAT_USER, password: E.COMPAT_PASSWORD,
    database: E.COMPAT_DB, charset: 'UTF8MB4_GENERAL_CI', multipleStatements: true,
    supportBigNumbers: true, bigNumberStrings: true, dateStrings: true,
    infileStreamFactory: undefined, localInfile: true, maxAllowedPacket: 64 << 20,
  }, opts));
}

const call = (c, method, ...args) => new Promise((resolve, reject) =>
  c[method](...args, (err, res, fields) => err ? reject(err) : resolve([res, fields])));
const q = async (c, sql, args) => (await call(c, 'query', sql, args))[0];

function r(v) {
  if (v === null || v === undefined) return 'NULL';
  if (Buffer.isBuffer(v)) return 'x' + v.toString('hex');
  if (Array.isArray(v)) return '[' + v.map(r).join(', ') + ']';
  if (typeof v === 'object') return '{' + Object.entries(v).map(([k, x]) => k + '=' + r(x)).join(', ') + '}';
  return JSON.stringify(v);
}
const out = (name, ...vals) => console.log(name + ': ' + vals.map(r).join(' '));
// Not res.message: mysqljs reads the OK packet's info as a string to the end
// of the packet, but servers length-prefix it, so directly it shows a stray
// length byte. mysqli covers the info string (FINDING-1).
const okp = (res) => [res.affectedRows, res.insertId, res.changedRows, res.warningCount];

async function step(name, fn) {
  try { await fn(); } catch (e) { out(name, 'FAILED', e.errno, e.sqlState, e.sqlMessage || e.message); }
}

async function main() {
  const c = conn();
  await call(c, 'connect');
  out('connect', await q(c, 'SELECT 1 AS one'));
  try { await call(conn({ password: 'wrong' }), 'connect'); out('badpass', 'connected'); } catch (e) { out('badpass', e.errno); }
  if (E.COMPAT_TLS === '1') {
    const t = conn({ ssl: { rejectUnauthorized: false } });
    try { await call(t, 'connect'); console.log('tls: ok ' + r(await q(t, 'SELECT 1 AS one'))); t.end(); } catch (e) { console.log('tls: FAILED ' + e); }
  }
  await q(c, 'CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) UNIQUE, n INT)');
  await step('insert', async () => {
    out('insert', okp(await q(c, 'INSERT INTO t (v, n) VALUES (?, ?)', ['a', 1])));
    out('insert.multi', okp(await q(c, "INSERT INTO t (v, n) VALUES ('b', 2), ('c', 3)")));
  });
  await step('update', async () => {
    out('update', okp(await q(c, 'UPDATE t SET n = n + 10 WHERE id <= 2')));
    out('update.found_rows', okp(await q(c, 'UPDATE t SET n = n WHERE id <= 2')));
  });
  await step('types', async () => {
    await q(c, `CREATE TABLE types (id INT PRIMARY KEY, i INT, bu BIGINT UNSIGNED, bs BIGINT, d DECIMAL(20,6),
      f FLOAT, dbl DOUBLE, dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(3),
      s VARCHAR(50), b BLOB, j JSON, bt BIT(10), e ENUM('a','b','c'), st SET('x','y','z'),
      y YEAR, ti TINYINT, si SMALLINT, mi MEDIUMINT, c CHAR(3), tx TEXT)`);
    await q(c, `INSERT INTO types VALUES (1, -2147483648, 18446744073709551615,
      -9223372036854775808, 12345678901234.123456, 1.5, 3.141592653589793,
      '2024-02-29', '2024-02-29 23:59:59.123456', '2024-01-01 00:00:00.500',
      '-838:59:59.000', 'héllo 🐬 wörld', 0x00FF7F80000A0D5C27225C,
      '{"a": [1, 2.5, null, "x"]}', b'1010101010', 'b', 'x,z', 2024, -128, 32767,
      -8388608, 'abc', 'text')`);
    await q(c, 'INSERT INTO types (id) VALUES (2)');
    const [rows, fields] = await call(c, 'query', 'SELECT * FROM types ORDER BY id');
    out('types.fields', fields.map(f => [f.name, f.type, f.length, f.flags, f.decimals, f.charsetNr]));
    rows.forEach(row => out('types.row', Object.values(row)));
    out('types.params', Object.values((await q(c, 'SELECT ? AS a, ? AS b, ? AS c', ['héllo 🐬', null, Buffer.from([0, 255])]))[0]));
  });
  await step('large', async () => {
    const n = +E.COMPAT_LARGE, blob = Buffer.alloc(n);
    for (let i = 0; i < n; i++) blob[i] = i & 255;
    await q(c, 'CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)');
    out('large.insert', okp(await q(c, 'INSERT INTO big VALUES (1, ?)', [blob])));
    const row = (await q(c, 'SELECT b, LENGTH(b) AS n, MD5(b) AS m FROM big WHERE id = 1'))[0];
    out('large.select', row.n, row.m, blob.equals(row.b), crypto.createHash('md5').update(blob).digest('hex') === row.m);
  });
  await step('multi', async () => {
    await q(c, "CREATE PROCEDURE p2() BEGIN SELECT 1 AS a; SELECT 'two' AS b, 2 AS c; END");
    out('call', (await q(c, 'CALL p2()')).map(x => Array.isArray(x) ? x.map(Object.values) : okp(x)));
    out('multistatement', (await q(c, 'SELECT 1 AS x; SELECT 2 AS y; UPDATE t SET n = n + 1 WHERE id = 3')).map(x => Array.isArray(x) ? x.map(Object.values) : okp(x)));
    out('multistatement.after', await q(c, 'SELECT n FROM t WHERE id = 3'));
  });
  await step('tx', async () => {
    await call(c, 'beginTransaction');
    await q(c, "INSERT INTO t (v, n) VALUES ('tx1', 1)");
    await call(c, 'rollback');
    out('tx.rollback', await q(c, "SELECT COUNT(*) AS n FROM t WHERE v = 'tx1'"));
    await call(c, 'beginTransaction');
    await q(c, "INSERT INTO t (v, n) VALUES ('tx2', 1)");
    await call(c, 'commit');
    out('tx.commit', await q(c, "SELECT COUNT(*) AS n, @@autocommit AS ac, @@in_transaction AS it FROM t WHERE v = 'tx2'"));
  });
  await step('warnings', async () => {
    out('warnings.insert', okp(await q(c, "INSERT IGNORE INTO t (v, n) VALUES ('a', 99)")));
    out('warnings.show', await q(c, 'SHOW WARNINGS'));
  });
  await step('errors', async () => {
    for (const sql of ["INSERT INTO t (v, n) VALUES ('a', 1)", 'SELEC 1', 'SELECT * FROM no_such_table']) {
      try { await q(c, sql); out('error', 'no error'); } catch (e) { out('error', e.errno, e.code, e.sqlState, e.sqlMessage); }
    }
    out('error.after', await q(c, 'SELECT 1 AS one'));
  });
  await step('load_data', async () => {
    await q(c, 'CREATE TABLE li (id INT PRIMARY KEY, s VARCHAR(50))');
    out('load_data', okp(await q(c, "LOAD DATA LOCAL INFILE ? INTO TABLE li CHARACTER SET utf8mb4 FIELDS TERMINATED BY ','", [E.COMPAT_INFILE])));
    out('load_data.check', await q(c, 'SELECT COUNT(*) AS n, SUM(id) AS s, MAX(s) AS m FROM li'));
  });
  await step('session', async () => {
    await q(c, "SET SESSION sql_mode = 'ANSI_QUOTES,ONLY_FULL_GROUP_BY', time_zone = '+05:00', @u1 = 42");
    for (let i = 0; i < 4; i++) out('session.' + i, await q(c, 'SELECT @@sql_mode AS m, @@time_zone AS z, @u1 AS u, "v", ts FROM t, types WHERE t.id = 1 AND types.id = 1'));
    await q(c, 'SET SESSION sql_mode = DEFAULT, time_zone = DEFAULT');
  });
  await step('change_user', async () => {
    await q(c, 'SET @cu = 1');
    await call(c, 'changeUser', { database: E.COMPAT_DB2 });
    out('change_user', await q(c, 'SELECT @cu AS cu, DATABASE() AS db, CURRENT_USER() AS u'));
    await call(c, 'changeUser', { database: E.COMPAT_DB });
    out('change_user.back', await q(c, 'SELECT DATABASE() AS db, COUNT(*) AS n FROM t'));
  });
  await step('ping', async () => { await call(c, 'ping'); out('ping', await q(c, 'SELECT 1 AS one')); });
  await call(c, 'end');
  out('done', 1);
}
main().catch(e => { console.error(e); process.exit(1); });
