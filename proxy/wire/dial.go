package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// DialConfig describes a backend login.
type DialConfig struct {
	Addr, User, Password, DB string
	// Caps are the capabilities requested; 0 means DefaultClientCaps. They
	// are intersected with the server's; ClientSSL and ClientCompress are
	// requested through TLS and Caps&ClientCompress respectively.
	Caps    uint32
	Charset uint8             // collation id; 0 means utf8mb4_general_ci
	TLS     *tls.Config       // nil: plain text; set ServerName or InsecureSkipVerify
	Timeout time.Duration     // connect + handshake; 0 means the context's deadline only
	Attrs   map[string]string // connection attributes (CLIENT_CONNECT_ATTRS)
}

// DefaultClientCaps is what Dial asks for when DialConfig.Caps is 0. It
// leaves out ClientFoundRows (it changes what affected-rows means) and
// ClientCompress; callers that relay a client's session pass its flags.
const DefaultClientCaps = ClientLongPassword | ClientLongFlag | ClientConnectWithDB |
	ClientLocalFiles | ClientProtocol41 | ClientTransactions | ClientSecureConnection |
	ClientMultiStatements | ClientMultiResults | ClientPSMultiResults | ClientPluginAuth |
	ClientConnectAttrs | ClientPluginAuthLenencData | ClientSessionTrack | ClientDeprecateEOF

// ServerHello is what a backend announced in its initial handshake.
type ServerHello struct {
	Version     string
	ConnID      uint32
	Caps        uint32 // negotiated: requested & offered
	ServerCaps  uint32 // offered by the server
	MariaDBCaps uint32 // MariaDB extended capabilities offered (see MariaDBClient*)
	Charset     uint8
	Status      uint16 // from the final OK
	Flavor      string // "mariadb" or "mysql"
	AuthPlugin  string // the plugin that completed authentication
}

