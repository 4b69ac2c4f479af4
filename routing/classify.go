package routing

// primaryFlags send a statement to the primary even when it only reads.
const primaryFlags = FlagLockingRead | FlagSideEffect | FlagUserVarAssign | FlagUserLock |
	FlagSessionDependent | FlagServerSpecific | FlagTempTable

// ReplicaSafe reports whether the statement may run on a replica: a read
// without locking, side effects, session dependence or server-specific
// answers. Everything else needs the primary (or the session's pinned server).
func (c Class) ReplicaSafe() bool { return c.Kind == KindRead && c.Flags&primaryFlags == 0 }

// Classify tells what a statement does, for routing and session tracking. It
// is a lexer, not a parser: it looks at the first keyword (after comments,
// whitespace and opening parentheses), the shape of the statement head and a
// handful of keywords and functions anywhere in the text. Anything it does not
// recognise is KindWrite, which routes to the primary. It does not allocate.
func Classify(sql []byte) Class {
	c, ambiguous := classify(sql, false)
	if ambiguous && c.ReplicaSafe() {
		// A backslash in a string: under sql_mode NO_BACKSLASH_ESCAPES the
		// string ends earlier and what follows may be another statement
		// ("SELECT '\'; DELETE ..."). Take the stricter reading.
		if alt, _ := classify(sql, true); !alt.ReplicaSafe() {
			alt.Hint = c.Hint
			alt.Flags |= c.Flags & FlagHint
			return alt
		}
	}
	return c
}

// classify classifies every statement of sql and combines them. With
// noBackslash it lexes as under NO_BACKSLASH_ESCAPES; then a lexical error
// only ends the statement list (the server would reject that part), since
// this reading exists to find writes, not to judge syntax.
func classify(sql []byte, noBackslash bool) (Class, bool) {
	l := lexer{sql: sql, noBackslash: noBackslash}
	var out Class
	parts := 0
	for {
		s := scanner{l: &l}
		c, empty := s.statement()
		if s.err {
			if noBackslash {
				break
			}
			c = Class{Kind: KindWrite, Flags: c.Flags}
			empty = false
		}
		if !empty {
			parts++
			if parts == 1 {
				out = c
			} else {
				out = combine(out, c, parts == 2)
			}
		}
		if s.err || s.last.kind == tEOF {
			break
		}
	}
	if parts == 0 && noBackslash {
		// no complete statement under this reading: nothing would run
		out.Kind = KindRead
	}
	if l.hasHint {
		out.Hint = l.hint
		out.Flags |= FlagHint
	}
	return out, l.sawBackslash
}

// NextStatement splits the first statement off a multi-statement text:
// stmt is the first statement without its ';', rest is what follows it.
// Compound statements (CREATE PROCEDURE ... BEGIN ...; END) are not split.
// Callers loop until rest is empty; the last stmt may hold only whitespace
// and comments.
func NextStatement(sql []byte) (stmt, rest []byte) {
	l := lexer{sql: sql}
	s := scanner{l: &l}
	s.statement()
	end := s.last.start
	if s.last.kind != tEOF && s.last.kind != tError {
		return sql[:end], sql[l.pos:]
	}
	return sql, nil
}

// combine merges the classes of two statements of one multi-statement text:
// a write anywhere makes the whole a write.
func combine(a, b Class, aSingle bool) Class {
	out := Class{Kind: KindWrite, Flags: a.Flags | b.Flags | FlagMultiStatement}
	if a.Kind == KindRead && b.Kind == KindRead {
		out.Kind = KindRead
	}
	if aSingle && tracksState(a.Kind) || tracksState(b.Kind) {
		out.Flags |= FlagSessionState
	}
	return out
}

// tracksState reports whether a statement kind changes session state that the
// proxy follows per statement.
func tracksState(k Kind) bool { return k != KindRead && k != KindWrite && k != KindCall }

// scanner walks the tokens of one statement, recording flags as they pass.
type scanner struct {
	l       *lexer
	flags   Flags
	last    token // the token that ended the statement (';', EOF, error)
	ended   bool
	err     bool
	noSplit bool // a compound statement: ';' does not end it

	prevKind        tokKind
	prevKw, prev2Kw kwID
	prevByte        byte // first byte of a punctuation token
	pendingVar      bool // the previous token was @var: := makes it an assignment
	afterInto       bool
	intoList        bool // inside INTO @a, @b
	intoVar         bool
	intoOther       bool
}

