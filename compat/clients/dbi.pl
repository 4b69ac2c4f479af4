#!/usr/bin/perl
# Compat client for Perl DBI: DBD::MariaDB or DBD::mysql (argument), with
# server-side prepared statements.
use strict;
use warnings;
use DBI;
use Digest::MD5 qw(md5_hex);

my $drv = shift @ARGV;
my $p = $drv eq 'MariaDB' ? 'mariadb' : 'mysql';
my %E = %ENV;
my ($DB, $DB2) = @E{qw(COMPAT_DB COMPAT_DB2)};
binmode STDOUT, ':utf8';

sub dbh {
    my ($pass, %attr) = @_;
    my $dsn = "DBI:$drv:database=$DB;host=$E{COMPAT_HOST};port=$E{COMPAT_PORT};${p}_local_infile=1;${p}_server_prepare=1";
    $dsn .= ";$_=$attr{$_}" for grep { /^$p/ } sort keys %attr;
    return DBI->connect($dsn, $E{COMPAT_USER}, $pass // $E{COMPAT_PASSWORD},
        { RaiseError => 1, PrintError => 0, AutoCommit => 1, ($drv eq 'mysql' ? (mysql_enable_utf8mb4 => 1) : ()),
          map { $_ => $attr{$_} } grep { !/^$p/ } keys %attr });
}

sub r {
    my $v = shift;
    return 'NULL' unless defined $v;
    return '[' . join(', ', map { r($_) } @$v) . ']' if ref $v eq 'ARRAY';
    return 'x' . unpack('H*', $v) if !utf8::is_utf8($v) && $v =~ /[^\x20-\x7e]/;
    return "'$v'";
}
sub out { my $n = shift; print "$n: ", join(' ', map { r($_) } @_), "\n" }
sub step {
    my ($n, $f) = @_;
    eval { $f->(); 1 } or do { out($n, 'FAILED', $DBI::err, $DBI::state, $DBI::errstr) };
}

my $d = dbh();
sub qa { my ($sql, @a) = @_; return $d->selectall_arrayref($sql, undef, @a) }
out('connect', qa('SELECT 1'));
eval { dbh('wrong'); out('badpass', 'connected'); 1 } or out('badpass', $DBI::err);
# No TLS check: both drivers insist on verifying the server certificate when
# TLS is enforced, and the test proxy's certificate is self-signed.

