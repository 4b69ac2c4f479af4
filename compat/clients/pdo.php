<?php
// Compat client for PHP PDO_mysql (mysqlnd) with server-side prepared
// statements (ATTR_EMULATE_PREPARES off).
require __DIR__ . '/common.php';

function pdo(array $opts = [], string $password = null, string $charset = 'utf8mb4'): PDO {
    global $HOST, $PORT, $USER, $PASSWORD, $DB;
    return new PDO("mysql:host=$HOST;port=$PORT;dbname=$DB;charset=$charset", $USER, $password ?? $PASSWORD,
        $opts + [
            PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
            PDO::ATTR_EMULATE_PREPARES => false,
            PDO::ATTR_STRINGIFY_FETCHES => false,
            PDO::MYSQL_ATTR_LOCAL_INFILE => true,
            PDO::MYSQL_ATTR_MULTI_STATEMENTS => true,
        ]);
}

function step(string $name, callable $fn): void {
    try {
        $fn();
    } catch (PDOException $e) {
        out($name, 'FAILED', $e->errorInfo ?? $e->getMessage());
    }
}

function q(PDO $p, string $sql, array $args = []): array {
    $st = $p->prepare($sql);
    $st->execute($args);
    return $st->fetchAll(PDO::FETCH_NUM);
}

$p = pdo();
out('connect', q($p, 'SELECT 1'));
try {
    pdo([], 'wrong');
    out('badpass', 'connected with a wrong password');
} catch (PDOException $e) {
    out('badpass', $e->getCode());
}

step('compress', function () {
    $c = pdo([PDO::MYSQL_ATTR_COMPRESS => true]);
    out('compress', q($c, "SELECT 1, LENGTH(REPEAT('abc', 50000))"), strlen(q($c, "SELECT REPEAT('abc', 50000)")[0][0]));
});

$p->exec('CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) UNIQUE, n INT)');

step('insert', function () use ($p) {
    $st = $p->prepare('INSERT INTO t (v, n) VALUES (?, ?)');
    $st->execute(['a', 1]);
    out('insert', $p->lastInsertId(), $st->rowCount());
    out('insert.multi', $p->exec("INSERT INTO t (v, n) VALUES ('b', 2), ('c', 3)"), $p->lastInsertId());
});

step('update', function () use ($p) {
    $st = $p->prepare('UPDATE t SET n = n + 10 WHERE id <= ?');
    $st->execute([2]);
    out('update', $st->rowCount());
    $st = $p->prepare('UPDATE t SET n = n WHERE id = ?');
    $st->execute([1]);
    out('update.unchanged', $st->rowCount());
    $c = pdo([PDO::MYSQL_ATTR_FOUND_ROWS => true]);
    $st = $c->prepare('UPDATE t SET n = n WHERE id <= ?');
    $st->execute([2]);
    out('update.found_rows', $st->rowCount());
});

step('types', function () use ($p) {
    $p->exec(TYPES);
    $p->exec(TYPES_ROW);
    $p->exec('INSERT INTO types (id) VALUES (2)');
    foreach ([true, false] as $emulate) {
        $p->setAttribute(PDO::ATTR_EMULATE_PREPARES, $emulate);
        $st = $p->prepare('SELECT * FROM types WHERE id >= ? ORDER BY id');
        $st->execute([1]);
        $meta = [];
        for ($i = 0; $i < $st->columnCount(); $i++) {
            $m = $st->getColumnMeta($i);
            $meta[] = [$m['name'], $m['native_type'] ?? null, $m['len'], $m['precision'], $m['flags']];
        }
        $e = $emulate ? 'text' : 'binary';
        out("types.$e.meta", $meta);
        foreach ($st->fetchAll(PDO::FETCH_NUM) as $row) {
            out("types.$e.row", $row);
        }
    }
    $p->setAttribute(PDO::ATTR_EMULATE_PREPARES, false);
    out('types.params', q($p, 'SELECT ?, ?, ?, ?', ['héllo 🐬', null, -5, "\x00\xff"]));
});

step('large', function () use ($p) {
    global $LARGE;
    $blob = large_blob($LARGE);
    $p->exec('CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)');
    $st = $p->prepare('INSERT INTO big VALUES (1, ?)');
    $st->bindValue(1, $blob, PDO::PARAM_LOB);
    $st->execute();
    out('large.insert', $st->rowCount());
    $r = q($p, 'SELECT b, LENGTH(b), MD5(b) FROM big WHERE id = ?', [1])[0];
    out('large.select', $r[1], $r[2], $r[0] === $blob);
});