// next returns the next token of the statement and its keyword; after the
// end it keeps returning the terminating token.
func (s *scanner) next() (token, kwID) {
	if s.ended {
		return s.last, kwNone
	}
	t := s.l.next()
	kw := kwNone
	switch t.kind {
	case tEOF:
		s.ended, s.last = true, t
		return t, kwNone
	case tError:
		s.ended, s.last, s.err = true, t, true
		return t, kwNone
	case tWord:
		kw = classifierKeyword(s.l.sql[t.start:t.end])
	case tPunct:
		if s.l.sql[t.start] == ';' && t.end-t.start == 1 && !s.noSplit {
			s.ended, s.last = true, t
			return token{kind: tEOF, start: t.start, end: t.start}, kwNone
		}
	}
	s.observe(t, kw)
	return t, kw
}

// drain consumes the rest of the statement.
func (s *scanner) drain() {
	for !s.ended {
		s.next()
	}
	if s.pendingVar {
		s.flags |= FlagUserVarRead
	}
}

// observe records flags that depend on keywords or functions anywhere in
// the statement.
func (s *scanner) observe(t token, kw kwID) {
	sql := s.l.sql
	isPunct := func(p string) bool { return t.kind == tPunct && string(sql[t.start:t.end]) == p }
	if s.pendingVar {
		s.pendingVar = false
		if isPunct(":=") {
			s.flags |= FlagUserVarAssign
		} else {
			s.flags |= FlagUserVarRead
		}
	}
	if s.afterInto {
		s.afterInto = false
		if t.kind == tVar {
			s.intoVar, s.intoList = true, true
			s.record(t, kw)
			return
		}
		s.intoOther = true
	}
	if s.intoList {
		// INTO @a, @b: every variable of the list is assigned
		if t.kind == tVar || s.isPunct(t, ',') {
			s.record(t, kw)
			return
		}
		s.intoList = false
	}
	switch t.kind {
	case tVar:
		// 'user'@'host' and u@localhost name accounts, not variables
		if !accountHost(sql, t.start) {
			s.pendingVar = true
		}
	case tSysVar:
		s.flags |= sysVarFlags(sql[t.start+2 : t.end])
	case tPunct:
		if isPunct("(") && s.prevKind == tWord {
			s.flags |= functionFlags(s.prevKw)
		}
	case tWord:
		if s.prevKind == tPunct && s.prevByte == '.' {
			// sql_mode=ORACLE sequence access: s.NEXTVAL, s.CURRVAL
			switch kw {
			case kwNextval:
				s.flags |= FlagSideEffect
			case kwCurrval, kwLastval:
				s.flags |= FlagSessionDependent
			}
			kw = kwNone // a qualified name (t.lock, db.get_lock) is no keyword
		}
		switch kw {
		case kwUpdate, kwShare:
			if s.prevKw == kwFor {
				s.flags |= FlagLockingRead
			}
		case kwIn:
			if s.prevKw == kwLock {
				s.flags |= FlagLockingRead // LOCK IN SHARE MODE
			}
		case kwFor:
			if s.prevKw == kwValue && s.prev2Kw == kwNext {
				s.flags |= FlagSideEffect // NEXT VALUE FOR seq
			} else if s.prevKw == kwValue && s.prev2Kw == kwPrevious {
				s.flags |= FlagSessionDependent // PREVIOUS VALUE FOR seq
			}
		case kwInto:
			s.afterInto = true
		case kwSQLCalcFoundRows:
			s.flags |= FlagSessionDependent
		}
	}
	s.record(t, kw)
}

func (s *scanner) record(t token, kw kwID) {
	s.prev2Kw, s.prevKw, s.prevKind = s.prevKw, kw, t.kind
	s.prevByte = s.l.sql[t.start]
}

// accountHost reports whether the @ at sql[at] joins a user and a host
// ('user'@'host', u@localhost) instead of starting a variable.
func accountHost(sql []byte, at int) bool {
	if at == 0 {
		return false
	}
	c := sql[at-1]
	return c == '\'' || c == '"' || c == '`' || isIdentByte(c)
}

// functionFlags is what calling a built-in function implies.
func functionFlags(kw kwID) Flags {
	switch kw {
	case kwGetLock, kwReleaseLock, kwReleaseAllLocks, kwIsFreeLock, kwIsUsedLock:
		return FlagUserLock
	case kwLastInsertID, kwFoundRows, kwRowCount, kwLastval:
		return FlagSessionDependent
	case kwNextval, kwSetval:
		return FlagSideEffect
	case kwMasterGTIDWait, kwMasterPosWait, kwSourcePosWait, kwWaitForExecutedGTIDSet, kwWaitUntilSQLThreadAfterGTIDs:
		return FlagServerSpecific
	}
	return 0
}

