<?php
// Shared setup and output for the PHP compat clients (mysqli.php, pdo.php).
$HOST = getenv('COMPAT_HOST');
$PORT = (int) getenv('COMPAT_PORT');
$USER = getenv('COMPAT_USER');
$PASSWORD = getenv('COMPAT_PASSWORD');
$DB = getenv('COMPAT_DB');
$DB2 = getenv('COMPAT_DB2');
$TLS = getenv('COMPAT_TLS') === '1';
$INFILE = getenv('COMPAT_INFILE');
$LARGE = (int) getenv('COMPAT_LARGE');

const TYPES = "CREATE TABLE types (
  id INT PRIMARY KEY, i INT, bu BIGINT UNSIGNED, bs BIGINT, d DECIMAL(20,6),
  f FLOAT, dbl DOUBLE, dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(3),
  s VARCHAR(50), b BLOB, j JSON, bt BIT(10), e ENUM('a','b','c'), st SET('x','y','z'),
  y YEAR, ti TINYINT, si SMALLINT, mi MEDIUMINT, c CHAR(3), tx TEXT)";
const TYPES_ROW = "INSERT INTO types VALUES (1, -2147483648, 18446744073709551615,
  -9223372036854775808, 12345678901234.123456, 1.5, 3.141592653589793,
  '2024-02-29', '2024-02-29 23:59:59.123456', '2024-01-01 00:00:00.500',
  '-838:59:59.000', 'héllo 🐬 wörld', 0x00FF7F80000A0D5C27225C,
  '{\"a\": [1, 2.5, null, \"x\"]}', b'1010101010', 'b', 'x,z', 2024, -128, 32767,
  -8388608, 'abc', 'text')";

// r renders a value on one line: binary or control bytes as hex.
function r($v): string {
    if (is_array($v)) {
        $parts = [];
        foreach ($v as $k => $x) {
            $parts[] = (is_int($k) ? '' : $k . '=') . r($x);
        }
        return '[' . implode(', ', $parts) . ']';
    }
    if (is_object($v)) {
        return r(get_object_vars($v));
    }
    if (is_string($v) && (!preg_match('//u', $v) || preg_match('/[\x00-\x1f]/', $v))) {
        return 'x' . bin2hex($v);
    }
    return var_export($v, true);
}

function out(string $name, ...$vals): void {
    echo $name, ': ', implode(' ', array_map('r', $vals)), "\n";
}

function large_blob(int $n): string {
    $chunk = '';
    for ($i = 0; $i < 256; $i++) {
        $chunk .= chr($i);
    }
    return substr(str_repeat($chunk, intdiv($n, 256) + 1), 0, $n);
}
