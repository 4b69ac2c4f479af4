<?php
// Compat client for PHP mysqli (mysqlnd). Run with -d mysqli.allow_local_infile=1.
require __DIR__ . '/common.php';
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);

function conn(string $password = null, int $flags = 0, string $charset = 'utf8mb4'): mysqli {
    global $HOST, $PORT, $USER, $PASSWORD, $DB;
    $m = mysqli_init();
    $m->options(MYSQLI_OPT_LOCAL_INFILE, true);
    $m->options(MYSQLI_OPT_INT_AND_FLOAT_NATIVE, true);
    if ($flags & MYSQLI_CLIENT_SSL) {
        $m->ssl_set(null, null, null, null, null);
    }
    $m->real_connect($HOST, $USER, $password ?? $PASSWORD, $DB, $PORT, null, $flags);
    $m->set_charset($charset);
    return $m;
}

function err(string $name, mysqli_sql_exception $e): void {
    out($name, 'ERROR', $e->getCode(), $e->getSqlState(), $e->getMessage());
}

function step(string $name, callable $fn): void {
    try {
        $fn();
    } catch (mysqli_sql_exception $e) {
        out($name, 'FAILED', $e->getCode(), $e->getSqlState(), $e->getMessage());
    }
}

function q(mysqli $m, string $sql): array {
    return $m->query($sql)->fetch_all(MYSQLI_NUM);
}

function fields($res): array {
    return array_map(fn($f) => [$f->name, $f->orgname, $f->table, $f->type, $f->length,
        $f->flags, $f->charsetnr, $f->decimals], $res->fetch_fields());
}

$m = conn();
out('connect', q($m, 'SELECT 1'));

try {
    conn('wrong');
    out('badpass', 'connected with a wrong password');
} catch (mysqli_sql_exception $e) {
    out('badpass', $e->getCode(), $e->getSqlState());
}

if ($TLS) {
    try {
        $c = conn(null, MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_DONT_VERIFY_SERVER_CERT);
        echo 'tls: ok ', r(q($c, 'SELECT 1')), "\n";
        $c->close();
    } catch (mysqli_sql_exception $e) {
        echo 'tls: FAILED ', $e->getMessage(), "\n";
    }
}

step('compress', function () {
    $c = conn(null, MYSQLI_CLIENT_COMPRESS);
    out('compress', q($c, "SELECT 1, LENGTH(REPEAT('abc', 50000))"));
    out('compress.big', strlen(q($c, "SELECT REPEAT('abc', 50000)")[0][0]));
    $c->close();
});

$m->query('CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) UNIQUE, n INT)');

step('insert', function () use ($m) {
    $m->query("INSERT INTO t (v, n) VALUES ('a', 1)");
    out('insert', $m->insert_id, $m->affected_rows, $m->info);
    $m->query("INSERT INTO t (v, n) VALUES ('b', 2), ('c', 3)");
    out('insert.multi', $m->insert_id, $m->affected_rows, $m->info);
    out('insert.last_insert_id', q($m, 'SELECT LAST_INSERT_ID()'));
});

step('update', function () use ($m) {
    $m->query('UPDATE t SET n = n + 10 WHERE id <= 2');
    out('update', $m->affected_rows, $m->info);
    $m->query('UPDATE t SET n = n WHERE id = 1');
    out('update.unchanged', $m->affected_rows, $m->info);
    $c = conn(null, MYSQLI_CLIENT_FOUND_ROWS);
    $c->query('UPDATE t SET n = n WHERE id <= 2');
    out('update.found_rows', $c->affected_rows, $c->info);
    $c->close();
});

step('types', function () use ($m) {
    $m->query(TYPES);
    $m->query(TYPES_ROW);
    $m->query('INSERT INTO types (id) VALUES (2)');
    $res = $m->query('SELECT * FROM types ORDER BY id');
    out('types.fields', fields($res));
    foreach ($res->fetch_all(MYSQLI_NUM) as $row) {
        out('types.row', $row);
    }
});