// Dial connects to a MySQL/MariaDB server and logs in. It returns after the
// final OK with the sequence reset, ready for the first command. A server
// error (wrong password, too many connections) is returned as *Error.
func Dial(ctx context.Context, cfg *DialConfig) (*Conn, *ServerHello, error) {
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("wire: dial %s: %w", cfg.Addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // the default in Go; stated because latency depends on it
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	// Closing on cancellation unblocks the handshake's reads.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	c := NewConn(nc)
	hello, err := clientHandshake(c, cfg)
	if !stop() || err != nil {
		nc.Close()
		if err == nil || ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return nil, nil, fmt.Errorf("wire: login to %s as %q: %w", cfg.Addr, cfg.User, err)
	}
	_ = c.nc.SetDeadline(time.Time{})
	return c, hello, nil
}

func clientHandshake(c *Conn, cfg *DialConfig) (*ServerHello, error) {
	pkt, err := c.ReadPacket()
	if err != nil {
		return nil, fmt.Errorf("reading server handshake: %w", err)
	}
	h, scramble, plugin, err := parseServerHandshake(pkt)
	if err != nil {
		return nil, err
	}
	caps := cfg.Caps
	if caps == 0 {
		caps = DefaultClientCaps
	}
	caps |= ClientProtocol41 | ClientSecureConnection | ClientPluginAuth
	if cfg.DB != "" {
		caps |= ClientConnectWithDB
	}
	if cfg.TLS != nil {
		caps |= ClientSSL
	} else {
		caps &^= ClientSSL
	}
	if len(cfg.Attrs) > 0 {
		caps |= ClientConnectAttrs
	}
	if h.ServerCaps&ClientProtocol41 == 0 {
		return nil, errors.New("server does not speak protocol 4.1")
	}
	if cfg.TLS != nil && h.ServerCaps&ClientSSL == 0 {
		return nil, errors.New("TLS requested but the server does not offer it")
	}
	caps &= h.ServerCaps
	h.Caps = caps
	charset := cfg.Charset
	if charset == 0 {
		charset = CharsetUTF8MB4GeneralCI
	}

	if caps&ClientSSL != 0 {
		req := appendClientCapsHeader(make([]byte, 0, 32), caps, charset)
		if err := c.WritePacket(req); err != nil {
			return nil, err
		}
		tcfg := cfg.TLS
		if tcfg.ServerName == "" && !tcfg.InsecureSkipVerify {
			tcfg = tcfg.Clone()
			tcfg.ServerName, _, _ = net.SplitHostPort(cfg.Addr)
		}
		if err := c.UpgradeTLS(tcfg, false); err != nil {
			return nil, err
		}
	}

	if plugin == "" {
		plugin = AuthNativePassword
	}
	authResp, err := scrambleFor(plugin, scramble, cfg.Password, c.tls)
	if err != nil { // an unknown default plugin: the server will switch us
		plugin, authResp = AuthNativePassword, ScrambleNativePassword(scramble, cfg.Password)
	}
	resp := appendClientCapsHeader(make([]byte, 0, 128+len(cfg.User)+len(cfg.DB)), caps, charset)
	resp = append(append(resp, cfg.User...), 0)
	if caps&ClientPluginAuthLenencData != 0 {
		resp = appendLenEncBytes(resp, authResp)
	} else {
		resp = append(append(resp, byte(len(authResp))), authResp...)
	}
	if caps&ClientConnectWithDB != 0 {
		resp = append(append(resp, cfg.DB...), 0)
	}
	resp = append(append(resp, plugin...), 0)
	if caps&ClientConnectAttrs != 0 {
		var attrs []byte
		for k, v := range cfg.Attrs {
			attrs = AppendLenEncString(AppendLenEncString(attrs, k), v)
		}
		resp = appendLenEncBytes(resp, attrs)
	}
	if err := c.WritePacket(resp); err != nil {
		return nil, err
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	c.peerCaps = caps
	if h.AuthPlugin, h.Status, err = clientAuth(c, cfg, plugin, scramble); err != nil {
		return nil, err
	}
	if caps&ClientCompress != 0 {
		if err := c.EnableCompression(); err != nil {
			return nil, err
		}
	}
	c.ResetSeq()
	return h, nil
}

// appendClientCapsHeader appends the 32 bytes shared by SSLRequest and
// HandshakeResponse41: capabilities, max packet size, charset, filler.
func appendClientCapsHeader(dst []byte, caps uint32, charset uint8) []byte {
	dst = append(dst, byte(caps), byte(caps>>8), byte(caps>>16), byte(caps>>24))
	dst = append(dst, 0, 0, 0, 0x40) // max packet 1 GiB, as libmysqlclient
	dst = append(dst, charset)
	return append(dst, make([]byte, 23)...)
}

// parseServerHandshake decodes the initial handshake packet (protocol 10).
func parseServerHandshake(pkt []byte) (h *ServerHello, scramble []byte, plugin string, err error) {
	if IsErr(pkt) {
		return nil, nil, "", errFromPacket(pkt)
	}
	p := parser{b: pkt}
	if v := p.byte(); v != 10 {
		return nil, nil, "", fmt.Errorf("%w: unsupported handshake protocol version %d", ErrMalformed, v)
	}
	h = &ServerHello{Version: string(p.nulString()), ConnID: p.uint32()}
	scramble = append(scramble, p.bytes(8)...)
	p.byte() // filler
	h.ServerCaps = uint32(p.uint16())
	if !p.empty() {
		h.Charset = p.byte()
		h.Status = p.uint16()
		h.ServerCaps |= uint32(p.uint16()) << 16
		authLen := int(p.byte())
		p.bytes(6)
		ext := p.uint32()
		if h.ServerCaps&ClientLongPassword == 0 { // MariaDB: extended caps in the filler
			h.MariaDBCaps = ext
		}
		if h.ServerCaps&ClientSecureConnection != 0 {
			n := max(13, authLen-8)
			part := p.bytes(n)
			scramble = append(scramble, bytes.TrimRight(part, "\x00")...)
		}
		if h.ServerCaps&ClientPluginAuth != 0 {
			plugin = string(p.nulStringOrEnd())
		}
	}
	if p.bad {
		return nil, nil, "", fmt.Errorf("%w: truncated server handshake", ErrMalformed)
	}
	h.Flavor = "mysql"
	if strings.Contains(strings.ToLower(h.Version), "mariadb") {
		h.Flavor = "mariadb"
	}
	return h, scramble, plugin, nil
}

// clientAuth runs the authentication exchange after HandshakeResponse41
// until the server's OK, following auth switches and caching_sha2 steps.
func clientAuth(c *Conn, cfg *DialConfig, plugin string, scramble []byte) (string, uint16, error) {
	for {
		pkt, err := c.ReadPacket()
		if err != nil {
			return plugin, 0, fmt.Errorf("reading authentication result: %w", err)
		}
		if len(pkt) == 0 {
			return plugin, 0, fmt.Errorf("%w: empty authentication packet", ErrMalformed)
		}
		switch pkt[0] {
		case HeaderOK:
			ok, err := ParseOK(pkt, c.peerCaps)
			return plugin, ok.Status, err
		case HeaderErr:
			return plugin, 0, errFromPacket(pkt)
		case HeaderEOF: // AuthSwitchRequest: plugin name NUL, new challenge
			p := parser{b: pkt[1:]}
			plugin = string(p.nulStringOrEnd())
			scramble = append([]byte(nil), bytes.TrimRight(p.b, "\x00")...)
			resp, err := scrambleFor(plugin, scramble, cfg.Password, c.tls)
			if err != nil {
				return plugin, 0, err
			}
			if err := writeFlush(c, resp); err != nil {
				return plugin, 0, err
			}
		case 0x01: // AuthMoreData
			if plugin != AuthCachingSHA2 || len(pkt) < 2 {
				return plugin, 0, fmt.Errorf("%w: unexpected auth-more-data for %s", ErrMalformed, plugin)
			}
			switch pkt[1] {
			case cachingSHA2FastOK: // the OK follows
			case cachingSHA2FullAuth:
				var resp []byte
				if c.tls {
					resp = append([]byte(cfg.Password), 0)
				} else {
					// Request the server's RSA public key and encrypt with it.
					if err := writeFlush(c, []byte{cachingSHA2PubKey}); err != nil {
						return plugin, 0, err
					}
					keyPkt, err := c.ReadPacket()
					if err != nil {
						return plugin, 0, fmt.Errorf("reading server public key: %w", err)
					}
					if IsErr(keyPkt) {
						return plugin, 0, errFromPacket(keyPkt)
					}
					if len(keyPkt) < 2 || keyPkt[0] != 0x01 {
						return plugin, 0, fmt.Errorf("%w: bad public key packet", ErrMalformed)
					}
					if resp, err = encryptPassword(keyPkt[1:], scramble, cfg.Password); err != nil {
						return plugin, 0, err
					}
				}
				if err := writeFlush(c, resp); err != nil {
					return plugin, 0, err
				}
			default:
				return plugin, 0, fmt.Errorf("%w: unknown caching_sha2_password state %d", ErrMalformed, pkt[1])
			}
		default:
			return plugin, 0, fmt.Errorf("%w: unexpected packet 0x%02x during authentication", ErrMalformed, pkt[0])
		}
	}
}

func writeFlush(c *Conn, payload []byte) error {
	if err := c.WritePacket(payload); err != nil {
		return err
	}
	return c.Flush()
}
