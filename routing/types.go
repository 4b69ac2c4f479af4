package routing

import (
	"time"

	"github.com/switchyard/switchyard/gtid"
)

// Kind is what a statement does, as far as routing and session state care.
type Kind uint8

const (
	KindWrite          Kind = iota // anything not known to be a safe read: goes to the primary
	KindRead                       // SELECT/SHOW/DESCRIBE/EXPLAIN/WITH..SELECT/DO without side effects
	KindBegin                      // BEGIN, START TRANSACTION [READ WRITE] [WITH CONSISTENT SNAPSHOT]
	KindBeginReadOnly              // START TRANSACTION READ ONLY
	KindCommit                     // COMMIT [WORK]
	KindRollback                   // ROLLBACK [WORK] (not TO SAVEPOINT)
	KindSavepoint                  // SAVEPOINT, ROLLBACK TO [SAVEPOINT], RELEASE SAVEPOINT
	KindSet                        // SET ... (session state; see ParseSet). SET TRANSACTION is KindSetTransaction
	KindSetTransaction             // SET TRANSACTION ... (next transaction only)
	KindUse                        // USE db
	KindLockTables                 // LOCK TABLES / LOCK TABLE
	KindUnlockTables               // UNLOCK TABLES
	KindXA                         // XA START/END/PREPARE/COMMIT/ROLLBACK/RECOVER
	KindPrepare                    // SQL PREPARE stmt FROM ...
	KindExecute                    // SQL EXECUTE stmt
	KindDeallocate                 // DEALLOCATE / DROP PREPARE
	KindCall                       // CALL proc(...)
)

// Flags refine a Kind.
type Flags uint32

const (
	FlagLockingRead      Flags = 1 << iota // SELECT ... FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE
	FlagImplicitCommit                     // DDL and other statements that commit an open transaction
	FlagTempTable                          // CREATE/DROP TEMPORARY TABLE: pins the session
	FlagUserLock                           // GET_LOCK/RELEASE_LOCK/IS_USED_LOCK...: pins the session
	FlagSessionDependent                   // LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT(), SQL_CALC_FOUND_ROWS: same backend as before
	FlagUserVarAssign                      // assigns a user variable (@x := ..., SELECT ... INTO @x)
	FlagUserVarRead                        // reads a user variable
	FlagMultiStatement                     // more than one statement separated by ';'
	FlagSideEffect                         // a read with side effects (NEXTVAL, SELECT ... INTO OUTFILE, sleep-free functions excluded)
	FlagHint                               // a switchyard hint comment was found
	// FlagServerSpecific: the answer depends on the server that gives it
	// (SHOW MASTER STATUS, SHOW PROCESSLIST, SHOW GLOBAL ..., MASTER_GTID_WAIT()):
	// routed to the primary.
	FlagServerSpecific
	// FlagSessionState: the statement changes connection state that this Class
	// alone does not describe (HANDLER ... OPEN; a multi-statement containing
	// SET, USE, PREPARE, LOCK TABLES, BEGIN ...). Pin the session, or split it
	// with NextStatement and track each part.
	FlagSessionState
)

// Route is where a statement must go.
type Route uint8

const (
	RouteAuto    Route = iota // decide by classification
	RoutePrimary              // the primary
	RouteReplica              // a replica (falls back per config)
	RouteGroup                // a named server group from config rules
)

func (r Route) String() string {
	switch r {
	case RoutePrimary:
		return "primary"
	case RouteReplica:
		return "replica"
	case RouteGroup:
		return "group"
	}
	return "auto"
}

// Hint is parsed from a /* switchyard: route=replica max_lag=500ms */ comment.
type Hint struct {
	Route  Route
	MaxLag time.Duration // 0 = config default
}

// Class is the result of Classify. It is a value: classifying allocates nothing.
type Class struct {
	Kind  Kind
	Flags Flags
	Hint  Hint
}

// Has reports whether all of f are set.
func (c Class) Has(f Flags) bool { return c.Flags&f == f }

// SessionInput is the routing-relevant part of a client session.
type SessionInput struct {
	User       string
	InTx       bool   // a transaction is open
	TxReadOnly bool   // it was started READ ONLY
	TxServer   string // server holding the open transaction / pin ("" = none)
	// NoAutocommit: autocommit is off, so every statement opens or joins a
	// transaction that may write; only START TRANSACTION READ ONLY may
	// still use a replica.
	NoAutocommit bool
	LastGTID     gtid.GTID
	HasGTID      bool // the session has written and LastGTID is its newest write
}
