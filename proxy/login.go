package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/routing"
)

// defaultVersion is advertised until a backend told its own (clients look
// at the version to pick features).
const defaultVersion = "10.11.0-MariaDB-switchyard"

// knownDBTTL is how long a database checked at login stays known: a client
// reconnecting to it in that time needs no backend round trip.
const knownDBTTL = 30 * time.Second

// login authenticates the client locally and admits it. Like mysqld, the
// proxy refuses a login over the user's connection limit or naming a
// database that does not exist instead of sending the OK.
func (s *session) login() bool {
	srv := s.srv
	cfg := srv.cfg.Load()
	version := defaultVersion
	if v := srv.pools.version.Load(); v != nil {
		version = *v
	}
	s.hs = wire.HandshakeConfig{
		ServerVersion: version,
		ConnID:        uint32(s.id),
		TLS:           srv.tls,
		RequireTLS:    cfg.TLS.Client.Required,
		Lookup:        srv.lookup,
		Authorize:     s.admitLogin,
	}
	if _, err := wire.Accept(s.c, &s.hs); err != nil {
		if isAuthFailure(err) {
			srv.stats.authFailures.Add(1)
		}
		srv.unregister(s) // admitted, but the OK did not reach the client
		srv.log.Info("client handshake failed", "conn", s.id, "addr", s.addr, "err", err)
		return false
	}
	return true
}

func (s *session) admitLogin(h *wire.ClientHello) error {
	if err := s.srv.checkDB(h); err != nil {
		return err
	}
	s.setLogin(h)
	if err := s.srv.register(s); err != nil {
		s.srv.stats.refused.Add(1)
		return err
	}
	return nil
}

// changeUser re-authenticates locally and starts a new session state.
func (s *session) changeUser(pkt []byte) error {
	s.hs.Authorize = s.admitChange
	hello, err := wire.ChangeUser(s.c, pkt, &s.hs)
	if err != nil {
		if isAuthFailure(err) {
			s.srv.stats.authFailures.Add(1)
		}
		var refused *wire.Error
		if !errors.As(err, &refused) {
			return err // malformed or I/O: the connection is unusable
		}
		// Refused with an ERR (wrong password, unknown database, over the
		// limit): like mariadbd, keep the connection as the old user and
		// database, with the rest of the session reset.
		s.reset()
		return nil
	}
	s.dropPin()
	s.last = nil
	s.setLogin(hello)
	s.status = wire.StatusAutocommit
	return nil
}

func (s *session) admitChange(h *wire.ClientHello) error {
	if err := s.srv.checkDB(h); err != nil {
		return err
	}
	if err := s.srv.changeUser(s, h.User); err != nil {
		s.srv.stats.refused.Add(1)
		return err
	}
	s.mu.Lock()
	s.user = h.User // counted under the new user now, even if the OK fails
	s.mu.Unlock()
	return nil
}

// userLimitError is mysqld's refusal of a user over max_user_connections.
func userLimitError(user string) *wire.Error {
	return &wire.Error{Code: 1203, State: "42000",
		Message: fmt.Sprintf("User %s already has more than 'max_user_connections' active connections", user)}
}

// errShuttingDown refuses logins while the proxy shuts down.
var errShuttingDown = &wire.Error{Code: 1053, State: "08S01", Message: "Server shutdown in progress"}

// isAuthFailure tells access denied from other handshake failures.
func isAuthFailure(err error) bool {
	var we *wire.Error
	return errors.As(err, &we) && we.Code == wire.ErrAccessDenied
}

func (s *session) setLogin(h *wire.ClientHello) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = h.User
	s.caps = h.Caps
	s.tls = h.TLS
	s.key = poolKey{user: h.User, caps: h.Caps & keyCaps, charset: h.Charset}
	s.st = &state{db: h.DB, multi: h.Caps&wire.ClientMultiStatements != 0}
	// The connection's earlier writes stay its own after COM_CHANGE_USER:
	// read-your-writes keeps their GTID.
	s.in = routing.SessionInput{User: h.User, LastGTID: s.in.LastGTID, HasGTID: s.in.HasGTID}
	s.pools = s.pools[:0]
	s.stmts = nil
	s.nextStmt = 0
}

func (srv *Server) lookup(user string) (string, bool) {
	u, ok := (*srv.users.Load())[user]
	return u.Password, ok
}

// checkDB verifies the database a login names by selecting it on a pooled
// primary connection, so an unknown database (1049) or one the user may not
// use (1044) fails the login as it does on mysqld. Successes are remembered
// for knownDBTTL. Without a reachable primary the login goes ahead and the
// first statement reports any problem.
func (srv *Server) checkDB(h *wire.ClientHello) error {
	if h.DB == "" {
		return nil
	}
	key := h.User + "\x00" + h.DB
	now := time.Now()
	if until, ok := srv.knownDBs.Load(key); ok && now.Before(until.(time.Time)) {
		return nil
	}
	snap := srv.view.Load()
	if snap.Primary == "" {
		return nil
	}
	p := srv.pools.get(poolKey{server: snap.Primary, user: h.User, caps: h.Caps & keyCaps, charset: h.Charset})
	if p == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	b, err := p.borrow(ctx, nil)
	if err != nil {
		return nil
	}
	err = b.initDB(h.DB)
	p.release(b, !b.broken)
	var we *wire.Error
	if errors.As(err, &we) {
		return we
	}
	if err == nil {
		srv.knownDBs.Store(key, now.Add(knownDBTTL))
	}
	return nil
}
