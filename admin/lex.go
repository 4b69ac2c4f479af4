package admin

import (
	"errors"
	"strings"
)

type tokKind uint8

const (
	tokEOF    tokKind = iota
	tokWord           // keyword or identifier (quoted with backticks: quoted=true)
	tokString         // 'text' or "text", unescaped
	tokNumber         // digits, optionally with a fraction
	tokVar            // @name, @@name, @@session.name (text without the @s)
	tokSymbol         // one punctuation character
)

type token struct {
	kind   tokKind
	text   string // unescaped value
	raw    string // as written, for column names
	quoted bool
}

func (t token) is(k tokKind, text string) bool { return t.kind == k && t.text == text }

// maxTokens bounds the work done on hostile input.
const maxTokens = 256

var errTooLong = errors.New("Admin command too long")

// lex splits an admin statement into tokens, skipping whitespace and
// comments (--, #, /* */).
func lex(q string) ([]token, error) {
	var toks []token
	for i := 0; i < len(q); {
		if len(toks) >= maxTokens {
			return nil, errTooLong
		}
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#' || (c == '-' && strings.HasPrefix(q[i:], "-- ")) || (c == '-' && q[i:] == "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return toks, nil
			}
			i += j + 1
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return nil, errors.New("Unterminated comment in admin command")
			}
			i += j + 4
		case c == '\'' || c == '"' || c == '`':
			text, n, ok := quoted(q[i:])
			if !ok {
				return nil, errors.New("Unterminated quoted string in admin command")
			}
			t := token{kind: tokString, text: text, raw: q[i : i+n]}
			if c == '`' {
				t.kind, t.quoted = tokWord, true
			}
			toks = append(toks, t)
			i += n
		case c == '@':
			j := i
			for j < len(q) && q[j] == '@' && j-i < 2 {
				j++
			}
			k := j
			for k < len(q) && (isWord(q[k]) || q[k] == '.') {
				k++
			}
			if k == j {
				return nil, errors.New("Variable name missing after @ in admin command")
			}
			name := q[j:k]
			// @@session.x and @@local.x are x; other scopes are kept as written.
			for _, p := range []string{"session.", "local."} {
				if len(name) > len(p) && strings.EqualFold(name[:len(p)], p) {
					name = name[len(p):]
				}
			}
			toks = append(toks, token{kind: tokVar, text: name, raw: q[i:k]})
			i = k
		case isDigit(c):
			j := i
			for j < len(q) && isDigit(q[j]) {
				j++
			}
			if j+1 < len(q) && q[j] == '.' && isDigit(q[j+1]) {
				for j++; j < len(q) && isDigit(q[j]); j++ {
				}
			}
			if j < len(q) && isWord(q[j]) { // 1abc is an identifier in MySQL
				for j < len(q) && isWord(q[j]) {
					j++
				}
				toks = append(toks, token{kind: tokWord, text: q[i:j], raw: q[i:j]})
			} else {
				toks = append(toks, token{kind: tokNumber, text: q[i:j], raw: q[i:j]})
			}
			i = j
		case isWord(c):
			j := i
			for j < len(q) && isWord(q[j]) {
				j++
			}
			toks = append(toks, token{kind: tokWord, text: q[i:j], raw: q[i:j]})
			i = j
		default:
			toks = append(toks, token{kind: tokSymbol, text: q[i : i+1], raw: q[i : i+1]})
			i++
		}
	}
	return toks, nil
}

// quoted reads a quoted string or identifier starting at s[0], handling
// doubled quotes and (for ' and ") backslash escapes. It returns the value,
// the bytes consumed and whether the closing quote was found.
func quoted(s string) (string, int, bool) {
	quote := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && quote != '`' && i+1 < len(s):
			i++
			if s[i] == '%' || s[i] == '_' { // kept escaped, as MySQL does, for LIKE
				b.WriteByte('\\')
			}
			b.WriteByte(unescape(s[i]))
		case c == quote && i+1 < len(s) && s[i+1] == quote:
			i++
			b.WriteByte(quote)
		case c == quote:
			return b.String(), i + 1, true
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case '0':
		return 0
	}
	return c
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWord(c byte) bool {
	return c == '_' || c == '$' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80
}
