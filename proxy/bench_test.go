package proxy

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
)

// BenchmarkPointSelect measures a primary-key lookup over one connection,
// directly against MariaDB and through the proxy, with a client that
// allocates nothing: allocs/op is the proxy's own per-statement cost.
//
//	go test -run '^$' -bench PointSelect -benchmem ./proxy/
func BenchmarkPointSelect(b *testing.B) {
	sb := sandboxtest.New(b, sandboxtest.Replicas(0))
	db := sb.DB(b, "db1")
	mustExec(b, db, "CREATE DATABASE IF NOT EXISTS bench")
	mustExec(b, db, "CREATE TABLE IF NOT EXISTS bench.t (id INT PRIMARY KEY, c CHAR(120), pad CHAR(60))")
	mustExec(b, db, "INSERT IGNORE INTO bench.t SELECT seq, REPEAT('c', 120), REPEAT('p', 60) FROM bench.seq_1_to_1000")
	e := newEnvOn(b, sb, nil)
	targets := []struct{ name, addr string }{{"direct", sb.Nodes[0].Addr}, {"relay", tcpRelay(b, sb.Nodes[0].Addr)}, {"proxy", e.addr}}
	query := append([]byte{wire.ComQuery}, "SELECT c FROM bench.t WHERE id = 500"...)
	for _, tg := range targets {
		b.Run(tg.name+"/text", func(b *testing.B) {
			c := rawConn(b, tg.addr, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.send(query); err != nil {
					b.Fatal(err)
				}
				if err := c.drain(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tg.name+"/prepared", func(b *testing.B) {
			c := rawConn(b, tg.addr, 0)
			st := &stmt{sql: "SELECT c FROM bench.t WHERE id = ?", params: 1}
			bs, err := c.prepareOn(st)
			if err != nil {
				b.Fatal(err)
			}
			exe := []byte{wire.ComStmtExecute, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, wire.TypeLong, 0, 0xf4, 1, 0, 0}
			putLE32(exe[1:], bs.id)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.send(exe); err != nil {
					b.Fatal(err)
				}
				if err := c.drain(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tg.name+"/16conns", func(b *testing.B) {
			conns := make(chan *backend, 16)
			for i := 0; i < 16; i++ {
				conns <- rawConn(b, tg.addr, 0)
			}
			b.ReportAllocs()
			b.SetParallelism(8) // 2 cores x 8 = 16 clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := <-conns
				for pb.Next() {
					if err := c.send(query); err != nil {
						b.Error(err)
						return
					}
					if err := c.drain(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	b.Run("proxy/connect+select1", func(b *testing.B) {
		benchConnect(b, e.addr)
	})
	b.Run("direct/connect+select1", func(b *testing.B) {
		benchConnect(b, sb.Nodes[0].Addr)
	})
}

// tcpRelay forwards connections to addr byte for byte: the floor any proxy
// is measured against.
func tcpRelay(b *testing.B, addr string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
	return ln.Addr().String()
}

func benchConnect(b *testing.B, addr string) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c, _, err := wire.Dial(context.Background(), &wire.DialConfig{Addr: addr, User: "app", Password: "app", Timeout: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		r := &backend{c: c, caps: wire.DefaultClientCaps}
		if _, err := r.queryRow("SELECT 1"); err != nil {
			b.Fatal(err)
		}
		c.ResetSeq()
		c.WritePacket([]byte{wire.ComQuit})
		c.Flush()
		c.Close()
	}
}