step('prepare', function () use ($m) {
    $st = $m->prepare('SELECT * FROM types WHERE id >= ? ORDER BY id');
    out('prepare.params', $st->param_count, $st->field_count);
    $id = 1;
    $st->bind_param('i', $id);
    for ($i = 0; $i < 2; $i++) {
        $st->execute();
        $res = $st->get_result();
        out("prepare.fields.$i", fields($res));
        foreach ($res->fetch_all(MYSQLI_NUM) as $row) {
            out("prepare.row.$i", $row);
        }
    }
    $st->close();
    $st = $m->prepare('INSERT INTO t (v, n) VALUES (?, ?)');
    $v = 'ps1';
    $n = 5;
    $st->bind_param('si', $v, $n);
    $st->execute();
    out('prepare.insert', $st->insert_id, $st->affected_rows);
    $v = 'a';
    try {
        $st->execute();
    } catch (mysqli_sql_exception $e) {
        err('prepare.dup', $e);
    }
    $st->close();
    $st = $m->prepare('SELECT ?, ?, ?, ?, ?');
    $a = 18446744073709551615; $b = -1.25; $c = 'héllo 🐬'; $d = null; $e = "\x00\xff";
    $st->bind_param('sdsss', $a, $b, $c, $d, $e);
    $st->execute();
    out('prepare.params.echo', $st->get_result()->fetch_all(MYSQLI_NUM));
    $st->close();
    // bind_result path (no get_result): the libmysql-style fetch.
    $st = $m->prepare('SELECT id, v, n FROM t WHERE id <= ? ORDER BY id');
    $lim = 3;
    $st->bind_param('i', $lim);
    $st->execute();
    $st->store_result();
    out('prepare.num_rows', $st->num_rows);
    $st->bind_result($rid, $rv, $rn);
    while ($st->fetch()) {
        out('prepare.fetch', $rid, $rv, $rn);
    }
    $st->close();
    try {
        $m->prepare('SELEC ?');
    } catch (mysqli_sql_exception $e) {
        err('prepare.syntax', $e);
    }
});

step('long_data', function () use ($m, $LARGE) {
    global $LARGE;
    $blob = large_blob($LARGE);
    $m->query('CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)');
    $st = $m->prepare('INSERT INTO big VALUES (?, ?)');
    $id = 1;
    $null = null;
    $st->bind_param('ib', $id, $null);
    foreach (str_split($blob, 1 << 20) as $chunk) {
        $st->send_long_data(1, $chunk);
    }
    $st->execute();
    out('long_data.insert', $st->affected_rows);
    $st->close();
    $res = $m->query('SELECT b, LENGTH(b), MD5(b) FROM big WHERE id = 1')->fetch_row();
    out('long_data.select', $res[1], $res[2], $res[0] === $blob, md5($blob) === $res[2]);
    $st = $m->prepare('SELECT b FROM big WHERE id = ?');
    $st->bind_param('i', $id);
    $st->execute();
    $row = $st->get_result()->fetch_row();
    out('long_data.select.binary', strlen($row[0]), $row[0] === $blob);
    $st->close();
    // A 20 MiB statement in one COM_QUERY: several 16 MiB protocol packets.
    $m->query("INSERT INTO big VALUES (2, X'" . bin2hex(substr($blob, 0, 12 << 20)) . "')");
    out('large.query', $m->affected_rows, q($m, 'SELECT LENGTH(b), MD5(b) = MD5(SUBSTRING((SELECT b FROM big WHERE id = 1), 1, 12582912)) FROM big WHERE id = 2'));
});

function results(mysqli $m, string $name): void {
    $i = 0;
    do {
        $res = $m->store_result();
        if ($res) {
            out("$name.$i", array_map(fn($f) => $f->name, $res->fetch_fields()), $res->fetch_all(MYSQLI_NUM));
        } else {
            out("$name.$i", 'ok', $m->affected_rows);
        }
        $i++;
    } while ($m->more_results() && $m->next_result());
}