// sysVarFlags is what reading @@name (without the @@) implies: values of
// the connection's previous statements are session-dependent; read_only
// belongs to the server, and a client asking it through the proxy wants to
// know whether it can write, so the primary answers.
func sysVarFlags(name []byte) Flags {
	for _, scope := range [...]string{"session.", "local.", "global."} {
		if len(name) > len(scope) && eqFold(name[:len(scope)], scope) {
			name = name[len(scope):]
			break
		}
	}
	switch {
	case eqFold(name, "last_insert_id"), eqFold(name, "identity"), eqFold(name, "insert_id"),
		eqFold(name, "warning_count"), eqFold(name, "error_count"), eqFold(name, "last_gtid"):
		return FlagSessionDependent
	case eqFold(name, "read_only"), eqFold(name, "innodb_read_only"), eqFold(name, "super_read_only"):
		return FlagServerSpecific
	}
	return 0
}

func (s *scanner) isPunct(t token, p byte) bool {
	return t.kind == tPunct && t.end-t.start == 1 && s.l.sql[t.start] == p
}

// statement classifies one statement. empty is true when there was none
// (";;" or only comments).
func (s *scanner) statement() (c Class, empty bool) {
	t, kw := s.next()
	for s.isPunct(t, '(') {
		t, kw = s.next()
	}
	if t.kind == tEOF {
		return Class{}, true
	}
	c = s.head(t, kw)
	s.drain()
	c.Flags |= s.flags
	switch c.Kind {
	case KindRead:
		if s.intoVar {
			c.Flags |= FlagUserVarAssign
		}
		if s.intoOther {
			c.Flags |= FlagSideEffect // INTO OUTFILE/DUMPFILE
		}
		if c.Flags&(FlagLockingRead|FlagUserLock|FlagSideEffect|FlagUserVarAssign) != 0 {
			c.Kind = KindWrite
		}
	case KindSet:
		// SET assigns by definition (ParseSet describes it); @@read_only
		// there is a target, not a server-specific read.
		c.Flags &^= FlagUserVarAssign | FlagUserVarRead | FlagServerSpecific
	}
	return c, false
}

// head classifies a statement from its first keyword.
func (s *scanner) head(t token, kw kwID) Class {
	write := Class{Kind: KindWrite}
	ddl := Class{Kind: KindWrite, Flags: FlagImplicitCommit}
	switch kw {
	case kwSelect, kwTable, kwValues, kwDo, kwHelp:
		return Class{Kind: KindRead}
	case kwWith:
		return s.with()
	case kwShow:
		return s.show()
	case kwDescribe, kwDesc, kwExplain:
		return s.explain()
	case kwAnalyze:
		t, kw = s.next()
		if kw == kwTable || kw == kwLocal || kw == kwNoWriteToBinlog {
			return ddl
		}
		return s.explainFrom(t, kw) // MariaDB ANALYZE <statement> runs it
	case kwInsert, kwUpdate, kwDelete, kwReplace:
		return write
	case kwCreate:
		return s.create()
	case kwDrop:
		t, kw = s.next()
		if kw == kwTemporary {
			return Class{Kind: KindWrite, Flags: FlagTempTable}
		}
		if kw == kwPrepare {
			return Class{Kind: KindDeallocate}
		}
		return ddl
	case kwAlter, kwRename, kwTruncate, kwGrant, kwRevoke:
		return ddl
	case kwSet:
		return s.set()
	case kwUse:
		return Class{Kind: KindUse}
	case kwBegin:
		t, kw = s.next()
		if t.kind == tEOF || kw == kwWork {
			return Class{Kind: KindBegin}
		}
		s.noSplit = true // BEGIN NOT ATOMIC ... END
		return write
	case kwStart:
		if _, kw = s.next(); kw == kwTransaction {
			return s.startTransaction()
		}
		return ddl // START SLAVE/REPLICA
	case kwCommit:
		return Class{Kind: KindCommit}
	case kwRollback:
		t, kw = s.next()
		if kw == kwWork {
			t, kw = s.next()
		}
		if kw == kwTo {
			return Class{Kind: KindSavepoint}
		}
		return Class{Kind: KindRollback}
	case kwSavepoint:
		return Class{Kind: KindSavepoint}
	case kwRelease:
		if _, kw = s.next(); kw == kwSavepoint {
			return Class{Kind: KindSavepoint}
		}
		return write
	case kwXA:
		return Class{Kind: KindXA}
	case kwLock:
		if _, kw = s.next(); kw == kwTable || kw == kwTables {
			return Class{Kind: KindLockTables, Flags: FlagImplicitCommit}
		}
		return write
	case kwUnlock:
		if _, kw = s.next(); kw == kwTable || kw == kwTables {
			return Class{Kind: KindUnlockTables}
		}
		return write
	case kwPrepare:
		return Class{Kind: KindPrepare}
	case kwExecute:
		if _, kw = s.next(); kw == kwImmediate {
			return write // runs a dynamic statement we cannot see
		}
		return Class{Kind: KindExecute}
	case kwDeallocate:
		return Class{Kind: KindDeallocate}
	case kwCall:
		return Class{Kind: KindCall}
	case kwHandler:
		return Class{Kind: KindWrite, Flags: FlagSessionState}
	case kwIf, kwCase, kwLoop, kwWhile, kwRepeat:
		s.noSplit = true // MariaDB compound statement outside a routine
		return write
	}
	if t.kind == tWord && eqFold(s.l.sql[t.start:t.end], "flush") && s.flushLocks() {
		// FLUSH TABLES ... WITH READ LOCK / FOR EXPORT: the lock stays with
		// the connection until UNLOCK TABLES, as for LOCK TABLES.
		return Class{Kind: KindLockTables, Flags: FlagImplicitCommit}
	}
	if t.kind == tWord && implicitCommitWord(s.l.sql[t.start:t.end]) {
		return ddl
	}
	if t.kind == tWord && eqFold(s.l.sql[t.start:t.end], "backup") {
		// BACKUP STAGE and BACKUP LOCK hold locks on the connection.
		return Class{Kind: KindWrite, Flags: FlagSessionState}
	}
	if t.kind == tWord && eqFold(s.l.sql[t.start:t.end], "load") {
		// LOAD DATA/XML is an ordinary write; LOAD INDEX INTO CACHE commits.
		if n, _ := s.next(); n.kind == tWord && eqFold(s.l.sql[n.start:n.end], "index") {
			return ddl
		}
	}
	return write
}

