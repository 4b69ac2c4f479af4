package routing

// kwID identifies the keywords the classifier looks at. Other SQL keywords
// have kwOther: the digest upper-cases them, the classifier ignores them.
type kwID uint8

const (
	kwNone kwID = iota // not a keyword
	kwOther
	kwAll
	kwAlter
	kwAnalyze
	kwAs
	kwAtomic
	kwBegin
	kwBinary
	kwBinlog
	kwCall
	kwCase
	kwChain
	kwCharacter
	kwCharset
	kwCollate
	kwCommit
	kwConnection
	kwConsistent
	kwCount
	kwCreate
	kwCurrval
	kwDeallocate
	kwDefault
	kwDelete
	kwDesc
	kwDescribe
	kwDo
	kwDrop
	kwDumpfile
	kwEngine
	kwErrors
	kwEvent
	kwExecute
	kwExplain
	kwExtended
	kwFalse
	kwFor
	kwFormat
	kwFoundRows
	kwFull
	kwFunction
	kwGetLock
	kwGlobal
	kwGrant
	kwHandler
	kwHelp
	kwIf
	kwImmediate
	kwIn
	kwInsert
	kwInto
	kwIsFreeLock
	kwIsUsedLock
	kwLastInsertID
	kwLastval
	kwLocal
	kwLock
	kwLoop
	kwMaster
	kwMasterGTIDWait
	kwMasterPosWait
	kwNames
	kwNextval
	kwNext
	kwNoWriteToBinlog
	kwNot
	kwNull
	kwOff
	kwOn
	kwOnly
	kwOr
	kwOutfile
	kwPackage
	kwPartitions
	kwPassword
	kwPersist
	kwPersistOnly
	kwPrepare
	kwPrevious
	kwProcedure
	kwProcesslist
	kwProfile
	kwProfiles
	kwRead
	kwRecursive
	kwRelayLog
	kwRelease
	kwReleaseAllLocks
	kwReleaseLock
	kwRename
	kwRepeat
	kwReplace
	kwReplica
	kwReplicas
	kwRevoke
	kwRole
	kwRollback
	kwRowCount
	kwSavepoint
	kwSelect
	kwSession
	kwSet
	kwSetval
	kwShare
	kwShow
	kwSlave
	kwSnapshot
	kwSourcePosWait
	kwSQLCalcFoundRows
	kwStart
	kwStatement
	kwStatus
	kwTable
	kwTables
	kwTemporary
	kwTo
	kwTransaction
	kwTrigger
	kwTrue
	kwTruncate
	kwUnlock
	kwUpdate
	kwUse
	kwValue
	kwValues
	kwView
	kwWaitForExecutedGTIDSet
	kwWaitUntilSQLThreadAfterGTIDs
	kwWarnings
	kwWhile
	kwWith
	kwWork
	kwWrite
	kwXA
)

// kwInfo is what the lexer knows about a keyword.
type kwInfo struct {
	id kwID
	fn bool // a function name: the digest writes no space before its "("
}

