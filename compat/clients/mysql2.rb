# Compat client for Ruby mysql2 (libmariadb), with its server-side
# prepared statements.
require 'mysql2'
require 'digest'

E = ENV
DB, DB2 = E['COMPAT_DB'], E['COMPAT_DB2']

def conn(password: E['COMPAT_PASSWORD'], flags: 0, **opts)
  Mysql2::Client.new(host: E['COMPAT_HOST'], port: E['COMPAT_PORT'].to_i, username: E['COMPAT_USER'],
                     password: password, database: DB, encoding: 'utf8mb4', local_infile: true,
                     flags: Mysql2::Client::MULTI_STATEMENTS | flags, **opts)
end

def r(v)
  case v
  when nil then 'NULL'
  when Array then '[' + v.map { |x| r(x) }.join(', ') + ']'
  when Hash then '{' + v.map { |k, x| "#{k}=#{r(x)}" }.join(', ') + '}'
  when String
    v.encoding == Encoding::BINARY && v =~ /[^\x20-\x7e]/n ? 'x' + v.unpack1('H*') : v.inspect
  else "#{v.class}:#{v.inspect}"
  end
end

def out(name, *vals) = puts("#{name}: #{vals.map { |v| r(v) }.join(' ')}")

def step(name)
  yield
rescue Mysql2::Error => e
  out(name, 'FAILED', e.error_number, e.sql_state, e.message)
end

def rows(res) = res ? res.map { |row| row.values } : nil

c = conn
q = ->(sql, *args) { args.empty? ? rows(c.query(sql)) : rows(c.prepare(sql).execute(*args)) }
out('connect', q.('SELECT 1'))
begin
  conn(password: 'wrong')
  out('badpass', 'connected')
rescue Mysql2::Error => e
  out('badpass', e.error_number)
end
if E['COMPAT_TLS'] == '1'
  begin
    t = conn(ssl_mode: :required)
    puts "tls: ok #{r(rows(t.query('SELECT 1')))}"
  rescue Mysql2::Error => e
    puts "tls: FAILED #{e.message}"
  end
end
step('compress') do
  z = conn(flags: Mysql2::Client::COMPRESS)
  out('compress', rows(z.query("SELECT 1, MD5(REPEAT('abc', 500000))")))
end
c.query('CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) UNIQUE, n INT)')
step('insert') do
  c.query("INSERT INTO t (v, n) VALUES ('a', 1)")
  out('insert', c.last_id, c.affected_rows)
  st = c.prepare('INSERT INTO t (v, n) VALUES (?, ?)')
  st.execute('b', 2)
  out('insert.prepared', st.last_id, st.affected_rows)
  c.query("INSERT INTO t (v, n) VALUES ('c', 3), ('d', 4)")
  out('insert.multi', c.last_id, c.affected_rows)
end
step('update') do
  c.query('UPDATE t SET n = n + 10 WHERE id <= 2')
  out('update', c.affected_rows)
  c.query('UPDATE t SET n = n WHERE id = 1')
  out('update.unchanged', c.affected_rows)
  f = conn(flags: Mysql2::Client::FOUND_ROWS)
  f.query('UPDATE t SET n = n WHERE id <= 2')
  out('update.found_rows', f.affected_rows)
end
step('types') do
  c.query(<<~SQL)
    CREATE TABLE types (id INT PRIMARY KEY, i INT, bu BIGINT UNSIGNED, bs BIGINT, d DECIMAL(20,6),
      f FLOAT, dbl DOUBLE, dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(3),
      s VARCHAR(50), b BLOB, j JSON, bt BIT(10), e ENUM('a','b','c'), st SET('x','y','z'),
      y YEAR, ti TINYINT, si SMALLINT, mi MEDIUMINT, c CHAR(3), tx TEXT)
  SQL
  c.query(<<~SQL)
    INSERT INTO types VALUES (1, -2147483648, 18446744073709551615,
      -9223372036854775808, 12345678901234.123456, 1.5, 3.141592653589793,
      '2024-02-29', '2024-02-29 23:59:59.123456', '2024-01-01 00:00:00.500',
      '-838:59:59.000', 'héllo 🐬 wörld', 0x00FF7F80000A0D5C27225C,
      '{"a": [1, 2.5, null, "x"]}', b'1010101010', 'b', 'x,z', 2024, -128, 32767,
      -8388608, 'abc', 'text')
  SQL
  c.query('INSERT INTO types (id) VALUES (2)')
  res = c.query('SELECT * FROM types ORDER BY id', cast: true)
  out('types.text.fields', res.fields)
  rows(res).each { |row| out('types.text.row', row) }
  # Not tm: mysql2 turns a binary-protocol TIME into a Ruby Time, which
  # cannot hold -838:59:59.
  st = c.prepare('SELECT id, i, bu, bs, d, f, dbl, dt, dtm, ts, s, b, j, bt, e, st, y, ti, si, mi, c, tx FROM types WHERE id >= ? ORDER BY id')
  2.times { |i| rows(st.execute(1)).each { |row| out("types.binary.#{i}", row) } }
  out('types.params', rows(c.prepare('SELECT ?, ?, ?, ?').execute('héllo 🐬', nil, -5, "\x00\xff".b)))