step('multi', function () use ($p) {
    $p->exec("CREATE PROCEDURE p2() BEGIN SELECT 1 AS a; SELECT 'two' AS b, 2 AS c; END");
    $st = $p->prepare('CALL p2()');
    $st->execute();
    $i = 0;
    do {
        out("call.$i", $st->columnCount(), $st->columnCount() ? $st->fetchAll(PDO::FETCH_NUM) : null);
        $i++;
    } while ($st->nextRowset());
    $st->closeCursor();
    out('call.after', q($p, 'SELECT 3'));
    $p->setAttribute(PDO::ATTR_EMULATE_PREPARES, true);
    $st = $p->query('SELECT 1 AS x; SELECT 2 AS y; UPDATE t SET n = n + 1 WHERE id = 3');
    $i = 0;
    do {
        out("multistatement.$i", $st->columnCount(), $st->columnCount() ? $st->fetchAll(PDO::FETCH_NUM) : $st->rowCount());
        $i++;
    } while ($st->nextRowset());
    $p->setAttribute(PDO::ATTR_EMULATE_PREPARES, false);
    out('multistatement.after', q($p, 'SELECT n FROM t WHERE id = 3'));
});

step('tx', function () use ($p) {
    $p->beginTransaction();
    $p->exec("INSERT INTO t (v, n) VALUES ('tx1', 1)");
    $p->rollBack();
    out('tx.rollback', q($p, "SELECT COUNT(*) FROM t WHERE v = 'tx1'"));
    $p->beginTransaction();
    $p->exec("INSERT INTO t (v, n) VALUES ('tx2', 1)");
    out('tx.inside', q($p, "SELECT COUNT(*) FROM t WHERE v = 'tx2'"), $p->inTransaction());
    $p->commit();
    out('tx.commit', q($p, "SELECT COUNT(*) FROM t WHERE v = 'tx2'"));
    $p->setAttribute(PDO::ATTR_AUTOCOMMIT, false);
    $p->exec("INSERT INTO t (v, n) VALUES ('tx3', 1)");
    $p->exec('ROLLBACK');
    $p->setAttribute(PDO::ATTR_AUTOCOMMIT, true);
    out('tx.autocommit_off', q($p, "SELECT COUNT(*) FROM t WHERE v = 'tx3'"), q($p, 'SELECT @@autocommit'));
});

step('warnings', function () use ($p) {
    out('warnings.insert', $p->exec("INSERT IGNORE INTO t (v, n) VALUES ('a', 99)"));
    out('warnings.show', q($p, 'SHOW WARNINGS'));
});

step('errors', function () use ($p) {
    foreach (["INSERT INTO t (v, n) VALUES ('a', 1)", 'SELEC 1', 'SELECT * FROM no_such_table'] as $sql) {
        foreach (['exec', 'prepare'] as $how) {
            try {
                $how === 'exec' ? $p->exec($sql) : $p->prepare($sql)->execute();
                out("error.$how", $sql, 'no error');
            } catch (PDOException $e) {
                out("error.$how", $e->errorInfo);
            }
        }
    }
    out('error.after', q($p, 'SELECT 1'));
});

step('load_data', function () use ($p) {
    global $INFILE;
    $p->exec('CREATE TABLE li (id INT PRIMARY KEY, s VARCHAR(50))');
    out('load_data', $p->exec('LOAD DATA LOCAL INFILE ' . $p->quote($INFILE) .
        " INTO TABLE li CHARACTER SET utf8mb4 FIELDS TERMINATED BY ','"));
    out('load_data.check', q($p, 'SELECT COUNT(*), SUM(id), MAX(s) FROM li'));
});

step('session', function () use ($p) {
    $p->exec("SET SESSION sql_mode = 'ANSI_QUOTES,ONLY_FULL_GROUP_BY', time_zone = '+05:00', @u1 = 42");
    for ($i = 0; $i < 4; $i++) {
        out("session.$i", q($p, 'SELECT @@sql_mode, @@time_zone, @u1, "v", ts FROM t, types WHERE t.id = ? AND types.id = 1', [1]));
    }
    $p->exec('SET SESSION sql_mode = DEFAULT, time_zone = DEFAULT');
});

step('charset', function () {
    $c = pdo([], null, 'latin1');
    out('charset.latin1', q($c, 'SELECT @@character_set_client, s, HEX(s) FROM types WHERE id = 1'));
});

step('use', function () use ($p) {
    global $DB, $DB2;
    $p->exec("USE $DB2");
    out('use', q($p, 'SELECT DATABASE()'), q($p, 'SELECT DATABASE()'));
    $p->exec("USE $DB");
    out('use.back', q($p, 'SELECT DATABASE(), COUNT(*) FROM t'));
});

out('done', 1);
