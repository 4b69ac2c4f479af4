package wire

import (
	"os/exec"
	"strings"
	"testing"
)

// runCLI runs the mariadb command-line client against s.
func runCLI(t *testing.T, s *testServer, user, pw string, extra ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("mariadb")
	if err != nil {
		t.Fatalf("mariadb client not installed (make deps installs it): %v", err)
	}
	args := append([]string{"--no-defaults", "--protocol=tcp", "-h127.0.0.1", "-P" + s.port(), "-u" + user, "-p" + pw,
		"--connect-timeout=5", "-N", "-B"}, extra...)
	out, err := exec.Command(bin, append(args, "-e", "select 1")...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestAcceptMariaDBCLI(t *testing.T) {
	serverTLS, _ := selfSigned(t)
	s := newTestServer(t, &HandshakeConfig{TLS: serverTLS, ServerVersion: "10.11.19-MariaDB-switchyard"})
	for _, extra := range [][]string{{"--skip-ssl"}, {"--ssl", "--ssl-verify-server-cert=0"}, {"--skip-ssl", "--compress"}, {"--ssl", "--ssl-verify-server-cert=0", "--compress"}} {
		out, err := runCLI(t, s, "app", "secret", extra...)
		if err != nil || out != "1" {
			t.Errorf("mariadb %v: %q, %v", extra, out, err)
		}
	}
	out, err := runCLI(t, s, "app", "wrong", "--skip-ssl")
	if err == nil || !strings.Contains(out, "ERROR 1045 (28000): Access denied for user 'app'@'127.0.0.1' (using password: YES)") {
		t.Errorf("wrong password: %q, %v", out, err)
	}
	s.waitCounts(t, 4, 1)
	hellos, _ := s.hellos()
	for i, want := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		if hellos[i].TLS != want[0] || hellos[i].Compress != want[1] {
			t.Errorf("connection %d: TLS %v compress %v, want %v", i, hellos[i].TLS, hellos[i].Compress, want)
		}
	}
}

func TestAcceptMariaDBCLICachingSHA2(t *testing.T) {
	serverTLS, _ := selfSigned(t)
	cache := NewSHA2Cache()
	s := newTestServer(t, &HandshakeConfig{TLS: serverTLS, DefaultAuth: AuthCachingSHA2, CachingSHA2Cache: cache})
	// Without TLS and RSA key, full authentication is impossible: the
	// scramble is verified against the configured password instead.
	if out, err := runCLI(t, s, "app", "secret", "--skip-ssl"); err != nil || out != "1" || cache.has("app", "secret") {
		t.Errorf("mariadb plain: %q, %v", out, err)
	}
	// Full authentication over TLS fills the cache.
	if out, err := runCLI(t, s, "app", "secret", "--ssl", "--ssl-verify-server-cert=0"); err != nil || out != "1" || !cache.has("app", "secret") {
		t.Errorf("mariadb TLS: %q, %v", out, err)
	}
	if out, err := runCLI(t, s, "app", "wrong", "--skip-ssl"); err == nil || !strings.Contains(out, "1045") {
		t.Errorf("wrong password: %q, %v", out, err)
	}
}
