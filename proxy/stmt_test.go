package proxy

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/switchyard/switchyard/proxy/wire"
)

// FuzzRewriteStmtPacket checks the statement-id mapping and parameter-type
// insertion on arbitrary COM_STMT_* packets: no panics, the backend id is
// always patched in, and an execute that relied on types the backend has not
// seen carries them afterwards, with every other byte preserved.
func FuzzRewriteStmtPacket(f *testing.F) {
	f.Add([]byte{wire.ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, wire.TypeLong, 0, 7, 0, 0, 0}, uint16(1), []byte{wire.TypeLong, 0}, uint32(9))
	f.Add([]byte{wire.ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 7, 0, 0, 0}, uint16(1), []byte{wire.TypeLong, 0}, uint32(3))
	f.Add([]byte{wire.ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, uint16(2), []byte{wire.TypeLong, 0, wire.TypeVarString, 0}, uint32(3))
	f.Add([]byte{wire.ComStmtFetch, 1, 0, 0, 0, 5, 0, 0, 0}, uint16(0), []byte(nil), uint32(77))
	f.Add([]byte{wire.ComStmtSendLongData, 2, 0, 0, 0, 0, 0, 'x'}, uint16(1), []byte(nil), uint32(1))
	f.Fuzz(func(t *testing.T, pkt []byte, params uint16, types []byte, backendID uint32) {
		if len(types) != 2*int(params) {
			types = nil
		}
		orig := append([]byte(nil), pkt...)
		st := &stmt{params: params, types: types}
		bs := &bstmt{id: backendID}
		out, err := rewriteStmtPacket(nil, pkt, bs, st)
		if err != nil {
			return
		}
		if len(out) < 5 || binary.LittleEndian.Uint32(out[1:5]) != backendID || out[0] != orig[0] {
			t.Fatalf("id not rewritten: %x", out)
		}
		if !bytes.Equal(out[5:min(len(out), 10)], orig[5:min(len(orig), 10)]) {
			t.Fatalf("flags/iterations changed")
		}
		if orig[0] != wire.ComStmtExecute || params == 0 {
			if !bytes.Equal(out[5:], orig[5:]) {
				t.Fatalf("non-execute payload changed")
			}
			return
		}
		off := 10 + int(params+7)/8
		if out[off] == 1 && !bytes.Equal(bs.types, out[off+1:off+1+2*int(params)]) {
			t.Fatalf("backend types %x do not match the packet's %x", bs.types, out[off+1:off+1+2*int(params)])
		}
		if orig[off] == 0 && types != nil {
			// Types were inserted: the values that follow are unchanged.
			if out[off] != 1 || !bytes.Equal(out[off+1+len(types):], orig[off+1:]) || !bytes.Equal(out[off+1:off+1+len(types)], types) {
				t.Fatalf("types not inserted correctly: %x -> %x", orig, out)
			}
			// The backend now knows them: a second execute passes unchanged.
			again := append([]byte(nil), orig...)
			out2, err := rewriteStmtPacket(nil, again, bs, st)
			if err != nil || len(out2) != len(orig) {
				t.Fatalf("second execute rewritten again: %x %v", out2, err)
			}
		}
	})
}

// TestStmtCacheLRU: the cache keeps the most recently used statements and
// queues COM_STMT_CLOSE for the evicted and the replaced.
func TestStmtCacheLRU(t *testing.T) {
	var c stmtCache
	c.init(2)
	c.add("a", 1, 0)
	c.add("b", 2, 0)
	if c.get("a") == nil { // a becomes the most recent
		t.Fatal("a missing")
	}
	c.add("c", 3, 0) // evicts b
	if c.get("b") != nil || c.get("a") == nil || c.get("c") == nil {
		t.Fatal("wrong eviction")
	}
	c.add("a", 4, 0) // re-prepared: the old id is closed
	if got := c.closes; len(got) != 2 || got[0] != 2 || got[1] != 1 {
		t.Fatalf("closes %v, want [2 1]", got)
	}
	if c.get("a").id != 4 {
		t.Fatal("replacement not kept")
	}
	c.forget()
	if c.get("a") != nil || len(c.closes) != 0 {
		t.Fatal("forget kept entries")
	}
}

func TestStripSessionTrack(t *testing.T) {
	// OK: affected 1, insert id 0, status SESSION_STATE_CHANGED|AUTOCOMMIT,
	// 0 warnings, info "Rows matched" (length-encoded), then session state.
	payload := []byte{0, 1, 0, 0x02, 0x40, 0, 0}
	payload = append(payload, 12)
	payload = append(payload, "Rows matched"...)
	payload = append(payload, 5, 0, 3, 'a', '=', '1')
	pkt := append([]byte{byte(len(payload)), 0, 0, 1}, payload...)
	out := stripSessionTrack(pkt)
	want := append([]byte{0, 1, 0, 0x02, 0x00, 0, 0, 12}, "Rows matched"...)
	if !bytes.Equal(out[4:], want) || int(out[0]) != len(want) || out[3] != 1 {
		t.Fatalf("got %x want %x", out, want)
	}
	// Without session state the packet passes unchanged, info included.
	plain := []byte{0, 2, 0, 0x02, 0x00, 0, 0, 3, 'a', 'b', 'c'}
	pkt = append([]byte{byte(len(plain)), 0, 0, 1}, plain...)
	if out := stripSessionTrack(pkt); !bytes.Equal(out[4:], plain) {
		t.Fatalf("plain OK changed: %x", out)
	}
}

func TestParseKill(t *testing.T) {
	for in, want := range map[string][2]uint64{ // id, query(1)
		"KILL 5":              {5, 0},
		"kill query 17":       {17, 1},
		" KILL CONNECTION 3;": {3, 0},
	} {
		id, q, ok := parseKill([]byte(in))
		if !ok || id != want[0] || q != (want[1] == 1) {
			t.Errorf("%q: %d %v %v", in, id, q, ok)
		}
	}
	for _, in := range []string{"KILLX 5", "SELECT 1", "KILL QUERY", "KILL 5 6", "kill user bob"} {
		if _, _, ok := parseKill([]byte(in)); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestParseTLSStatus(t *testing.T) {
	for in, want := range map[string]string{
		"SHOW STATUS LIKE 'Ssl_cipher'":             "Ssl_cipher",
		"show session status like 'ssl_cipher';":    "Ssl_cipher",
		"  SHOW STATUS\tLIKE \"Ssl_version\"  ":     "Ssl_version",
		"SHOW SESSION STATUS LIKE 'SSL_VERSION' ; ": "Ssl_version",
	} {
		if got, ok := parseTLSStatus([]byte(in)); !ok || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, ok, want)
		}
	}
	// Every COM_QUERY passes through it: other statements cost nothing.
	sel := []byte("SELECT c FROM sbtest1 WHERE id = 4217")
	if n := testing.AllocsPerRun(100, func() { parseTLSStatus(sel) }); n != 0 {
		t.Errorf("parseTLSStatus allocates %v times for a SELECT", n)
	}
	for _, in := range []string{"SHOW STATUS LIKE 'Ssl%'", "SHOW GLOBAL STATUS LIKE 'Ssl_cipher'", "SELECT 'Ssl_cipher'", "SHOW STATUS LIKE 'Ssl_cipher' OR 1", "SHOW STATUS"} {
		if got, ok := parseTLSStatus([]byte(in)); ok {
			t.Errorf("%q answered locally as %q", in, got)
		}
	}
}

func TestPlanReplay(t *testing.T) {
	from := &state{db: "a", sysvars: map[string]string{"sql_mode": "''", "wait_timeout": "10"}, uservars: map[string]string{"x": "1"}}
	to := &state{db: "b", multi: true, names: "SET NAMES latin1", sysvars: map[string]string{"sql_mode": "'ANSI'"}, uservars: map[string]string{"y": "'2'"}}
	r := plan(from, to, "SET NAMES utf8mb4", "TRACK")
	var got []string
	for _, c := range r.cmds {
		got = append(got, string(c))
	}
	if len(got) != 4 || got[0][0] != wire.ComSetOption || got[1][1:] != "SET NAMES latin1" || got[3] != "\x02b" {
		t.Fatalf("plan %q", got)
	}
	set := got[2][1:]
	for _, part := range []string{"@@session.sql_mode = 'ANSI'", "@@session.wait_timeout = DEFAULT", "@`y` = '2'", "@`x` = NULL"} {
		if !bytes.Contains([]byte(set), []byte(part)) {
			t.Fatalf("%q lacks %q", set, part)
		}
	}
	// Unparseable SETs that the target lacks force a reset.
	r = plan(&state{verbatim: []string{"SET STATEMENT x=1 FOR SELECT 1"}}, &state{db: "d"}, "", "TRACK")
	if len(r.cmds) != 3 || r.cmds[0][0] != wire.ComResetConnection || string(r.cmds[1][1:]) != "TRACK" || string(r.cmds[2]) != "\x02d" {
		t.Fatalf("reset plan %q", r.cmds)
	}
	if len(plan(to, to, "", "").cmds) != 0 {
		t.Fatal("equal states need no replay")
	}
}