step('multi', function () use ($m) {
    $m->query("CREATE PROCEDURE p2() BEGIN SELECT 1 AS a; SELECT 'two' AS b, 2 AS c; END");
    $m->multi_query('CALL p2()');
    results($m, 'call');
    out('call.after', q($m, 'SELECT 3'));
    $m->multi_query('SELECT 1 AS x; SELECT 2 AS y; UPDATE t SET n = n + 1 WHERE id = 3');
    results($m, 'multistatement');
    out('multistatement.after', q($m, 'SELECT n FROM t WHERE id = 3'));
    $st = $m->prepare('CALL p2()');
    $st->execute();
    $i = 0;
    do {
        if ($res = $st->get_result()) {
            out("call.prepared.$i", $res->fetch_all(MYSQLI_NUM));
        } else {
            out("call.prepared.$i", 'ok');
        }
        $i++;
    } while ($st->more_results() && $st->next_result());
    $st->close();
    out('call.prepared.after', q($m, 'SELECT 4'));
});

step('tx', function () use ($m) {
    $m->autocommit(false);
    $m->query("INSERT INTO t (v, n) VALUES ('tx1', 1)");
    $m->rollback();
    out('tx.rollback', q($m, "SELECT COUNT(*) FROM t WHERE v = 'tx1'"));
    $m->query("INSERT INTO t (v, n) VALUES ('tx2', 1)");
    $m->commit();
    out('tx.commit', q($m, "SELECT COUNT(*) FROM t WHERE v = 'tx2'"));
    $m->autocommit(true);
    $m->begin_transaction();
    $m->query("INSERT INTO t (v, n) VALUES ('tx3', 1)");
    out('tx.inside', q($m, "SELECT COUNT(*) FROM t WHERE v = 'tx3'"));
    $m->rollback();
    out('tx.begin_rollback', q($m, "SELECT COUNT(*) FROM t WHERE v = 'tx3'"));
    $m->begin_transaction(MYSQLI_TRANS_START_READ_ONLY);
    out('tx.read_only', q($m, "SELECT COUNT(*) FROM t"));
    $m->commit();
    out('tx.autocommit', q($m, 'SELECT @@autocommit, @@in_transaction'));
});

step('warnings', function () use ($m) {
    $m->query("INSERT IGNORE INTO t (v, n) VALUES ('a', 99)");
    out('warnings.insert', $m->affected_rows, $m->warning_count);
    $w = $m->get_warnings();
    $all = [];
    if ($w) {
        do {
            $all[] = [$w->errno, $w->sqlstate, $w->message];
        } while ($w->next());
    }
    out('warnings.get', $all);
    out('warnings.show', q($m, 'SHOW WARNINGS'));
    $r = q($m, "SELECT CAST('12abc' AS INT)");
    out('warnings.cast', $r, $m->warning_count, q($m, 'SHOW WARNINGS'));
});

step('errors', function () use ($m) {
    foreach (["INSERT INTO t (v, n) VALUES ('a', 1)", 'SELEC 1', 'SELECT * FROM no_such_table',
              'SELECT no_such_column FROM t'] as $sql) {
        try {
            $m->query($sql);
            out('error', $sql, 'no error');
        } catch (mysqli_sql_exception $e) {
            err('error', $e);
        }
    }
    out('error.after', q($m, 'SELECT 1'), $m->errno, $m->sqlstate);
});

step('load_data', function () use ($m) {
    global $INFILE;
    $m->query('CREATE TABLE li (id INT PRIMARY KEY, s VARCHAR(50))');
    $m->query("LOAD DATA LOCAL INFILE '" . $m->real_escape_string($INFILE) .
        "' INTO TABLE li CHARACTER SET utf8mb4 FIELDS TERMINATED BY ','");
    out('load_data', $m->affected_rows, $m->info);
    out('load_data.check', q($m, 'SELECT COUNT(*), SUM(id), MAX(s) FROM li'));
    try {
        $m->query("LOAD DATA LOCAL INFILE '/nonexistent/compat' INTO TABLE li");
        out('load_data.missing', 'no error');
    } catch (mysqli_sql_exception $e) {
        out('load_data.missing', 'ERROR', $e->getCode());
    }
    out('load_data.after', q($m, 'SELECT s FROM li WHERE id = 7'));
});

