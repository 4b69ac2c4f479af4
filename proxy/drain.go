package proxy

import (
	"context"
	"fmt"
	"time"
)

// drainPoll is how often Drain looks again; a switchover waits on it while
// writes are held, so it is short.
const drainPoll = 2 * time.Millisecond

// Drain waits until no statement runs on server and no session holds a
// transaction open there, or ctx ends. A switchover calls it after holding
// new writes, so statements already let through finish on the old primary
// before its final position is read, and open transactions may commit.
func (s *Server) Drain(ctx context.Context, server string) error {
	for {
		running, txs := s.pools.outstanding(server), s.openTransactions(server)
		if running == 0 && txs == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain %s: %d statements running, %d transactions open: %w", server, running, txs, ctx.Err())
		case <-time.After(drainPoll):
		}
	}
}

// openTransactions counts sessions with a transaction open on server.
func (s *Server) openTransactions(server string) int {
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	n := 0
	for _, ss := range sessions {
		ss.mu.Lock()
		if ss.infoTx && ss.infoPin == server {
			n++
		}
		ss.mu.Unlock()
	}
	return n
}
