package routing

import (
	"bytes"
	"time"
)

// tokKind is the lexical class of a token.
type tokKind uint8

const (
	tEOF    tokKind = iota
	tWord           // unquoted identifier or keyword
	tQuoted         // `quoted identifier`
	tString         // '...' or "..." (also N'...')
	tNumber         // 12, 1.5e3, 0x1F, x'1F', b'01', .5
	tVar            // @name, @'name', @`name`
	tSysVar         // @@name, @@session.name
	tParam          // ? placeholder
	tPunct          // operator or punctuation, possibly several bytes (:=, <=>)
	tError          // unterminated string, identifier or comment
)

type token struct {
	kind       tokKind
	start, end int // sql[start:end]
}

// lexer splits SQL into tokens without allocating. Comments are skipped,
// except that MySQL executable comments (/*! ... */, /*M! ... */) are code and
// /* switchyard: ... */ comments are parsed as routing hints.
type lexer struct {
	sql    []byte
	pos    int
	inExec bool // inside /*! ... */: the closing */ is skipped like a space
	// noBackslash lexes strings as under sql_mode NO_BACKSLASH_ESCAPES.
	noBackslash  bool
	sawBackslash bool // a string contained a backslash: the other lexing may differ
	hint         Hint
	hasHint      bool
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// skip moves past whitespace and comments. It returns false when a comment is
// unterminated.
func (l *lexer) skip() bool {
	s := l.sql
	for l.pos < len(s) {
		c := s[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case c == '#':
			l.lineComment(l.pos + 1)
		case c == '-' && l.pos+1 < len(s) && s[l.pos+1] == '-' && (l.pos+2 == len(s) || s[l.pos+2] <= ' '):
			// "--" starts a comment only when followed by a space or control
			// character: 1--1 is one minus minus one.
			l.lineComment(l.pos + 2)
		case c == '*' && l.inExec && l.pos+1 < len(s) && s[l.pos+1] == '/':
			l.inExec = false
			l.pos += 2
		case c == '/' && l.pos+1 < len(s) && s[l.pos+1] == '*':
			if !l.blockComment() {
				return false
			}
		default:
			return true
		}
	}
	return true
}

func (l *lexer) lineComment(body int) {
	end := body
	for end < len(l.sql) && l.sql[end] != '\n' {
		end++
	}
	l.parseHint(l.sql[body:end])
	l.pos = end
}

// blockComment handles a comment starting at l.pos ("/*"). Executable
// comments switch the lexer into code mode instead.
func (l *lexer) blockComment() bool {
	s := l.sql
	p := l.pos + 2
	if p < len(s) && s[p] == '!' || p+1 < len(s) && (s[p] == 'M' || s[p] == 'm') && s[p+1] == '!' {
		// /*!NNNNN code */ or MariaDB's /*M!NNNNNN code */: the body is code
		// on the servers we route to.
		maxDigits := 5
		if s[p] != '!' {
			p++
			maxDigits = 6
		}
		p++
		for d := 0; d < maxDigits && p < len(s) && isDigit(s[p]); d++ {
			p++
		}
		l.inExec = true
		l.pos = p
		return true
	}
	for i := p; i+1 < len(s); i++ {
		if s[i] == '*' && s[i+1] == '/' {
			l.parseHint(s[p:i])
			l.pos = i + 2
			return true
		}
	}
	l.pos = len(s)
	return false
}

// next returns the next token.
func (l *lexer) next() token {
	if !l.skip() {
		return token{kind: tError, start: len(l.sql), end: len(l.sql)}
	}
	s := l.sql
	start := l.pos
	if start >= len(s) {
		return token{kind: tEOF, start: start, end: start}
	}
	c := s[start]
	switch {
	case c == '\'' || c == '"':
		return l.quoted(start, tString)
	case c == '`':
		return l.quoted(start, tQuoted)
	case isDigit(c):
		return l.number(start)
	case c == '.' && start+1 < len(s) && isDigit(s[start+1]) && (start == 0 || !isIdentByte(s[start-1]) && s[start-1] != '`' && s[start-1] != ')'):
		return l.number(start)
	case (c == 'x' || c == 'X' || c == 'b' || c == 'B') && start+1 < len(s) && s[start+1] == '\'':
		t := l.quoted(start+1, tNumber)
		t.start = start
		return t
	case (c == 'n' || c == 'N') && start+1 < len(s) && s[start+1] == '\'':
		t := l.quoted(start+1, tString)
		t.start = start
		return t
	case isIdentByte(c):
		p := start + 1
		for p < len(s) && isIdentByte(s[p]) {
			p++
		}
		l.pos = p
		return token{kind: tWord, start: start, end: p}
	case c == '@':
		return l.variable(start)
	case c == '?':
		l.pos++
		return token{kind: tParam, start: start, end: start + 1}
	}
	return l.punct(start)
}

// quoted lexes a string or quoted identifier opened at s[start]. It jumps
// between quote and backslash bytes with bytes.IndexByte, so a multi-megabyte
// literal in a bulk INSERT costs little.
func (l *lexer) quoted(start int, kind tokKind) token {
	s := l.sql
	q := s[start]
	for p := start + 1; p < len(s); {
		i := bytes.IndexByte(s[p:], q)
		if i < 0 {
			break
		}
		if q != '`' {
			if j := bytes.IndexByte(s[p:p+i], '\\'); j >= 0 {
				l.sawBackslash = true
				if !l.noBackslash {
					p += j + 2 // the escaped byte may be the quote
					continue
				}
			}
		}
		p += i
		if p+1 < len(s) && s[p+1] == q {
			p += 2 // doubled quote
			continue
		}
		l.pos = p + 1
		return token{kind: kind, start: start, end: p + 1}
	}
	l.pos = len(s)
	return token{kind: tError, start: start, end: len(s)}
}

func (l *lexer) number(start int) token {
	s := l.sql
	p := start
	if s[p] == '0' && p+2 < len(s) && (s[p+1] == 'x' || s[p+1] == 'b') {
		q := p + 2
		for q < len(s) && (s[p+1] == 'x' && isHexDigit(s[q]) || s[p+1] == 'b' && (s[q] == '0' || s[q] == '1')) {
			q++
		}
		if q > p+2 && (q == len(s) || !isIdentByte(s[q])) {
			l.pos = q
			return token{kind: tNumber, start: start, end: q}
		}
	}
	for p < len(s) && isDigit(s[p]) {
		p++
	}
	digitsOnly := p > start
	if p < len(s) && s[p] == '.' {
		digitsOnly = false
		p++
		for p < len(s) && isDigit(s[p]) {
			p++
		}
	}
	if p+1 < len(s) && (s[p] == 'e' || s[p] == 'E') {
		q := p + 1
		if s[q] == '+' || s[q] == '-' {
			q++
		}
		if q < len(s) && isDigit(s[q]) {
			for q < len(s) && isDigit(s[q]) {
				q++
			}
			p, digitsOnly = q, false
		}
	}
	if p < len(s) && isIdentByte(s[p]) {
		if s[start] == '.' {
			// ".0a" is a dot before the identifier 0a
			l.pos = start + 1
			return token{kind: tPunct, start: start, end: start + 1}
		}
	}
	if p < len(s) && isIdentByte(s[p]) && digitsOnly {
		// 123abc is an identifier; 1.5abc is 1.5 and abc
		for p < len(s) && isIdentByte(s[p]) {
			p++
		}
		l.pos = p
		return token{kind: tWord, start: start, end: p}
	}
	l.pos = p
	return token{kind: tNumber, start: start, end: p}
}

// variable lexes @name, @'name', @@name, @@session.name.
func (l *lexer) variable(start int) token {
	s := l.sql
	p := start + 1
	kind := tVar
	if p < len(s) && s[p] == '@' {
		kind = tSysVar
		p++
	}
	if p < len(s) && (s[p] == '\'' || s[p] == '"' || s[p] == '`') {
		t := l.quoted(p, kind)
		if t.kind == tError {
			return t
		}
		t.start = start
		return t
	}
	q := p
	for q < len(s) && (isIdentByte(s[q]) || s[q] == '.' && q > p) {
		q++
	}
	if q == p {
		l.pos = start + 1
		return token{kind: tPunct, start: start, end: start + 1}
	}
	l.pos = q
	return token{kind: kind, start: start, end: q}
}

// punct lexes operators; multi-byte ones form one token so that := and <=
// are recognisable.
func (l *lexer) punct(start int) token {
	s := l.sql
	n := 1
	if start+1 < len(s) {
		a, b := s[start], s[start+1]
		switch {
		case a == '<' && b == '=' && start+2 < len(s) && s[start+2] == '>':
			n = 3
		case a == '-' && b == '>' && start+2 < len(s) && s[start+2] == '>':
			n = 3
		case a == ':' && b == '=', a == '<' && (b == '=' || b == '>' || b == '<'),
			a == '>' && (b == '=' || b == '>'), a == '!' && b == '=',
			a == '|' && b == '|', a == '&' && b == '&', a == '-' && b == '>':
			n = 2
		}
	}
	l.pos = start + n
	return token{kind: tPunct, start: start, end: start + n}
}

// parseHint reads "switchyard: route=replica max_lag=500ms" from a comment
// body. The first valid hint of a statement wins; malformed hints are
// ignored so that a typo never changes routing in a surprising way.
func (l *lexer) parseHint(body []byte) {
	if l.hasHint {
		return
	}
	p := 0
	for p < len(body) && isSpace(body[p]) {
		p++
	}
	const tag = "switchyard"
	if len(body)-p < len(tag)+1 || !eqFold(body[p:p+len(tag)], tag) {
		return
	}
	p += len(tag)
	for p < len(body) && isSpace(body[p]) {
		p++
	}
	if p >= len(body) || body[p] != ':' {
		return
	}
	p++
	var h Hint
	valid := false
	for p < len(body) {
		for p < len(body) && (isSpace(body[p]) || body[p] == ',') {
			p++
		}
		ks := p
		for p < len(body) && body[p] != '=' && !isSpace(body[p]) && body[p] != ',' {
			p++
		}
		key := body[ks:p]
		if p >= len(body) || body[p] != '=' {
			if len(key) > 0 {
				return // a bare word: not our syntax
			}
			break
		}
		p++
		vs := p
		for p < len(body) && !isSpace(body[p]) && body[p] != ',' {
			p++
		}
		val := body[vs:p]
		switch {
		case eqFold(key, "route") && eqFold(val, "primary"):
			h.Route = RoutePrimary
		case eqFold(key, "route") && eqFold(val, "replica"):
			h.Route = RouteReplica
		case eqFold(key, "max_lag"):
			d, ok := parseDuration(val)
			if !ok {
				return
			}
			h.MaxLag = d
		default:
			return
		}
		valid = true
	}
	if valid {
		l.hint, l.hasHint = h, true
	}
}

// parseDuration parses "500ms", "1.5s", "2m", "250us" or a plain number of
// milliseconds, without allocating (time.ParseDuration needs a string). It
// rejects zero and negative values.
func parseDuration(b []byte) (time.Duration, bool) {
	p := 0
	var whole, frac, scale int64 = 0, 0, 1
	for p < len(b) && isDigit(b[p]) {
		if whole > 1e12 {
			return 0, false
		}
		whole = whole*10 + int64(b[p]-'0')
		p++
	}
	if p == 0 {
		return 0, false
	}
	if p < len(b) && b[p] == '.' {
		p++
		for p < len(b) && isDigit(b[p]) {
			if scale < 1e9 {
				frac = frac*10 + int64(b[p]-'0')
				scale *= 10
			}
			p++
		}
	}
	var unit time.Duration
	switch u := b[p:]; {
	case len(u) == 0, eqFold(u, "ms"):
		unit = time.Millisecond
	case eqFold(u, "s"):
		unit = time.Second
	case eqFold(u, "us"):
		unit = time.Microsecond
	case eqFold(u, "m"):
		unit = time.Minute
	default:
		return 0, false
	}
	d := time.Duration(whole)*unit + time.Duration(frac)*unit/time.Duration(scale)
	return d, d > 0
}

// eqFold reports whether b equals the ASCII string s ignoring case. s must
// be lower or upper case consistently with how callers pass it; both cases
// of b are accepted.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}