step('charset', function () use ($m) {
    $m->query('SET NAMES latin1');
    out('charset.set_names', q($m, 'SELECT @@character_set_client, @@character_set_connection, @@character_set_results'));
    out('charset.set_names.again', q($m, "SELECT @@character_set_client, HEX('é')"));
    $m->set_charset('latin1');
    out('charset.set_charset', $m->character_set_name(), q($m, 'SELECT @@character_set_client, s, HEX(s) FROM types WHERE id = 1'));
    $m->set_charset('utf8mb4');
    out('charset.utf8mb4', q($m, "SELECT @@character_set_client, 'é🐬', HEX('é🐬')"));
});

step('session', function () use ($m) {
    $m->query("SET SESSION sql_mode = 'ANSI_QUOTES,ONLY_FULL_GROUP_BY'");
    $m->query("SET time_zone = '+05:00'");
    for ($i = 0; $i < 4; $i++) {
        out("session.sql_mode.$i", q($m, 'SELECT @@sql_mode, @@time_zone'));
        out("session.table.$i", q($m, 'SELECT "v", ts FROM t, types WHERE t.id = 1 AND types.id = 1'));
    }
    $m->query('SET SESSION sql_mode = DEFAULT, time_zone = DEFAULT');
    out('session.default', q($m, 'SELECT @@sql_mode, @@time_zone'));
});

step('uservar', function () use ($m) {
    $m->query("SET @u1 = 42, @u2 = 'héllo', @u3 = NULL");
    for ($i = 0; $i < 4; $i++) {
        out("uservar.$i", q($m, 'SELECT @u1, @u2, @u3, n FROM t WHERE id = 1'));
    }
    $st = $m->prepare('SELECT @u1 + ?');
    $x = 1;
    $st->bind_param('i', $x);
    $st->execute();
    out('uservar.prepared', $st->get_result()->fetch_all(MYSQLI_NUM));
    $st->close();
});

step('temp', function () use ($m) {
    $m->query('CREATE TEMPORARY TABLE tt (x INT)');
    $m->query('INSERT INTO tt VALUES (1), (2)');
    for ($i = 0; $i < 3; $i++) {
        out("temp.$i", q($m, 'SELECT SUM(x) FROM tt'));
    }
    $m->query('DROP TEMPORARY TABLE tt');
});

step('use', function () use ($m) {
    global $DB, $DB2;
    $m->select_db($DB2);
    for ($i = 0; $i < 3; $i++) {
        out("initdb.$i", q($m, 'SELECT DATABASE(), COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()'));
    }
    $m->query("USE $DB");
    out('use', q($m, 'SELECT DATABASE(), COUNT(*) FROM t'));
    try {
        $m->select_db('no_such_db_compat');
    } catch (mysqli_sql_exception $e) {
        err('initdb.missing', $e);
    }
    out('initdb.after', q($m, 'SELECT DATABASE()'));
});

step('ping', function () use ($m) {
    out('ping', $m->ping(), q($m, 'SELECT 1'));
    out('stat', is_string($m->stat()));
});

step('change_user', function () use ($m) {
    global $USER, $PASSWORD, $DB, $DB2;
    $m->query('SET @cu = 1');
    $m->query('CREATE TEMPORARY TABLE cu_tmp (x INT)');
    $m->query("SET SESSION sql_mode = 'ANSI_QUOTES'");
    out('change_user', $m->change_user($USER, $PASSWORD, $DB2));
    out('change_user.state', q($m, 'SELECT @cu, DATABASE(), CURRENT_USER(), @@sql_mode = @@global.sql_mode'));
    try {
        $m->query('SELECT * FROM ' . $DB . '.cu_tmp');
        out('change_user.temp', 'still there');
    } catch (mysqli_sql_exception $e) {
        out('change_user.temp', $e->getCode());
    }
    try {
        $ok = $m->change_user($USER, 'wrong', $DB);
        out('change_user.badpass', $ok);
    } catch (mysqli_sql_exception $e) {
        out('change_user.badpass', 'ERROR', $e->getCode());
    }
});

$m->close();
out('done', 1);