// keywords maps upper-case words to their meaning. Reserved words plus the
// common function names, so digests of "count(*)" and "COUNT(*)" agree.
var keywords = func() map[string]kwInfo {
	m := map[string]kwInfo{
		"ALL": {id: kwAll}, "ALTER": {id: kwAlter}, "ANALYZE": {id: kwAnalyze}, "AS": {id: kwAs},
		"ATOMIC": {id: kwAtomic}, "BEGIN": {id: kwBegin}, "BINARY": {id: kwBinary}, "BINLOG": {id: kwBinlog},
		"CALL": {id: kwCall}, "CASE": {id: kwCase}, "CHAIN": {id: kwChain}, "CHARACTER": {id: kwCharacter},
		"CHARSET": {id: kwCharset}, "COLLATE": {id: kwCollate}, "COMMIT": {id: kwCommit},
		"CONNECTION": {id: kwConnection}, "CONSISTENT": {id: kwConsistent}, "COUNT": {id: kwCount, fn: true},
		"CREATE": {id: kwCreate}, "CURRVAL": {id: kwCurrval}, "DEALLOCATE": {id: kwDeallocate}, "DEFAULT": {id: kwDefault},
		"DELETE": {id: kwDelete}, "DESC": {id: kwDesc}, "DESCRIBE": {id: kwDescribe}, "DO": {id: kwDo},
		"DROP": {id: kwDrop}, "DUMPFILE": {id: kwDumpfile}, "ENGINE": {id: kwEngine}, "ERRORS": {id: kwErrors},
		"EVENT": {id: kwEvent}, "EXECUTE": {id: kwExecute}, "EXPLAIN": {id: kwExplain},
		"EXTENDED": {id: kwExtended}, "FALSE": {id: kwFalse}, "FOR": {id: kwFor}, "FORMAT": {id: kwFormat, fn: true},
		"FOUND_ROWS": {id: kwFoundRows, fn: true}, "FULL": {id: kwFull}, "FUNCTION": {id: kwFunction},
		"GET_LOCK": {id: kwGetLock, fn: true}, "GLOBAL": {id: kwGlobal}, "GRANT": {id: kwGrant},
		"HANDLER": {id: kwHandler}, "HELP": {id: kwHelp}, "IF": {id: kwIf, fn: true}, "IMMEDIATE": {id: kwImmediate},
		"IN": {id: kwIn}, "INSERT": {id: kwInsert, fn: true}, "INTO": {id: kwInto},
		"IS_FREE_LOCK": {id: kwIsFreeLock, fn: true}, "IS_USED_LOCK": {id: kwIsUsedLock, fn: true},
		"LAST_INSERT_ID": {id: kwLastInsertID, fn: true}, "LASTVAL": {id: kwLastval, fn: true},
		"LOCAL": {id: kwLocal}, "LOCK": {id: kwLock}, "LOOP": {id: kwLoop}, "MASTER": {id: kwMaster},
		"MASTER_GTID_WAIT": {id: kwMasterGTIDWait, fn: true}, "MASTER_POS_WAIT": {id: kwMasterPosWait, fn: true},
		"NAMES": {id: kwNames}, "NEXTVAL": {id: kwNextval, fn: true}, "NEXT": {id: kwNext},
		"NO_WRITE_TO_BINLOG": {id: kwNoWriteToBinlog}, "NOT": {id: kwNot}, "NULL": {id: kwNull},
		"OFF": {id: kwOff}, "ON": {id: kwOn}, "ONLY": {id: kwOnly}, "OR": {id: kwOr}, "OUTFILE": {id: kwOutfile},
		"PACKAGE": {id: kwPackage}, "PARTITIONS": {id: kwPartitions}, "PASSWORD": {id: kwPassword, fn: true},
		"PERSIST": {id: kwPersist}, "PERSIST_ONLY": {id: kwPersistOnly}, "PREPARE": {id: kwPrepare},
		"PREVIOUS": {id: kwPrevious}, "PROCEDURE": {id: kwProcedure}, "PROCESSLIST": {id: kwProcesslist},
		"PROFILE": {id: kwProfile}, "PROFILES": {id: kwProfiles}, "READ": {id: kwRead},
		"RECURSIVE": {id: kwRecursive}, "RELAYLOG": {id: kwRelayLog}, "RELEASE": {id: kwRelease},
		"RELEASE_ALL_LOCKS": {id: kwReleaseAllLocks, fn: true}, "RELEASE_LOCK": {id: kwReleaseLock, fn: true},
		"RENAME": {id: kwRename}, "REPEAT": {id: kwRepeat, fn: true}, "REPLACE": {id: kwReplace, fn: true},
		"REPLICA": {id: kwReplica}, "REPLICAS": {id: kwReplicas}, "REVOKE": {id: kwRevoke}, "ROLE": {id: kwRole},
		"ROLLBACK": {id: kwRollback}, "ROW_COUNT": {id: kwRowCount, fn: true}, "SAVEPOINT": {id: kwSavepoint},
		"SELECT": {id: kwSelect}, "SESSION": {id: kwSession}, "SET": {id: kwSet}, "SETVAL": {id: kwSetval, fn: true},
		"SHARE": {id: kwShare}, "SHOW": {id: kwShow}, "SLAVE": {id: kwSlave}, "SNAPSHOT": {id: kwSnapshot},
		"SOURCE_POS_WAIT": {id: kwSourcePosWait, fn: true}, "SQL_CALC_FOUND_ROWS": {id: kwSQLCalcFoundRows},
		"START": {id: kwStart}, "STATEMENT": {id: kwStatement}, "STATUS": {id: kwStatus}, "TABLE": {id: kwTable},
		"TABLES": {id: kwTables}, "TEMPORARY": {id: kwTemporary}, "TO": {id: kwTo}, "TRANSACTION": {id: kwTransaction},
		"TRIGGER": {id: kwTrigger}, "TRUE": {id: kwTrue}, "TRUNCATE": {id: kwTruncate, fn: true},
		"UNLOCK": {id: kwUnlock}, "UPDATE": {id: kwUpdate}, "USE": {id: kwUse}, "VALUE": {id: kwValue},
		"VALUES": {id: kwValues}, "VIEW": {id: kwView},
		"WAIT_FOR_EXECUTED_GTID_SET":        {id: kwWaitForExecutedGTIDSet, fn: true},
		"WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS": {id: kwWaitUntilSQLThreadAfterGTIDs, fn: true},
		"WARNINGS":                          {id: kwWarnings}, "WHILE": {id: kwWhile}, "WITH": {id: kwWith},
		"WORK": {id: kwWork}, "WRITE": {id: kwWrite}, "XA": {id: kwXA},
	}
	// Keywords the classifier ignores but the digest upper-cases.
	for _, w := range []string{
		"ACCESSIBLE", "ADD", "AFTER", "AGAINST", "ALGORITHM", "AND", "ANY", "ASC", "ASENSITIVE", "AUTO_INCREMENT",
		"BEFORE", "BETWEEN", "BIGINT", "BLOB", "BOOLEAN", "BOTH", "BTREE", "BY", "CASCADE", "CHANGE", "CHAR",
		"CHECK", "COLUMN", "COLUMNS", "COMMENT", "COMMITTED", "CONSTRAINT", "CONTINUE", "CONVERT", "CROSS",
		"CUBE", "CURRENT", "CURSOR", "DATABASE", "DATABASES", "DATE", "DATETIME", "DAY", "DECIMAL", "DECLARE",
		"DEFINER", "DELAYED", "DETERMINISTIC", "DISTINCT", "DISTINCTROW", "DIV", "DOUBLE", "DUAL", "DUPLICATE",
		"EACH", "ELSE", "ELSEIF", "ENCLOSED", "END", "ENUM", "ESCAPE", "ESCAPED", "EXCEPT", "EXISTS", "EXIT",
		"FETCH", "FIELDS", "FIRST", "FLOAT", "FLUSH", "FOLLOWING", "FORCE", "FOREIGN", "FROM", "FULLTEXT",
		"GENERATED", "GROUP", "HASH", "HAVING", "HIGH_PRIORITY", "HOUR", "IDENTIFIED", "IGNORE", "INDEX", "INFILE",
		"INNER", "INOUT", "INT", "INTEGER", "INTERSECT", "INTERVAL", "INVOKER", "IS", "ISOLATION", "ITERATE",
		"JOIN", "JSON", "KEY", "KEYS", "KILL", "LAST", "LEADING", "LEAVE", "LEFT", "LEVEL", "LIKE", "LIMIT",
		"LINES", "LOAD", "LONGBLOB", "LONGTEXT", "LOW_PRIORITY", "MATCH", "MEDIUMINT", "MEDIUMTEXT", "MERGE",
		"MINUTE", "MOD", "MODE", "MODIFY", "MONTH", "NATURAL", "NOWAIT", "NO", "NUMERIC", "OF", "OFFSET",
		"OPTIMIZE", "OPTION", "OPTIONALLY", "ORDER", "OUT", "OUTER", "OVER", "PARTITION", "PRECEDING", "PRIMARY",
		"PURGE", "QUICK", "RANGE", "REFERENCES", "REGEXP", "REPAIR", "REPEATABLE", "RESET", "RESTRICT", "RETURN",
		"RETURNS", "RIGHT", "RLIKE", "ROLLUP", "ROW", "ROWS", "SCHEMA", "SCHEMAS", "SECOND", "SECURITY",
		"SEPARATOR", "SEQUENCE", "SERIALIZABLE", "SIGNAL", "SKIP", "SMALLINT", "SOME", "SPATIAL", "SQL",
		"SQL_BIG_RESULT", "SQL_BUFFER_RESULT", "SQL_CACHE", "SQL_NO_CACHE", "SQL_SMALL_RESULT", "STOP",
		"STRAIGHT_JOIN", "SYSTEM_TIME", "TERMINATED", "TEXT", "THEN", "TIME", "TIMESTAMP", "TINYINT", "TRAILING",
		"UNCOMMITTED", "UNION", "UNIQUE", "UNKNOWN", "UNSIGNED", "USER", "USING", "VARCHAR", "VARYING",
		"WAIT", "WHEN", "WHERE", "WINDOW", "XOR", "YEAR", "ZEROFILL",
	} {
		m[w] = kwInfo{id: kwOther}
	}
	// Function names: upper-cased, and "(" follows without a space.
	for _, w := range []string{
		"ABS", "AVG", "BENCHMARK", "BIT_AND", "BIT_OR", "CAST", "CEIL", "CEILING", "COALESCE", "CONCAT",
		"CONCAT_WS", "CONNECTION_ID", "CURDATE", "CURRENT_DATE", "CURRENT_TIMESTAMP", "CURRENT_USER",
		"CURTIME", "DATABASE", "DATE_ADD", "DATE_FORMAT", "DATE_SUB", "DATEDIFF", "FLOOR", "FROM_UNIXTIME",
		"GREATEST", "GROUP_CONCAT", "IFNULL", "INSTR", "ISNULL", "JSON_EXTRACT", "JSON_OBJECT", "JSON_ARRAY",
		"LCASE", "LEAST", "LENGTH", "LOCATE", "LOWER", "LPAD", "LTRIM", "MAX", "MD5", "MIN", "NOW", "NULLIF",
		"RAND", "ROUND", "RPAD", "RTRIM", "SHA1", "SHA2", "SLEEP", "STD", "STDDEV", "STR_TO_DATE", "SUBSTR",
		"SUBSTRING", "SUBSTRING_INDEX", "SUM", "SYSDATE", "TRIM", "UCASE", "UNIX_TIMESTAMP", "UPPER",
		"UTC_TIMESTAMP", "UUID", "VERSION",
	} {
		m[w] = kwInfo{id: kwOther, fn: true}
	}
	return m
}()

