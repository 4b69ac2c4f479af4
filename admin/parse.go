package admin

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/topology"
)

// kind is what an admin command does.
type kind uint8

const (
	cmdShowServers kind = iota + 1
	cmdShowPools
	cmdShowClients
	cmdShowDigests
	cmdShowEvents
	cmdShowStatus
	cmdShowConfig
	cmdKillClient
	cmdSetServer
	cmdSwitchover
	cmdFailover
	cmdReload
	cmdResetDigests
	cmdHelp

	// What MySQL clients and GUIs send on their own: answered with harmless
	// stubs so they can connect.
	cmdSelect        // SELECT @@var, DATABASE(), 1, ... [LIMIT n]
	cmdSetSession    // SET NAMES / SET autocommit=1 / SET @@session.x=...: accepted, ignored
	cmdUse           // USE db: accepted, ignored
	cmdShowDatabases // empty
	cmdShowWarnings  // empty
	cmdShowVariables // the same variables SELECT @@var knows
)

// command is a parsed admin statement.
type command struct {
	kind  kind
	like  string // LIKE pattern; "" with hasLike false = none
	has   bool   // LIKE given
	limit int    // -1 = no LIMIT
	name  string // SET SERVER / SWITCHOVER TO / FAILOVER TO target
	state topology.AdminState
	id    uint64 // KILL CLIENT
	items []selectItem
}

// selectItem is one expression of a client-probe SELECT.
type selectItem struct {
	expr  string // upper-cased variable or function name, or the literal
	kind  tokKind
	alias string // column name
}

// parseError is a malformed or unknown command; its message tells the
// operator to type HELP.
type parseError struct{ msg string }

func (e *parseError) Error() string {
	return e.msg + ". Type HELP for the list of commands."
}

func unknownCommand(q string) error {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > 80 {
		q = q[:80] + "..."
	}
	return &parseError{fmt.Sprintf("Unknown admin command '%s'", q)}
}

// parseCommand parses one admin statement. Keywords are case-insensitive,
// extra whitespace and comments are ignored, and trailing semicolons are
// allowed.
func parseCommand(q string) (*command, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, &parseError{err.Error()}
	}
	// Drop trailing semicolons; one anywhere else means several statements.
	for len(toks) > 0 && toks[len(toks)-1].is(tokSymbol, ";") {
		toks = toks[:len(toks)-1]
	}
	if len(toks) == 0 {
		return nil, &parseError{"Empty admin command"}
	}
	p := &parser{toks: toks, q: q}
	c, err := p.command()
	if err != nil {
		return nil, err
	}
	if !p.done() {
		return nil, p.unexpected()
	}
	return c, nil
}

type parser struct {
	toks []token
	pos  int
	q    string
}

func (p *parser) done() bool { return p.pos >= len(p.toks) }

func (p *parser) peek() token {
	if p.done() {
		return token{kind: tokEOF}
	}
	return p.toks[p.pos]
}

// keyword consumes the next token if it is the (case-insensitive) word kw.
func (p *parser) keyword(kw string) bool {
	if t := p.peek(); t.kind == tokWord && !t.quoted && strings.EqualFold(t.text, kw) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) symbol(s string) bool {
	if p.peek().is(tokSymbol, s) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) unexpected() error {
	t := p.peek()
	if t.kind == tokEOF {
		return &parseError{fmt.Sprintf("Incomplete admin command '%s'", strings.TrimSpace(p.q))}
	}
	return &parseError{fmt.Sprintf("Unexpected '%s' in admin command", t.text)}
}

func (p *parser) command() (*command, error) {
	c := &command{limit: -1}
	switch {
	case p.keyword("SHOW"):
		return p.show(c)
	case p.keyword("KILL"):
		if !p.keyword("CLIENT") {
			return nil, unknownCommand(p.q)
		}
		t := p.peek()
		id, err := strconv.ParseUint(t.text, 10, 64)
		if t.kind != tokNumber || err != nil {
			return nil, &parseError{"KILL CLIENT needs a numeric client id (see SHOW CLIENTS)"}
		}
		p.pos++
		c.kind, c.id = cmdKillClient, id
		return c, nil
	case p.keyword("SET"):
		return p.set(c)
	case p.keyword("SWITCHOVER"):
		c.kind = cmdSwitchover
		return p.target(c)
	case p.keyword("FAILOVER"):
		c.kind = cmdFailover
		return p.target(c)
	case p.keyword("RELOAD"):
		if !p.keyword("CONFIG") {
			return nil, unknownCommand(p.q)
		}
		c.kind = cmdReload
		return c, nil
	case p.keyword("RESET"):
		if !p.keyword("QUERY") || !p.keyword("DIGESTS") {
			return nil, unknownCommand(p.q)
		}
		c.kind = cmdResetDigests
		return c, nil
	case p.keyword("HELP"):
		// The mariadb CLI keeps a bare "help" for itself and sends
		// "help 'topic'" to the server: any topic lists the commands.
		if t := p.peek(); t.kind == tokWord || t.kind == tokString {
			p.pos++
		}
		c.kind = cmdHelp
		return c, nil
	case p.keyword("SELECT"):
		return p.selectProbe(c)
	case p.keyword("USE"):
		if t := p.peek(); t.kind != tokWord && t.kind != tokString {
			return nil, p.unexpected()
		}
		p.pos++
		c.kind = cmdUse
		return c, nil
	}
	return nil, unknownCommand(p.q)
}

