package bench

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"
)

// upstream accepts one connection and hands it to the test.
func upstream(t *testing.T) (addr string, conns <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			ch <- c
		}
	}()
	return ln.Addr().String(), ch
}

func startRelay(t *testing.T, target string) *Relay {
	t.Helper()
	r, err := StartRelay("127.0.0.1:0", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func accept(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the relay did not connect to the target")
		return nil
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func TestRelayPassesBytesBothWaysAndPropagatesClose(t *testing.T) {
	addr, conns := upstream(t)
	r := startRelay(t, addr)
	client := dial(t, r.Addr())
	server := accept(t, conns)
	server.SetDeadline(time.Now().Add(10 * time.Second))

	up := make([]byte, 1<<20) // larger than any socket buffer
	rand.Read(up)
	go client.Write(up)
	got := make([]byte, len(up))
	if _, err := io.ReadFull(server, got); err != nil || !bytes.Equal(got, up) {
		t.Fatalf("client→server: %v, equal %v", err, bytes.Equal(got, up))
	}
	down := []byte("\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00") // an OK packet
	if _, err := server.Write(down); err != nil {
		t.Fatal(err)
	}
	got = make([]byte, len(down))
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, down) {
		t.Fatalf("server→client: %q, %v", got, err)
	}

	// The client hangs up: the server sees EOF, and its own close reaches
	// the client as EOF as well.
	client.(*net.TCPConn).CloseWrite()
	if n, err := server.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server read after client close = %d, %v; want EOF", n, err)
	}
	server.Close()
	if n, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read after server close = %d, %v; want EOF", n, err)
	}
}

func TestRelayServerCloseReachesClient(t *testing.T) {
	addr, conns := upstream(t)
	r := startRelay(t, addr)
	client := dial(t, r.Addr())
	server := accept(t, conns)
	server.Close()
	if n, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read after server close = %d, %v; want EOF", n, err)
	}
}

func TestRelayCloseEndsOpenConnections(t *testing.T) {
	addr, conns := upstream(t)
	r, err := StartRelay("127.0.0.1:0", addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := dial(t, r.Addr())
	server := accept(t, conns)
	server.SetDeadline(time.Now().Add(10 * time.Second))
	done := make(chan error, 1)
	go func() { done <- r.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a connection open")
	}
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("client connection still open after Close")
	}
	if _, err := server.Read(make([]byte, 1)); err == nil {
		t.Fatal("server connection still open after Close")
	}
	if _, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
		t.Fatal("relay still accepts after Close")
	}
}

func TestRelayUnreachableTargetClosesClient(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	r := startRelay(t, dead)
	client := dial(t, r.Addr())
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("client connection open although the target is down")
	}
}
