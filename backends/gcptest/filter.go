package gcptest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// filter is a parsed list filter, in the two dialects Compute Engine
// accepts (and refuses to mix): AIP-160 comparisons (`=`, `!=`, `:`, `<`,
// `>`, `<=`, `>=`) joined by AND, OR (which binds tighter, as in AIP-160),
// NOT, parentheses or plain juxtaposition (an implicit AND); and RE2
// regular expressions with `eq` / `ne` that must match the whole field.
// Fields are JSON paths such as `name`, `status` or
// `labels.portico-install`; a list field matches when any element does.
type filter struct {
	root node
	text string
}

type node interface{ eval(doc map[string]any) bool }

type (
	andNode []node
	orNode  []node
	notNode struct{ n node }
	cmpNode struct {
		field []string
		op    string
		value string
		re    *regexp.Regexp
	}
)

func (n andNode) eval(d map[string]any) bool {
	for _, c := range n {
		if !c.eval(d) {
			return false
		}
	}
	return true
}

func (n orNode) eval(d map[string]any) bool {
	for _, c := range n {
		if c.eval(d) {
			return true
		}
	}
	return false
}

func (n notNode) eval(d map[string]any) bool { return !n.n.eval(d) }

func (n cmpNode) eval(d map[string]any) bool {
	v, present := lookup(d, n.field)
	switch n.op {
	case ":":
		return present && (n.value == "*" || anyValue(v, func(s string) bool { return s == n.value }))
	case "=", "eq":
		return present && anyValue(v, n.re.MatchString)
	case "!=", "ne":
		return !present || !anyValue(v, n.re.MatchString)
	default: // < > <= >=
		return present && anyValue(v, func(s string) bool { return compare(s, n.value, n.op) })
	}
}

// matches reports whether resource passes the filter; an empty filter
// passes everything.
func (f *filter) matches(resource proto.Message) bool {
	if f.root == nil {
		return true
	}
	b, err := protojson.Marshal(resource)
	if err != nil {
		return false
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return false
	}
	return f.root.eval(doc)
}

func lookup(doc map[string]any, path []string) (any, bool) {
	var cur any = doc
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func anyValue(v any, pred func(string) bool) bool {
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if anyValue(e, pred) {
				return true
			}
		}
		return false
	}
	switch x := v.(type) {
	case string:
		return pred(x)
	case bool:
		return pred(strconv.FormatBool(x))
	case float64:
		return pred(strconv.FormatFloat(x, 'f', -1, 64))
	default:
		return false
	}
}

func compare(a, b, op string) bool {
	c := strings.Compare(a, b)
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		switch {
		case x < y:
			c = -1
		case x > y:
			c = 1
		default:
			c = 0
		}
	}
	switch op {
	case "<":
		return c < 0
	case ">":
		return c > 0
	case "<=":
		return c <= 0
	default:
		return c >= 0
	}
}

// parseFilter parses text; the error is the API's 400 message.
func parseFilter(text string) (*filter, error) {
	f := &filter{text: text}
	if strings.TrimSpace(text) == "" {
		return f, nil
	}
	bad := func(why string) error {
		//lint:ignore ST1005 the text is Compute Engine's own 400 message, reproduced verbatim
		return fmt.Errorf("Invalid value for field 'filter': '%s'. Invalid list filter expression: %s.", text, why)
	}
	toks, err := lex(text)
	if err != nil {
		return nil, bad(err.Error())
	}
	p := &parser{toks: toks}
	root, err := p.expr()
	if err == nil && p.peek().kind != tEOF {
		err = fmt.Errorf("unexpected %q", p.peek().text)
	}
	if err == nil && p.regex && p.aip {
		err = fmt.Errorf("regular expressions (eq, ne) cannot be mixed with other comparisons")
	}
	if err != nil {
		return nil, bad(err.Error())
	}
	f.root = root
	return f, nil
}