func (p *parser) show(c *command) (*command, error) {
	likeLimit := true
	switch {
	case p.keyword("SERVERS"):
		c.kind = cmdShowServers
	case p.keyword("POOLS"):
		c.kind = cmdShowPools
	case p.keyword("CLIENTS"):
		c.kind = cmdShowClients
	case p.keyword("QUERY"):
		if !p.keyword("DIGESTS") {
			return nil, unknownCommand(p.q)
		}
		c.kind = cmdShowDigests
	case p.keyword("EVENTS"):
		c.kind = cmdShowEvents
	case p.keyword("STATUS"):
		c.kind = cmdShowStatus
	case p.keyword("CONFIG"):
		c.kind = cmdShowConfig
	case p.keyword("DATABASES"), p.keyword("SCHEMAS"):
		c.kind, likeLimit = cmdShowDatabases, false
	case p.keyword("WARNINGS"), p.keyword("ERRORS"):
		c.kind, likeLimit = cmdShowWarnings, false
	default:
		p.keyword("SESSION")
		if !p.keyword("VARIABLES") {
			return nil, unknownCommand(p.q)
		}
		c.kind = cmdShowVariables
	}
	if !likeLimit {
		return c, nil
	}
	if p.keyword("LIKE") {
		t := p.peek()
		if t.kind != tokString {
			return nil, &parseError{"LIKE needs a quoted pattern, e.g. LIKE 'db%'"}
		}
		p.pos++
		c.like, c.has = t.text, true
	}
	return c, p.limit(c)
}

func (p *parser) limit(c *command) error {
	if !p.keyword("LIMIT") {
		return nil
	}
	t := p.peek()
	n, err := strconv.Atoi(t.text)
	if t.kind != tokNumber || err != nil || n < 0 {
		return &parseError{"LIMIT needs a non-negative number"}
	}
	p.pos++
	c.limit = n
	return nil
}

// set parses SET SERVER '<name>' OFFLINE|ONLINE|DRAIN, or a session SET a
// client sends on connect. Anything else is an error, so a mistyped SET
// SERVER is never silently ignored.
func (p *parser) set(c *command) (*command, error) {
	if p.keyword("SERVER") {
		t := p.peek()
		if t.kind != tokString && t.kind != tokWord {
			return nil, &parseError{"SET SERVER needs a server name, e.g. SET SERVER 'db2' OFFLINE"}
		}
		p.pos++
		c.kind, c.name = cmdSetServer, t.text
		switch {
		case p.keyword("OFFLINE"):
			c.state = topology.AdminOffline
		case p.keyword("ONLINE"):
			c.state = topology.AdminOnline
		case p.keyword("DRAIN"):
			c.state = topology.AdminDrain
		default:
			return nil, &parseError{fmt.Sprintf("SET SERVER '%s' needs OFFLINE, ONLINE or DRAIN", c.name)}
		}
		return c, nil
	}
	c.kind = cmdSetSession
	if p.keyword("NAMES") || p.keyword("CHARSET") || (p.keyword("CHARACTER") && p.keyword("SET")) {
		p.pos = len(p.toks)
		return c, nil
	}
	if !p.keyword("SESSION") {
		p.keyword("LOCAL")
	}
	t := p.peek()
	if t.kind != tokWord && t.kind != tokVar {
		return nil, unknownCommand(p.q)
	}
	p.pos++
	if !p.symbol("=") && !(p.symbol(":") && p.symbol("=")) {
		return nil, unknownCommand(p.q)
	}
	p.pos = len(p.toks) // the value is irrelevant: nothing is stored
	return c, nil
}

func (p *parser) target(c *command) (*command, error) {
	if !p.keyword("TO") {
		return c, nil
	}
	t := p.peek()
	if t.kind != tokString && t.kind != tokWord {
		return nil, &parseError{"TO needs a server name, e.g. TO 'db2'"}
	}
	p.pos++
	c.name = t.text
	return c, nil
}

// selectProbe parses the SELECTs clients send on connect: variables,
// a few functions and literals, with optional aliases and LIMIT.
func (p *parser) selectProbe(c *command) (*command, error) {
	c.kind = cmdSelect
	for {
		start := p.pos
		t := p.peek()
		it := selectItem{kind: t.kind}
		switch t.kind {
		case tokVar:
			it.expr = strings.ToUpper(t.text)
			p.pos++
		case tokNumber, tokString:
			it.expr = t.text
			p.pos++
		case tokWord:
			if t.quoted || !p.toks[min(p.pos+1, len(p.toks)-1)].is(tokSymbol, "(") {
				return nil, unknownCommand(p.q)
			}
			it.expr = strings.ToUpper(t.text) + "()"
			p.pos += 2
			if !p.symbol(")") {
				return nil, unknownCommand(p.q)
			}
		default:
			return nil, unknownCommand(p.q)
		}
		it.alias = p.source(start, p.pos)
		if p.keyword("AS") {
			a := p.peek()
			if a.kind != tokWord && a.kind != tokString {
				return nil, p.unexpected()
			}
			it.alias = a.text
			p.pos++
		}
		c.items = append(c.items, it)
		if !p.symbol(",") {
			break
		}
	}
	return c, p.limit(c)
}

// source rebuilds the text of tokens [from, to) for column names.
func (p *parser) source(from, to int) string {
	var b strings.Builder
	for _, t := range p.toks[from:to] {
		if t.kind == tokString {
			b.WriteString(t.text) // MySQL names a string column by its value
			continue
		}
		b.WriteString(t.raw)
	}
	return b.String()
}
