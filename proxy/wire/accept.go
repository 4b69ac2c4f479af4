package wire

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
)

// HandshakeConfig is what Accept needs to authenticate clients locally.
type HandshakeConfig struct {
	ServerVersion string // advertised, e.g. "10.11.19-MariaDB-switchyard"; MariaDB clients look at it
	ConnID        uint32
	Caps          uint32      // capabilities offered; 0 means DefaultServerCaps
	TLS           *tls.Config // nil: no TLS offered
	RequireTLS    bool
	DefaultAuth   string // AuthNativePassword (default) or AuthCachingSHA2
	// Lookup returns the user's plaintext password from the configuration.
	Lookup func(user string) (password string, ok bool)
	// CachingSHA2Cache enables caching_sha2_password's full-authentication
	// step: a user not in the cache must send the password over TLS (or
	// RSA-encrypted with RSAKey) once before the fast path is used. Nil, or no
	// TLS and no RSAKey: the scramble alone is verified (the proxy holds the
	// plaintext password, so the scramble proves as much as a cache hit).
	CachingSHA2Cache *SHA2Cache
	RSAKey           *rsa.PrivateKey // optional: full auth without TLS via the public-key request
	// Authorize, when set, runs after the credentials are verified and
	// before the final OK: a *Error it returns is sent instead of the OK,
	// as a server refuses an unknown database or a user over its limit.
	Authorize func(*ClientHello) error
}

// maxHandshakePacket limits packets read before the client is authenticated.
const maxHandshakePacket = 128 << 10

// DefaultServerCaps is what Accept offers when HandshakeConfig.Caps is 0.
const DefaultServerCaps = ClientLongPassword | ClientFoundRows | ClientLongFlag | ClientConnectWithDB |
	ClientNoSchema | ClientCompress | ClientODBC | ClientLocalFiles | ClientIgnoreSpace | ClientProtocol41 |
	ClientInteractive | ClientIgnoreSigpipe | ClientTransactions | ClientSecureConnection |
	ClientMultiStatements | ClientMultiResults | ClientPSMultiResults | ClientPluginAuth |
	ClientConnectAttrs | ClientPluginAuthLenencData | ClientCanHandleExpiredPasswords |
	ClientSessionTrack | ClientDeprecateEOF

// ClientHello is an authenticated client's login.
type ClientHello struct {
	User, DB   string
	Caps       uint32 // negotiated: what the client asked for & what was offered
	Charset    uint8
	MaxPacket  uint32 // the client's max packet size
	Attrs      map[string]string
	AuthPlugin string
	TLS        bool
	Compress   bool
}

// handshakeResponse is a decoded HandshakeResponse41 or COM_CHANGE_USER.
type handshakeResponse struct {
	caps      uint32
	maxPacket uint32
	charset   uint8
	user      string
	auth      []byte
	db        string
	plugin    string
	attrs     map[string]string
}

