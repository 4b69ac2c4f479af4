package proxy

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestDebugServe(t *testing.T) {
	if os.Getenv("PROXY_DEBUG") == "" {
		t.Skip()
	}
	e := newEnv(t, 1, nil)
	fmt.Println("PROXY", e.addr, "DB1", e.sb.Nodes[0].Addr)
	os.WriteFile("/tmp/proxyaddr", []byte(e.addr+" "+e.sb.Nodes[0].Addr), 0o644)
	time.Sleep(20 * time.Minute)
}