// flushLocks reads the rest of a FLUSH statement and reports whether it
// takes a lock the connection keeps (WITH READ LOCK, FOR EXPORT).
func (s *scanner) flushLocks() bool {
	prev := kwNone
	for {
		t, kw := s.next()
		switch {
		case t.kind == tEOF || t.kind == tError:
			return false
		case prev == kwRead && kw == kwLock:
			return true
		case prev == kwFor && t.kind == tWord && eqFold(s.l.sql[t.start:t.end], "export"):
			return true
		}
		prev = kw
	}
}

// implicitCommitWord lists the remaining statements that commit an open
// transaction (FLUSH, OPTIMIZE TABLE, ...).
func implicitCommitWord(w []byte) bool {
	for _, k := range [...]string{"flush", "optimize", "repair", "check", "reset", "install", "uninstall", "cache"} {
		if eqFold(w, k) {
			return true
		}
	}
	return false
}

// skipParens consumes tokens up to the ')' matching an already consumed '('.
func (s *scanner) skipParens() {
	depth := 1
	for depth > 0 {
		t, _ := s.next()
		switch {
		case t.kind == tEOF || t.kind == tError:
			return
		case s.isPunct(t, '('):
			depth++
		case s.isPunct(t, ')'):
			depth--
		}
	}
}

// with classifies WITH [RECURSIVE] name [(cols)] AS (query) [, ...] main.
func (s *scanner) with() Class {
	write := Class{Kind: KindWrite}
	t, kw := s.next()
	if kw == kwRecursive {
		t, kw = s.next()
	}
	for {
		if t.kind != tWord && t.kind != tQuoted {
			return write
		}
		t, kw = s.next()
		if s.isPunct(t, '(') {
			s.skipParens()
			t, kw = s.next()
		}
		if kw != kwAs {
			return write
		}
		if t, _ = s.next(); !s.isPunct(t, '(') {
			return write
		}
		s.skipParens()
		t, kw = s.next()
		if t.kind == tWord && eqFold(s.l.sql[t.start:t.end], "cycle") {
			// MariaDB: CYCLE col, ... RESTRICT
			for !s.ended && !(t.kind == tWord && eqFold(s.l.sql[t.start:t.end], "restrict")) {
				t, _ = s.next()
			}
			t, kw = s.next()
		}
		if !s.isPunct(t, ',') {
			break
		}
		t, kw = s.next()
	}
	for s.isPunct(t, '(') {
		t, kw = s.next()
	}
	switch kw {
	case kwSelect, kwTable, kwValues:
		return Class{Kind: KindRead}
	}
	return write
}