// Accept runs the server side of the handshake on a new client connection:
// it offers TLS and compression as configured, authenticates the user against
// cfg.Lookup without contacting any backend, and sends the final OK or an
// ERR exactly as a MySQL server words it. On success the sequence is reset
// and compression is on if negotiated. On failure the ERR (if any) has been
// sent and the caller should close the connection.
func Accept(c *Conn, cfg *HandshakeConfig) (*ClientHello, error) {
	scramble, err := newScramble()
	if err != nil {
		return nil, err
	}
	c.scramble = scramble
	// Bound what an unauthenticated peer can make us buffer; the largest
	// legitimate response carries 64 KiB of connection attributes.
	if c.MaxPacket == 0 || c.MaxPacket > maxHandshakePacket {
		defer func(limit int) { c.MaxPacket = limit }(c.MaxPacket)
		c.MaxPacket = maxHandshakePacket
	}
	offer := cfg.Caps
	if offer == 0 {
		offer = DefaultServerCaps
	}
	offer |= ClientProtocol41 | ClientSecureConnection | ClientPluginAuth
	if cfg.TLS != nil {
		offer |= ClientSSL
	} else {
		offer &^= ClientSSL
	}
	plugin := cfg.DefaultAuth
	if plugin == "" {
		plugin = AuthNativePassword
	}
	c.ResetSeq()
	if err := writeFlush(c, appendServerHandshake(nil, cfg, offer, scramble, plugin)); err != nil {
		return nil, fmt.Errorf("wire: sending handshake: %w", err)
	}

	pkt, err := c.ReadPacket()
	if err != nil {
		return nil, fmt.Errorf("wire: reading handshake response: %w", err)
	}
	// An SSLRequest is the first 32 bytes of a HandshakeResponse41 alone.
	if len(pkt) == 32 && pkt[1]&byte(ClientSSL>>8) != 0 {
		if cfg.TLS == nil {
			return nil, fmt.Errorf("%w: SSLRequest but TLS was not offered", ErrMalformed)
		}
		if err := c.UpgradeTLS(cfg.TLS, true); err != nil {
			return nil, err
		}
		if pkt, err = c.ReadPacket(); err != nil {
			return nil, fmt.Errorf("wire: reading handshake response over TLS: %w", err)
		}
	}
	resp, err := parseHandshakeResponse(pkt)
	if err != nil {
		_ = writeErr(c, ErrHandshake, "08S01", "Bad handshake")
		return nil, err
	}
	if cfg.RequireTLS && !c.tls {
		_ = writeErr(c, ErrSecureTransportRequired, "HY000",
			"Connections using insecure transport are prohibited while --require_secure_transport=ON.")
		return nil, fmt.Errorf("wire: user %q connected without TLS, which is required", resp.user)
	}
	caps := resp.caps & offer
	c.peerCaps = caps
	hello := &ClientHello{
		User: resp.user, DB: resp.db, Caps: caps, Charset: resp.charset, MaxPacket: resp.maxPacket,
		Attrs: resp.attrs, TLS: c.tls, Compress: caps&ClientCompress != 0,
	}
	if hello.AuthPlugin, err = authenticate(c, cfg, resp, plugin); err != nil {
		return nil, err
	}
	if err := authorize(c, cfg, hello); err != nil {
		return nil, err
	}
	ok := AppendOK(nil, caps, 0, 0, StatusAutocommit, 0, "")
	if err := writeFlush(c, ok); err != nil {
		return nil, err
	}
	if hello.Compress {
		if err := c.EnableCompression(); err != nil {
			return nil, err
		}
	}
	c.ResetSeq()
	return hello, nil
}

// ChangeUser re-authenticates a client that sent COM_CHANGE_USER (payload
// is the whole command) against the scramble of its original handshake, as
// MySQL servers do. It answers OK or ERR itself. After a *Error (the ERR
// was sent: wrong password, a refusal by Authorize) the connection can go
// on as before, as it does on mariadbd; after any other error it must be
// closed. The returned hello keeps the connection's TLS and compression
// state.
func ChangeUser(c *Conn, payload []byte, cfg *HandshakeConfig) (*ClientHello, error) {
	if c.scramble == nil {
		return nil, errors.New("wire: ChangeUser on a connection not set up by Accept")
	}
	resp, err := parseChangeUser(payload, c.peerCaps)
	if err != nil {
		_ = writeErr(c, ErrUnknownCom, "08S01", "Unknown command")
		return nil, err
	}
	plugin := cfg.DefaultAuth
	if plugin == "" {
		plugin = AuthNativePassword
	}
	hello := &ClientHello{
		User: resp.user, DB: resp.db, Caps: c.peerCaps, Charset: resp.charset,
		Attrs: resp.attrs, TLS: c.tls, Compress: c.z != nil,
	}
	if hello.Charset == 0 {
		hello.Charset = CharsetUTF8MB4GeneralCI
	}
	if hello.AuthPlugin, err = authenticate(c, cfg, resp, plugin); err != nil {
		return nil, err
	}
	if err := authorize(c, cfg, hello); err != nil {
		return nil, err
	}
	if err := writeFlush(c, AppendOK(nil, c.peerCaps, 0, 0, StatusAutocommit, 0, "")); err != nil {
		return nil, err
	}
	return hello, nil
}

// appendServerHandshake appends the initial handshake packet (protocol 10).
func appendServerHandshake(dst []byte, cfg *HandshakeConfig, caps uint32, scramble []byte, plugin string) []byte {
	version := cfg.ServerVersion
	if version == "" {
		version = "10.11.0-MariaDB-switchyard"
	}
	dst = append(dst, 10)
	dst = append(append(dst, version...), 0)
	dst = append(dst, byte(cfg.ConnID), byte(cfg.ConnID>>8), byte(cfg.ConnID>>16), byte(cfg.ConnID>>24))
	dst = append(append(dst, scramble[:8]...), 0)
	dst = append(dst, byte(caps), byte(caps>>8), CharsetUTF8MB4GeneralCI, byte(StatusAutocommit), byte(StatusAutocommit>>8))
	dst = append(dst, byte(caps>>16), byte(caps>>24), byte(len(scramble)+1))
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // reserved (MariaDB's extended caps: none offered)
	dst = append(append(dst, scramble[8:]...), 0)
	return append(append(dst, plugin...), 0)
}

