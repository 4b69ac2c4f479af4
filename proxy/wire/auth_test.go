package wire

import (
	"bytes"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// The scrambles must match an independent implementation.
func TestScramblesMatchGoMySQL(t *testing.T) {
	scramble, err := newScramble()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range scramble {
		if b == 0 || b == '$' || b > 0x7f {
			t.Fatalf("scramble byte %#x", b)
		}
	}
	for _, pw := range []string{"secret", "pässwörd with spaces", ""} {
		if got, want := ScrambleNativePassword(scramble, pw), mysql.CalcPassword(scramble, []byte(pw)); !bytes.Equal(got, want) {
			t.Errorf("native %q: %x, go-mysql %x", pw, got, want)
		}
		if got, want := ScrambleCachingSHA2(scramble, pw), mysql.CalcCachingSha2Password(scramble, pw); !bytes.Equal(got, want) {
			t.Errorf("caching_sha2 %q: %x, go-mysql %x", pw, got, want)
		}
	}
}

func TestSHA2CacheStaleEntryIsHarmless(t *testing.T) {
	c := NewSHA2Cache()
	c.put("u", "old")
	if !c.has("u", "old") || c.has("u", "new") || c.has("v", "old") {
		t.Fatal("cache lookup wrong")
	}
	c.Invalidate("u")
	if c.has("u", "old") {
		t.Fatal("Invalidate kept the entry")
	}
}