step('compress', sub {
    my $z = dbh(undef, "${p}_compression" => 1);
    out('compress', $z->selectall_arrayref("SELECT 1, MD5(REPEAT('abc', 500000))"));
});
$d->do('CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) UNIQUE, n INT)');
step('insert', sub {
    my $sth = $d->prepare('INSERT INTO t (v, n) VALUES (?, ?)');
    out('insert', $sth->execute('a', 1), $sth->{"${p}_insertid"}, $d->last_insert_id(undef, undef, undef, undef));
    out('insert.multi', $d->do("INSERT INTO t (v, n) VALUES ('b', 2), ('c', 3)"), $d->{"${p}_insertid"}, $d->{"${p}_info"});
});
step('update', sub {
    out('update', $d->do('UPDATE t SET n = n + 10 WHERE id <= ?', undef, 2), $d->{"${p}_info"});
    out('update.unchanged', $d->do('UPDATE t SET n = n WHERE id <= 2'));
    my $f = dbh(undef, "${p}_client_found_rows" => 1);
    out('update.found_rows', $f->do('UPDATE t SET n = n WHERE id <= 2'));
});
step('types', sub {
    $d->do(q{CREATE TABLE types (id INT PRIMARY KEY, i INT, bu BIGINT UNSIGNED, bs BIGINT, d DECIMAL(20,6),
      f FLOAT, dbl DOUBLE, dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(3),
      s VARCHAR(50), b BLOB, j JSON, bt BIT(10), e ENUM('a','b','c'), st SET('x','y','z'),
      y YEAR, ti TINYINT, si SMALLINT, mi MEDIUMINT, c CHAR(3), tx TEXT)});
    $d->do(qq{INSERT INTO types VALUES (1, -2147483648, 18446744073709551615,
      -9223372036854775808, 12345678901234.123456, 1.5, 3.141592653589793,
      '2024-02-29', '2024-02-29 23:59:59.123456', '2024-01-01 00:00:00.500',
      '-838:59:59.000', 'h\x{e9}llo \x{1f42c} w\x{f6}rld', 0x00FF7F80000A0D5C27225C,
      '{"a": [1, 2.5, null, "x"]}', b'1010101010', 'b', 'x,z', 2024, -128, 32767,
      -8388608, 'abc', 'text')});
    $d->do('INSERT INTO types (id) VALUES (2)');
    for my $sp (0, 1) {
        my $sth = $d->prepare('SELECT * FROM types WHERE id >= ? ORDER BY id', { "${p}_server_prepare" => $sp });
        $sth->execute(1);
        out("types.$sp.names", $sth->{NAME});
        out("types.$sp.types", $sth->{TYPE});
        out("types.$sp.row", $_) for @{ $sth->fetchall_arrayref };
    }
});
step('large', sub {
    my $blob = substr(join('', map { chr } 0 .. 255) x ($E{COMPAT_LARGE} / 256 + 1), 0, $E{COMPAT_LARGE});
    $d->do('CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)');
    my $sth = $d->prepare('INSERT INTO big VALUES (1, ?)');
    $sth->bind_param(1, $blob, DBI::SQL_BLOB);
    out('large.insert', $sth->execute);
    my ($b, $n, $md5) = $d->selectrow_array('SELECT b, LENGTH(b), MD5(b) FROM big WHERE id = ?', undef, 1);
    out('large.select', $n, $md5, $b eq $blob ? 1 : 0, md5_hex($blob) eq $md5 ? 1 : 0);
});
step('multi', sub {
    $d->do("CREATE PROCEDURE p2() BEGIN SELECT 1 AS a; SELECT 'two' AS b, 2 AS c; END");
    my $sth = $d->prepare('CALL p2()', { "${p}_server_prepare" => 0 });
    $sth->execute;
    my $i = 0;
    do { out("call.$i", $sth->{NUM_OF_FIELDS} ? $sth->fetchall_arrayref : 'no rows'); $i++ } while ($sth->more_results);
    out('call.after', qa('SELECT 3'));
    my $m = dbh(undef, "${p}_multi_statements" => 1, "${p}_server_prepare" => 0);
    $sth = $m->prepare('SELECT 1 AS x; SELECT 2 AS y; UPDATE t SET n = n + 1 WHERE id = 3');
    $sth->execute;
    $i = 0;
    do { out("multistatement.$i", $sth->{NUM_OF_FIELDS} ? $sth->fetchall_arrayref : $sth->rows); $i++ } while ($sth->more_results);
    out('multistatement.after', $m->selectall_arrayref('SELECT n FROM t WHERE id = 3'));
});
step('tx', sub {
    $d->begin_work;
    $d->do("INSERT INTO t (v, n) VALUES ('tx1', 1)");
    $d->rollback;
    out('tx.rollback', qa("SELECT COUNT(*) FROM t WHERE v = 'tx1'"));
    $d->{AutoCommit} = 0;
    $d->do("INSERT INTO t (v, n) VALUES ('tx2', 1)");
    $d->commit;
    $d->{AutoCommit} = 1;
    out('tx.commit', qa("SELECT COUNT(*), @\@autocommit FROM t WHERE v = 'tx2'"));
});
step('warnings', sub {
    out('warnings.insert', $d->do("INSERT IGNORE INTO t (v, n) VALUES ('a', 99)"), $d->{"${p}_warning_count"});
    out('warnings.show', qa('SHOW WARNINGS'));
});
step('errors', sub {
    for my $sql ("INSERT INTO t (v, n) VALUES ('a', 1)", 'SELEC 1', 'SELECT * FROM no_such_table') {
        eval { $d->do($sql); 1 } ? out('error', 'no error') : out('error', $DBI::err, $DBI::state, $DBI::errstr);
    }
    out('error.after', qa('SELECT 1'));
});
step('load_data', sub {
    $d->do('CREATE TABLE li (id INT PRIMARY KEY, s VARCHAR(50))');
    out('load_data', $d->do("LOAD DATA LOCAL INFILE '$E{COMPAT_INFILE}' INTO TABLE li CHARACTER SET utf8mb4 FIELDS TERMINATED BY ','"));
    out('load_data.check', qa('SELECT COUNT(*), SUM(id), MAX(s) FROM li'));
});
step('session', sub {
    $d->do("SET SESSION sql_mode = 'ANSI_QUOTES,ONLY_FULL_GROUP_BY', time_zone = '+05:00', \@u1 = 42");
    out("session.$_", qa('SELECT @@sql_mode, @@time_zone, @u1, "v", ts FROM t, types WHERE t.id = ? AND types.id = 1', 1)) for 0 .. 3;
    $d->do('SET SESSION sql_mode = DEFAULT, time_zone = DEFAULT');
});
step('use', sub {
    $d->do("USE $DB2");
    out('use', qa('SELECT DATABASE()'), qa('SELECT DATABASE()'));
    $d->do("USE $DB");
    out('use.back', qa('SELECT DATABASE(), COUNT(*) FROM t'));
});
step('ping', sub { out('ping', $d->ping ? 1 : 0, qa('SELECT 1')) });
$d->disconnect;
out('done', 1);