// parseHandshakeResponse decodes a HandshakeResponse41 strictly: every
// length is checked and truncated or inconsistent input is an error.
func parseHandshakeResponse(pkt []byte) (*handshakeResponse, error) {
	p := parser{b: pkt}
	r := &handshakeResponse{caps: p.uint32(), maxPacket: p.uint32(), charset: p.byte()}
	p.bytes(23)
	if p.bad {
		return nil, fmt.Errorf("%w: handshake response shorter than 32 bytes", ErrMalformed)
	}
	if r.caps&ClientProtocol41 == 0 {
		return nil, fmt.Errorf("%w: client does not speak protocol 4.1", ErrMalformed)
	}
	r.user = string(p.nulString())
	switch {
	case r.caps&ClientPluginAuthLenencData != 0:
		r.auth = p.lenEncString()
	case r.caps&ClientSecureConnection != 0:
		r.auth = p.bytes(int(p.byte()))
	default:
		r.auth = p.nulString()
	}
	if r.caps&ClientConnectWithDB != 0 && !p.empty() {
		r.db = string(p.nulString())
	}
	if r.caps&ClientPluginAuth != 0 && !p.empty() {
		r.plugin = string(p.nulStringOrEnd())
	}
	if r.caps&ClientConnectAttrs != 0 && !p.empty() {
		r.attrs = parseAttrs(&p)
	}
	if p.bad {
		return nil, fmt.Errorf("%w: truncated handshake response", ErrMalformed)
	}
	return r, nil
}

// parseChangeUser decodes a COM_CHANGE_USER payload sent by a client with
// capabilities caps.
func parseChangeUser(pkt []byte, caps uint32) (*handshakeResponse, error) {
	p := parser{b: pkt}
	if p.byte() != ComChangeUser {
		return nil, fmt.Errorf("%w: not COM_CHANGE_USER", ErrMalformed)
	}
	r := &handshakeResponse{caps: caps, user: string(p.nulString())}
	if caps&ClientSecureConnection != 0 {
		r.auth = p.bytes(int(p.byte()))
	} else {
		r.auth = p.nulString()
	}
	r.db = string(p.nulStringOrEnd())
	if !p.empty() {
		r.charset = byte(p.uint16())
	}
	if caps&ClientPluginAuth != 0 && !p.empty() {
		r.plugin = string(p.nulStringOrEnd())
	}
	if caps&ClientConnectAttrs != 0 && !p.empty() {
		r.attrs = parseAttrs(&p)
	}
	if p.bad {
		return nil, fmt.Errorf("%w: truncated COM_CHANGE_USER", ErrMalformed)
	}
	return r, nil
}

// parseAttrs decodes connection attributes: a length-encoded block of
// length-encoded key/value strings.
func parseAttrs(p *parser) map[string]string {
	block := parser{b: p.lenEncString()}
	if p.bad {
		return nil
	}
	attrs := make(map[string]string)
	for !block.empty() && !block.bad {
		k, v := block.lenEncString(), block.lenEncString()
		if !block.bad {
			attrs[string(k)] = string(v)
		}
	}
	if block.bad {
		p.bad = true
	}
	return attrs
}

// authenticate verifies the client's credentials, switching it to plugin
// when it answered with another one, and sends ERR 1045 on failure. It does
// not send the final OK.
func authenticate(c *Conn, cfg *HandshakeConfig, r *handshakeResponse, plugin string) (string, error) {
	auth := r.auth
	answered := r.plugin
	if r.caps&ClientPluginAuth == 0 || answered == "" {
		answered = AuthNativePassword
	}
	if answered != plugin {
		if r.caps&ClientPluginAuth == 0 {
			// Pre-plugin clients can only do mysql_native_password.
			return "", denyAccess(c, r, len(auth) > 0)
		}
		switchReq := append(append([]byte{HeaderEOF}, plugin...), 0)
		switchReq = append(append(switchReq, c.scramble...), 0)
		if err := writeFlush(c, switchReq); err != nil {
			return "", err
		}
		pkt, err := c.ReadPacket()
		if err != nil {
			return "", fmt.Errorf("wire: reading auth switch response: %w", err)
		}
		auth = append([]byte(nil), pkt...)
	}
	password, known := cfg.Lookup(r.user)
	switch plugin {
	case AuthNativePassword:
		if !known || !verifyScramble(ScrambleNativePassword(c.scramble, password), auth) {
			return "", denyAccess(c, r, len(auth) > 0)
		}
		return plugin, nil
	case AuthCachingSHA2:
		return plugin, authCachingSHA2(c, cfg, r, auth, password, known)
	}
	return "", fmt.Errorf("wire: server authentication plugin %q not supported", plugin)
}

