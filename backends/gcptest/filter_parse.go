package gcptest

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tOp     // = != : < > <= >=
	tWord   // field names, keywords, unquoted literals
	tString // quoted literal
)

type token struct {
	kind tokKind
	text string
}

const wordStop = `()"'=!<>:`

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case c == '(':
			out = append(out, token{tLParen, "("})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")"})
			i++
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string")
			}
			out = append(out, token{tString, b.String()})
			i = j + 1
		case strings.HasPrefix(s[i:], "!=") || strings.HasPrefix(s[i:], "<=") || strings.HasPrefix(s[i:], ">="):
			out = append(out, token{tOp, s[i : i+2]})
			i += 2
		case c == '=' || c == ':' || c == '<' || c == '>':
			out = append(out, token{tOp, string(c)})
			i++
		case c == '!':
			return nil, fmt.Errorf("unexpected '!'")
		default:
			j := i
			for j < len(s) && !unicode.IsSpace(rune(s[j])) && !strings.ContainsRune(wordStop, rune(s[j])) {
				j++
			}
			out = append(out, token{tWord, s[i:j]})
			i = j
		}
	}
	return append(out, token{kind: tEOF}), nil
}

type parser struct {
	toks       []token
	pos        int
	regex, aip bool // which dialects the filter used
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tWord && t.text == w
}

// expr is a sequence of OR-groups joined by AND or juxtaposition.
func (p *parser) expr() (node, error) {
	var terms andNode
	for {
		t, err := p.or()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if k := p.peek().kind; k == tEOF || k == tRParen {
			break
		}
		if p.isWord("AND") {
			p.next()
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) or() (node, error) {
	first, err := p.factor()
	if err != nil {
		return nil, err
	}
	alts := orNode{first}
	for p.isWord("OR") {
		p.next()
		n, err := p.factor()
		if err != nil {
			return nil, err
		}
		alts = append(alts, n)
	}
	if len(alts) == 1 {
		return first, nil
	}
	return alts, nil
}

func (p *parser) factor() (node, error) {
	switch {
	case p.isWord("NOT"):
		p.next()
		n, err := p.factor()
		return notNode{n}, err
	case p.peek().kind == tLParen:
		p.next()
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			return nil, fmt.Errorf("missing ')'")
		}
		return n, nil
	}
	return p.comparison()
}

func (p *parser) comparison() (node, error) {
	f := p.next()
	if f.kind != tWord || f.text == "AND" || f.text == "OR" {
		return nil, fmt.Errorf("expected a field name, got %q", f.text)
	}
	var op string
	switch t := p.next(); {
	case t.kind == tOp:
		op = t.text
		p.aip = true
	case t.kind == tWord && (t.text == "eq" || t.text == "ne"):
		op = t.text
		p.regex = true
	default:
		return nil, fmt.Errorf("expected an operator after %q", f.text)
	}
	v := p.next()
	if v.kind != tWord && v.kind != tString {
		return nil, fmt.Errorf("expected a value after %q %s", f.text, op)
	}
	n := cmpNode{field: strings.Split(f.text, "."), op: op, value: v.text}
	pattern := v.text
	switch op {
	case "=", "!=":
		// AIP-160: '*' in a string literal is a wildcard.
		pattern = strings.ReplaceAll(regexp.QuoteMeta(v.text), `\*`, `.*`)
	case "eq", "ne":
	default:
		return n, nil
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("bad regular expression %q", v.text)
	}
	n.re = re
	return n, nil
}
