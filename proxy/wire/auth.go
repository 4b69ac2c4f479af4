package wire

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	"filippo.io/edwards25519"
)

// Authentication plugin names.
const (
	AuthNativePassword  = "mysql_native_password"
	AuthCachingSHA2     = "caching_sha2_password"
	AuthClearPassword   = "mysql_clear_password"
	AuthEd25519         = "client_ed25519"
	scrambleLen         = 20
	cachingSHA2FastOK   = 3 // caching_sha2_password: fast auth succeeded
	cachingSHA2FullAuth = 4 // caching_sha2_password: send the password in full
	cachingSHA2PubKey   = 2 // caching_sha2_password: client requests the RSA public key
)

// newScramble returns a 20-byte random challenge of printable-range bytes
// without NUL or '$', as MySQL servers generate it: clients treat the data
// as NUL-terminated.
func newScramble() ([]byte, error) {
	s := make([]byte, scrambleLen)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("wire: scramble: %w", err)
	}
	for i, b := range s {
		b &= 0x7f
		if b == 0 || b == '$' {
			b++
		}
		s[i] = b
	}
	return s, nil
}

// ScrambleNativePassword computes the mysql_native_password response:
// SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))). An empty password sends an
// empty response.
func ScrambleNativePassword(scramble []byte, password string) []byte {
	if password == "" {
		return nil
	}
	stage1 := sha1.Sum([]byte(password))
	stage2 := sha1.Sum(stage1[:])
	h := sha1.New()
	h.Write(scramble[:min(len(scramble), scrambleLen)])
	h.Write(stage2[:])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= stage1[i]
	}
	return out
}

// ScrambleCachingSHA2 computes the caching_sha2_password fast-auth response:
// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble).
func ScrambleCachingSHA2(scramble []byte, password string) []byte {
	if password == "" {
		return nil
	}
	m1 := sha256.Sum256([]byte(password))
	m2 := sha256.Sum256(m1[:])
	h := sha256.New()
	h.Write(m2[:])
	h.Write(scramble[:min(len(scramble), scrambleLen)])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= m1[i]
	}
	return out
}

// scrambleEd25519 signs the scramble with MariaDB's client_ed25519 key
// derived from the password (SHA-512 of the password as the seed).
func scrambleEd25519(scramble []byte, password string) ([]byte, error) {
	h := sha512.Sum512([]byte(password))
	s, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		return nil, err
	}
	a := (&edwards25519.Point{}).ScalarBaseMult(s)
	mh := sha512.New()
	mh.Write(h[32:])
	mh.Write(scramble)
	r, err := edwards25519.NewScalar().SetUniformBytes(mh.Sum(nil))
	if err != nil {
		return nil, err
	}
	rp := (&edwards25519.Point{}).ScalarBaseMult(r)
	kh := sha512.New()
	kh.Write(rp.Bytes())
	kh.Write(a.Bytes())
	kh.Write(scramble)
	k, err := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	if err != nil {
		return nil, err
	}
	sig := k.MultiplyAdd(k, s, r)
	return append(rp.Bytes(), sig.Bytes()...), nil
}

// scrambleFor computes the first auth response of plugin.
func scrambleFor(plugin string, scramble []byte, password string, tls bool) ([]byte, error) {
	switch plugin {
	case AuthNativePassword, "":
		return ScrambleNativePassword(scramble, password), nil
	case AuthCachingSHA2:
		return ScrambleCachingSHA2(scramble, password), nil
	case AuthClearPassword:
		if !tls {
			return nil, errors.New("wire: refusing mysql_clear_password without TLS")
		}
		return append([]byte(password), 0), nil
	case AuthEd25519:
		return scrambleEd25519(scramble, password)
	}
	return nil, fmt.Errorf("wire: unsupported authentication plugin %q", plugin)
}

// encryptPassword encrypts the password for caching_sha2_password full
// authentication without TLS: RSA-OAEP(SHA-1) of (password+NUL) XOR scramble.
func encryptPassword(pemKey, scramble []byte, password string) ([]byte, error) {
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return nil, fmt.Errorf("%w: server sent no PEM public key", ErrMalformed)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("wire: server public key: %w", err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("wire: server public key is not RSA")
	}
	plain := xorScramble(append([]byte(password), 0), scramble)
	return rsa.EncryptOAEP(sha1.New(), rand.Reader, rsaPub, plain, nil)
}

// xorScramble XORs b in place with the scramble repeated.
func xorScramble(b, scramble []byte) []byte {
	for i := range b {
		b[i] ^= scramble[i%len(scramble)]
	}
	return b
}

// SHA2Cache is caching_sha2_password's fast-auth cache: users who completed
// a full authentication since their password last changed may use the
// one-round-trip fast path. Safe for concurrent use.
type SHA2Cache struct {
	mu sync.Mutex
	m  map[string][32]byte // user -> SHA256(SHA256(password))
}

// NewSHA2Cache returns an empty cache.
func NewSHA2Cache() *SHA2Cache { return &SHA2Cache{m: make(map[string][32]byte)} }

// Invalidate forgets user, forcing a full authentication on its next login
// (call it when the user's password changes or the user is removed).
func (sc *SHA2Cache) Invalidate(user string) {
	sc.mu.Lock()
	delete(sc.m, user)
	sc.mu.Unlock()
}

func (sc *SHA2Cache) put(user, password string) {
	d := doubleSHA256(password)
	sc.mu.Lock()
	sc.m[user] = d
	sc.mu.Unlock()
}

// has reports whether user completed a full authentication with this very
// password; comparing the hash makes a stale entry after a password change
// harmless even if Invalidate was not called.
func (sc *SHA2Cache) has(user, password string) bool {
	d := doubleSHA256(password)
	sc.mu.Lock()
	got, ok := sc.m[user]
	sc.mu.Unlock()
	return ok && subtle.ConstantTimeCompare(got[:], d[:]) == 1
}

func doubleSHA256(password string) [32]byte {
	m1 := sha256.Sum256([]byte(password))
	return sha256.Sum256(m1[:])
}
