package routing

// Digest appends the normalised form of sql to dst: literals become ?, lists
// of literals in IN (...) become "...", only the first row of a multi-row
// VALUES list is kept, comments (hints too) are dropped, keywords and common
// function names are upper-cased and tokens are separated by single spaces
// (none after "(" and "." or before ")", "," and "."). The result is stable:
// Digest(Digest(x)) == Digest(x), so a digest from SHOW QUERY DIGESTS can be
// pasted into a routing rule.
func Digest(dst, sql []byte) []byte {
	d := digester{l: lexer{sql: sql}, out: dst}
	d.run()
	return d.out
}

// DigestHash returns the 64-bit FNV-1a hash of Digest(nil, sql), computed in
// the same pass without building the text.
func DigestHash(sql []byte) uint64 {
	d := digester{l: lexer{sql: sql}, hashing: true, h: fnvOffset}
	d.run()
	return d.h
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// spacing classes of emitted tokens
type dcls uint8

const (
	dNone    dcls = iota // nothing emitted yet
	dWord                // identifier or function name: "(" follows without a space
	dKeyword             // keyword: "(" follows after a space
	dOperand             // literal, ?, quoted identifier, NULL
	dVar                 // @var, @@var: a "." after it needs a space, or it would join the name
	dOp                  // operator
	dOpen
	dClose
	dComma
	dDot
	dSemi
)

type digester struct {
	l       lexer
	out     []byte
	h       uint64
	hashing bool
	prev    dcls
	depth   int
	// valuesDepth is depth+1 of a VALUES list whose first row is open; its
	// further rows are skipped.
	valuesDepth int
}

func (d *digester) byte(c byte) {
	if d.hashing {
		d.h = (d.h ^ uint64(c)) * fnvPrime
		return
	}
	d.out = append(d.out, c)
}

func (d *digester) str(s string) {
	for i := 0; i < len(s); i++ {
		d.byte(s[i])
	}
}

// emit writes a token with the separator its class needs.
func (d *digester) emit(b []byte, c dcls, conv func(byte) byte) {
	if d.space(c) {
		d.byte(' ')
	}
	for _, x := range b {
		if conv != nil {
			x = conv(x)
		}
		d.byte(x)
	}
	d.prev = c
}

func (d *digester) emitStr(s string, c dcls) {
	if d.space(c) {
		d.byte(' ')
	}
	d.str(s)
	d.prev = c
}

func (d *digester) space(c dcls) bool {
	switch {
	case d.prev == dNone, d.prev == dOpen, d.prev == dDot:
		return false
	case c == dDot && d.prev == dVar:
		return true
	case c == dComma, c == dClose, c == dDot, c == dSemi:
		return false
	case c == dOpen && d.prev == dWord:
		return false
	}
	return true
}

func (d *digester) punct(t token, s string) bool {
	return t.kind == tPunct && string(d.l.sql[t.start:t.end]) == s
}

func (d *digester) run() {
	sql := d.l.sql
	for {
		t := d.l.next()
		switch t.kind {
		case tEOF:
			return
		case tError:
			if t.start < len(sql) {
				d.emitStr("?", dOperand) // unterminated literal
			}
			return
		case tString, tNumber, tParam:
			d.emitStr("?", dOperand)
		case tWord:
			kw := lookupKeyword(sql[t.start:t.end])
			switch {
			case kw.id == kwNone:
				d.emit(sql[t.start:t.end], dWord, nil)
			case kw.id == kwNull || kw.id == kwTrue || kw.id == kwFalse:
				d.emit(sql[t.start:t.end], dOperand, upper)
			case kw.fn:
				d.emit(sql[t.start:t.end], dWord, upper)
			default:
				d.emit(sql[t.start:t.end], dKeyword, upper)
			}
			switch kw.id {
			case kwIn:
				d.inList()
			case kwValues, kwValue:
				if d.valuesDepth == 0 {
					if nx := d.l; d.punct(nx.next(), "(") {
						d.valuesDepth = d.depth + 1
					}
				}
			}
		case tQuoted:
			d.emit(sql[t.start:t.end], dOperand, nil)
		case tVar:
			d.emit(sql[t.start:t.end], dVar, nil)
		case tSysVar:
			d.emit(sql[t.start:t.end], dVar, lower)
		case tPunct:
			d.op(t)
		}
	}
}

// op emits punctuation, folding a sign into a following number when it
// cannot be a binary operator.
func (d *digester) op(t token) {
	sql := d.l.sql
	switch {
	case d.punct(t, "("):
		d.depth++
		d.emitStr("(", dOpen)
	case d.punct(t, ")"):
		d.depth--
		d.emitStr(")", dClose)
		if d.valuesDepth != 0 && d.depth == d.valuesDepth-1 {
			d.skipRows()
		}
	case d.punct(t, ","):
		d.emitStr(",", dComma)
	case d.punct(t, "."):
		d.emitStr(".", dDot)
	case d.punct(t, ";"):
		d.emitStr(";", dSemi)
		d.valuesDepth = 0
	case (d.punct(t, "-") || d.punct(t, "+")) && d.prev != dOperand && d.prev != dVar && d.prev != dWord && d.prev != dClose:
		if nx := d.l; nx.next().kind == tNumber {
			d.l.next()
			d.emitStr("?", dOperand)
			return
		}
		d.emit(sql[t.start:t.end], dOp, nil)
	default:
		d.emit(sql[t.start:t.end], dOp, nil)
	}
}

// skipRows drops the ", (...)" rows after the first row of a VALUES list.
func (d *digester) skipRows() {
	d.valuesDepth = 0
	for {
		nx := d.l
		if !d.punct(nx.next(), ",") || !d.punct(nx.next(), "(") {
			return
		}
		for depth := 1; depth > 0; {
			t := nx.next()
			switch {
			case t.kind == tEOF || t.kind == tError:
				return // leave the malformed tail to the main loop
			case d.punct(t, "("):
				depth++
			case d.punct(t, ")"):
				depth--
			}
		}
		d.l = nx
	}
}

// inList collapses IN (literal, literal, ...) to IN (...).
func (d *digester) inList() {
	nx := d.l
	if !d.punct(nx.next(), "(") {
		return
	}
	for {
		t := nx.next()
		if d.punct(t, "-") || d.punct(t, "+") {
			t = nx.next()
			if t.kind != tNumber {
				return
			}
		} else if d.punct(t, ".") { // an already collapsed "..."
			if !d.punct(nx.next(), ".") || !d.punct(nx.next(), ".") {
				return
			}
		} else if t.kind != tString && t.kind != tNumber && t.kind != tParam {
			return
		}
		t = nx.next()
		if d.punct(t, ")") {
			break
		}
		if !d.punct(t, ",") {
			return
		}
	}
	d.l = nx
	d.emitStr("(", dOpen)
	d.str("...")
	d.emitStr(")", dClose)
}