// show classifies SHOW statements: reads, except those whose answer belongs
// to one server or to the connection.
func (s *scanner) show() Class {
	_, kw := s.next()
	for kw == kwFull || kw == kwExtended {
		_, kw = s.next()
	}
	switch kw {
	case kwMaster, kwSlave, kwReplica, kwReplicas, kwBinlog, kwBinary, kwRelayLog, kwProcesslist,
		kwEngine, kwGlobal, kwAll, kwExplain, kwAnalyze:
		return Class{Kind: KindRead, Flags: FlagServerSpecific}
	case kwWarnings, kwErrors, kwCount, kwProfile, kwProfiles, kwStatus:
		return Class{Kind: KindRead, Flags: FlagSessionDependent}
	case kwSession, kwLocal:
		if _, kw = s.next(); kw == kwStatus {
			return Class{Kind: KindRead, Flags: FlagSessionDependent}
		}
	}
	return Class{Kind: KindRead}
}

// explain classifies EXPLAIN/DESCRIBE: a read unless it explains a write
// (harmless, but the primary is the safer place for it).
func (s *scanner) explain() Class {
	t, kw := s.next()
	return s.explainFrom(t, kw)
}

func (s *scanner) explainFrom(t token, kw kwID) Class {
	for {
		switch kw {
		case kwExtended, kwPartitions, kwAnalyze:
			t, kw = s.next()
			continue
		case kwFormat:
			if t, _ = s.next(); s.isPunct(t, '=') {
				s.next()
			}
			t, kw = s.next()
			continue
		}
		break
	}
	for s.isPunct(t, '(') {
		t, kw = s.next()
	}
	switch kw {
	case kwInsert, kwUpdate, kwDelete, kwReplace:
		return Class{Kind: KindWrite}
	case kwFor:
		return Class{Kind: KindRead, Flags: FlagServerSpecific} // EXPLAIN FOR CONNECTION n
	}
	return Class{Kind: KindRead}
}

// create classifies CREATE: DDL commits implicitly, except CREATE TEMPORARY
// TABLE; routines and triggers contain ';' that do not end the statement.
func (s *scanner) create() Class {
	temp := false
	for i := 0; i < 16; i++ {
		t, kw := s.next()
		if t.kind == tEOF || s.isPunct(t, '(') {
			break
		}
		switch kw {
		case kwTemporary:
			temp = true
		case kwProcedure, kwFunction, kwTrigger, kwEvent, kwPackage:
			s.noSplit = true
			return Class{Kind: KindWrite, Flags: FlagImplicitCommit}
		case kwTable, kwView:
			i = 16
		}
	}
	if temp {
		return Class{Kind: KindWrite, Flags: FlagTempTable}
	}
	return Class{Kind: KindWrite, Flags: FlagImplicitCommit}
}

// set classifies SET: session state, except SET STATEMENT ... FOR <stmt>,
// which is classified by its inner statement.
func (s *scanner) set() Class {
	t, kw := s.next()
	switch kw {
	case kwStatement:
		depth := 0
		for !s.ended {
			t, kw = s.next()
			switch {
			case s.isPunct(t, '('):
				depth++
			case s.isPunct(t, ')'):
				depth--
			case kw == kwFor && depth == 0:
				s.prevKw = kwNone // this FOR does not make "FOR UPDATE" a locking read
				t, kw = s.next()
				for s.isPunct(t, '(') {
					t, kw = s.next()
				}
				return s.head(t, kw)
			}
		}
		return Class{Kind: KindWrite}
	case kwTransaction:
		return Class{Kind: KindSetTransaction}
	case kwPassword:
		return Class{Kind: KindWrite, Flags: FlagImplicitCommit}
	case kwDefault:
		if _, kw = s.next(); kw == kwRole {
			return Class{Kind: KindWrite, Flags: FlagImplicitCommit}
		}
	}
	return Class{Kind: KindSet}
}

// startTransaction reads START TRANSACTION characteristics.
func (s *scanner) startTransaction() Class {
	readOnly := false
	for {
		_, kw := s.next()
		if s.ended {
			break
		}
		if kw == kwOnly && s.prev2Kw == kwRead {
			readOnly = true
		}
	}
	if readOnly {
		return Class{Kind: KindBeginReadOnly}
	}
	return Class{Kind: KindBegin}
}