// maxKeywordLen bounds the stack buffer used to upper-case a word.
const maxKeywordLen = 40

// keywordSlots is an open-addressing hash table over keywords: every word of
// every statement is looked up, and hashing while upper-casing is about
// twice as fast as a Go map lookup (BenchmarkClassify).
var keywordSlots = func() (t [1024]struct {
	key  string
	info kwInfo
}) {
	for k, v := range keywords {
		i := kwHash([]byte(k)) & uint32(len(t)-1)
		for t[i].key != "" {
			i = (i + 1) & uint32(len(t)-1)
		}
		t[i].key, t[i].info = k, v
	}
	return t
}()

// kwHash is FNV-1a over the upper-cased word.
func kwHash(w []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range w {
		h = (h ^ uint32(upper(c))) * 16777619
	}
	return h
}

// lookupKeyword returns what is known about a word; zero when it is an
// identifier. It does not allocate.
func lookupKeyword(w []byte) kwInfo {
	if len(w) > maxKeywordLen || len(w) < 2 {
		return kwInfo{}
	}
	var buf [maxKeywordLen]byte
	h := uint32(2166136261)
	for i, c := range w {
		c = upper(c)
		buf[i] = c
		h = (h ^ uint32(c)) * 16777619
	}
	for i := h & uint32(len(keywordSlots)-1); keywordSlots[i].key != ""; i = (i + 1) & uint32(len(keywordSlots)-1) {
		if keywordSlots[i].key == string(buf[:len(w)]) {
			return keywordSlots[i].info
		}
	}
	return kwInfo{}
}

// classifierFilter has, per word length, bit (c-'A') of every first and of
// every last letter of the keywords the classifier acts on. Most
// identifiers and digest-only keywords (FROM, sbtest1) fail it and skip the
// table lookup.
var classifierFilter = func() (f [maxKeywordLen + 1]struct{ first, last uint32 }) {
	for k, v := range keywords {
		if v.id > kwOther {
			f[len(k)].first |= 1 << (k[0] - 'A')
			f[len(k)].last |= 1 << (k[len(k)-1] - 'A')
		}
	}
	return f
}()

// classifierKeyword is lookupKeyword(w).id for the keywords the classifier
// acts on, and may be kwNone for the others.
func classifierKeyword(w []byte) kwID {
	if len(w) > maxKeywordLen || len(w) < 2 {
		return kwNone
	}
	a, z := upper(w[0])-'A', upper(w[len(w)-1])-'A'
	if a >= 26 || z >= 26 || classifierFilter[len(w)].first&(1<<a) == 0 || classifierFilter[len(w)].last&(1<<z) == 0 {
		return kwNone
	}
	return lookupKeyword(w).id
}