end
step('large') do
  blob = ((0..255).map(&:chr).join.b * (E['COMPAT_LARGE'].to_i / 256 + 1))[0, E['COMPAT_LARGE'].to_i]
  c.query('CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)')
  c.prepare('INSERT INTO big VALUES (1, ?)').execute(blob)
  out('large.insert', c.affected_rows)
  b, n, md5 = c.query('SELECT b, LENGTH(b), MD5(b) FROM big WHERE id = 1', as: :array).first
  out('large.select', n, md5, b == blob, Digest::MD5.hexdigest(blob) == md5)
end
step('multi') do
  c.query("CREATE PROCEDURE p2() BEGIN SELECT 1 AS a; SELECT 'two' AS b, 2 AS c; END")
  res = c.query('CALL p2()')
  i = 0
  loop do
    out("call.#{i}", rows(res))
    i += 1
    break unless c.next_result
    res = c.store_result
  end
  out('call.after', q.('SELECT 3'))
  res = c.query('SELECT 1 AS x; SELECT 2 AS y; UPDATE t SET n = n + 1 WHERE id = 3')
  i = 0
  loop do
    out("multistatement.#{i}", rows(res), c.affected_rows)
    i += 1
    break unless c.next_result
    res = c.store_result
  end
  out('multistatement.after', q.('SELECT n FROM t WHERE id = 3'))
end
step('tx') do
  c.query('BEGIN')
  c.query("INSERT INTO t (v, n) VALUES ('tx1', 1)")
  c.query('ROLLBACK')
  out('tx.rollback', q.("SELECT COUNT(*) FROM t WHERE v = 'tx1'"))
  c.query('SET autocommit = 0')
  c.query("INSERT INTO t (v, n) VALUES ('tx2', 1)")
  c.query('COMMIT')
  c.query('SET autocommit = 1')
  out('tx.commit', q.("SELECT COUNT(*), @@autocommit FROM t WHERE v = 'tx2'"))
end
step('warnings') do
  c.query("INSERT IGNORE INTO t (v, n) VALUES ('a', 99)")
  out('warnings.insert', c.affected_rows, c.warning_count)
  out('warnings.show', q.('SHOW WARNINGS'))
end
step('errors') do
  ["INSERT INTO t (v, n) VALUES ('a', 1)", 'SELEC 1', 'SELECT * FROM no_such_table'].each do |sql|
    begin
      c.query(sql)
      out('error', 'no error')
    rescue Mysql2::Error => e
      out('error', e.error_number, e.sql_state, e.message)
    end
    begin
      c.prepare(sql).execute
      out('error.prepared', 'no error')
    rescue Mysql2::Error => e
      out('error.prepared', e.error_number, e.sql_state, e.message)
    end
  end
  out('error.after', q.('SELECT 1'))
end
step('load_data') do
  c.query('CREATE TABLE li (id INT PRIMARY KEY, s VARCHAR(50))')
  c.query("LOAD DATA LOCAL INFILE '#{E['COMPAT_INFILE']}' INTO TABLE li CHARACTER SET utf8mb4 FIELDS TERMINATED BY ','")
  out('load_data', c.affected_rows)
  out('load_data.check', q.('SELECT COUNT(*), SUM(id), MAX(s) FROM li'))
end
step('session') do
  c.query("SET SESSION sql_mode = 'ANSI_QUOTES,ONLY_FULL_GROUP_BY', time_zone = '+05:00', @u1 = 42")
  4.times { |i| out("session.#{i}", q.('SELECT @@sql_mode, @@time_zone, @u1, "v", ts FROM t, types WHERE t.id = ? AND types.id = 1', 1)) }
  c.query('SET SESSION sql_mode = DEFAULT, time_zone = DEFAULT')
end
step('use') do
  c.select_db(DB2)
  out('use', q.('SELECT DATABASE()'), q.('SELECT DATABASE()'))
  c.query("USE #{DB}")
  out('use.back', q.('SELECT DATABASE(), COUNT(*) FROM t'))
end
step('ping') { out('ping', c.ping, q.('SELECT 1')) }
c.close
out('done', 1)