// authorize runs cfg.Authorize and sends the ERR it returns.
func authorize(c *Conn, cfg *HandshakeConfig, hello *ClientHello) error {
	if cfg.Authorize == nil {
		return nil
	}
	err := cfg.Authorize(hello)
	var e *Error
	if errors.As(err, &e) {
		if werr := writeErr(c, e.Code, e.State, e.Message); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}

// verifyScramble compares in constant time; an empty password matches only
// an empty response.
func verifyScramble(want, got []byte) bool {
	if len(want) == 0 || len(got) == 0 {
		return len(want) == 0 && len(got) == 0
	}
	return subtle.ConstantTimeCompare(want, got) == 1
}

// authCachingSHA2 runs the server side of caching_sha2_password after the
// client's scramble: fast auth (0x01 0x03) or full auth (0x01 0x04, then the
// password in clear over TLS or RSA-encrypted after a public-key request).
func authCachingSHA2(c *Conn, cfg *HandshakeConfig, r *handshakeResponse, auth []byte, password string, known bool) error {
	if known && password == "" && len(auth) == 0 {
		return nil
	}
	if !known || !verifyScramble(ScrambleCachingSHA2(c.scramble, password), auth) {
		return denyAccess(c, r, len(auth) > 0)
	}
	fullPossible := c.tls || cfg.RSAKey != nil
	if cfg.CachingSHA2Cache == nil || !fullPossible || cfg.CachingSHA2Cache.has(r.user, password) {
		return writeFlush(c, []byte{0x01, cachingSHA2FastOK})
	}
	if err := writeFlush(c, []byte{0x01, cachingSHA2FullAuth}); err != nil {
		return err
	}
	pkt, err := c.ReadPacket()
	if err != nil {
		return fmt.Errorf("wire: reading full authentication: %w", err)
	}
	var clear []byte
	switch {
	case c.tls:
		clear = pkt
	case len(pkt) == 1 && pkt[0] == cachingSHA2PubKey:
		pub, err := x509.MarshalPKIXPublicKey(&cfg.RSAKey.PublicKey)
		if err != nil {
			return fmt.Errorf("wire: encoding RSA public key: %w", err)
		}
		keyPkt := append([]byte{0x01}, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})...)
		if err := writeFlush(c, keyPkt); err != nil {
			return err
		}
		if pkt, err = c.ReadPacket(); err != nil {
			return fmt.Errorf("wire: reading encrypted password: %w", err)
		}
		if clear, err = rsa.DecryptOAEP(sha1.New(), nil, cfg.RSAKey, pkt, nil); err != nil {
			return denyAccess(c, r, true)
		}
		clear = xorScramble(clear, c.scramble)
	default:
		// Without TLS the client must ask for the key; a cleartext password
		// over plain TCP is refused as MySQL refuses it.
		return denyAccess(c, r, true)
	}
	if len(clear) > 0 && clear[len(clear)-1] == 0 {
		clear = clear[:len(clear)-1]
	}
	if subtle.ConstantTimeCompare(clear, []byte(password)) != 1 {
		return denyAccess(c, r, true)
	}
	cfg.CachingSHA2Cache.put(r.user, password)
	return nil
}

// denyAccess sends ERR 1045 worded as MySQL does and returns it as error.
func denyAccess(c *Conn, r *handshakeResponse, usedPassword bool) error {
	yes := "NO"
	if usedPassword {
		yes = "YES"
	}
	host := "localhost"
	if h, _, err := net.SplitHostPort(c.nc.RemoteAddr().String()); err == nil {
		host = h
	}
	e := &Error{Code: ErrAccessDenied, State: "28000",
		Message: fmt.Sprintf("Access denied for user '%s'@'%s' (using password: %s)", r.user, host, yes)}
	if err := writeErr(c, e.Code, e.State, e.Message); err != nil {
		return errors.Join(e, err)
	}
	return e
}

func writeErr(c *Conn, code uint16, state, msg string) error {
	return writeFlush(c, AppendErr(nil, code, state, msg))
}
