package gateways

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decodeDocuments reads every YAML document in data as a node tree. Nodes,
// not structs, keep the line and column of every key and value.
func decodeDocuments(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
}

// resolve follows aliases (*name) to the node they stand for. The walk never
// recurses through aliases, so alias bombs cost nothing.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// deref is resolve for values: an alias yields a copy of its target placed
// where the alias is written, so problems point at the use, not the anchor.
func deref(n *yaml.Node) *yaml.Node {
	if n == nil || n.Kind != yaml.AliasNode {
		return n
	}
	t := resolve(n)
	if t == nil || t.Kind == yaml.AliasNode {
		return n
	}
	c := *t
	c.Line, c.Column = n.Line, n.Column
	return &c
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func isScalar(n *yaml.Node, tag string) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == tag
}

// maxEcho bounds how much of a user's value a message repeats.
const maxEcho = 60

// quote returns s in Go quotes, cut to about maxEcho characters, so a message
// stays one readable line whatever was pasted into the file.
func quote(s string) string {
	if r := []rune(s); len(r) > maxEcho {
		s = string(r[:maxEcho-3]) + "..."
	}
	return strconv.Quote(s)
}

// describe names what the user wrote, for "got ..." in messages: the value
// itself for numbers and booleans, the quoted text for strings.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil || isNull(n):
		return "nothing (null)"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		return quote(n.Value)
	case isScalar(n, "!!int") || isScalar(n, "!!float") || isScalar(n, "!!bool"):
		if len(n.Value) > maxEcho {
			return quote(n.Value)
		}
		return n.Value
	case n.Kind == yaml.ScalarNode:
		return n.ShortTag() + " " + quote(n.Value)
	}
	return "something else"
}

// field is one key of a mapping with its value, aliases resolved.
type field struct{ key, val *yaml.Node }

// plainKey is a key that can stand in a dotted path as it is.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_<>-]{1,60}$`)

// join builds the dotted path of a nested key; an odd key (a dot, a space, a
// paragraph) is quoted and cut short so the path stays readable.
func join(prefix, key string) string {
	if !plainKey.MatchString(key) {
		key = quote(key)
	}
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// fields reads mapping m, reporting keys that are not strings, repeated, or
// not in allowed (with a did-you-mean). It returns the first occurrence of
// each allowed key. A nil allowed list accepts any key (used for tags).
func (p *specParser) fields(m *yaml.Node, prefix string, allowed []string) map[string]field {
	out := map[string]field{}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), deref(m.Content[i+1])
		if k.ShortTag() == "!!merge" {
			p.add(k, join(prefix, "<<"), "merge keys (<<) are not supported; write the keys out", "")
			continue
		}
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			p.add(k, join(prefix, "<key>"), "keys must be plain names, got "+describe(k), "")
			continue
		}
		name := k.Value
		path := join(prefix, name)
		if first, dup := seen[name]; dup {
			p.add(k, path, fmt.Sprintf("duplicate key; it is already set on line %d", first.Line), "remove one of them")
			continue
		}
		seen[name] = k
		if allowed != nil && !contains(allowed, name) {
			if near := closest(name, allowed); near != "" {
				p.add(k, path, "unknown key", suggest(name, allowed))
				p.typoFor(join(prefix, near))
			} else {
				p.add(k, path, "unknown key (allowed: "+strings.Join(allowed, ", ")+")", "")
			}
			continue
		}
		out[name] = field{key: k, val: v}
	}
	return out
}

// typoFor notes that an unknown key was probably meant to be path, so that
// path's absence is not reported a second time.
func (p *specParser) typoFor(path string) {
	if p.typos == nil {
		p.typos = map[string]bool{}
	}
	p.typos[path] = true
}

// missing reports a required key that is absent, unless a misspelt key
// already explains its absence.
func (p *specParser) missing(at *yaml.Node, path, msg, hint string) {
	if !p.typos[path] {
		p.add(at, path, msg, hint)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// requiredString reads a required string field of the top-level mapping.
func (p *specParser) requiredString(root *yaml.Node, f map[string]field, key, hint string) (string, bool) {
	fl, ok := f[key]
	if !ok {
		p.missing(root, key, "is required", hint)
		return "", false
	}
	if isNull(fl.val) {
		p.add(fl.val, key, "is required but empty", hint)
		return "", false
	}
	return p.str(fl.val, key)
}

// str reads a string scalar, rejecting numbers, booleans, lists and mappings.
// YAML turns `2` or `true` into non-strings, so the hint offers quotes.
func (p *specParser) str(n *yaml.Node, path string) (string, bool) {
	if isScalar(n, "!!str") {
		return n.Value, true
	}
	hint := ""
	switch {
	case isNull(n):
		hint = `write "" for an empty string`
	case n.Kind == yaml.ScalarNode:
		hint = "put it in quotes if you mean the text: " + quote(n.Value)
	}
	p.add(n, path, "must be a string, got "+describe(n), hint)
	return "", false
}

// decimal is how a whole number must be written: no YAML 1.1 octal (017 is
// 15 to yaml.v3), hex, or underscores, which would surprise a reader.
var decimal = regexp.MustCompile(`^[-+]?(0|[1-9][0-9]*)$`)

// wholeNumber reads an integer written in plain decimal. When the node is not
// one, hint may say how to fix it.
func wholeNumber(n *yaml.Node) (v int64, ok bool, hint string) {
	switch {
	case isScalar(n, "!!int") && decimal.MatchString(n.Value):
		i, err := strconv.ParseInt(n.Value, 10, 64)
		return i, err == nil, ""
	case isScalar(n, "!!int"):
		return 0, false, "write it in plain decimal, without leading zeros"
	case isScalar(n, "!!str") && decimal.MatchString(strings.TrimSpace(n.Value)):
		return 0, false, "write it without quotes"
	}
	return 0, false, ""
}

// intIn reads a whole number from lo to hi.
func (p *specParser) intIn(n *yaml.Node, path string, lo, hi int) (int, bool) {
	i, ok, hint := wholeNumber(n)
	if ok && i >= int64(lo) && i <= int64(hi) {
		return int(i), true
	}
	p.add(n, path, fmt.Sprintf("must be a whole number from %d to %d, got %s", lo, hi, describe(n)), hint)
	return 0, false
}

// boolean reads true or false; "yes", "on" and quoted booleans are refused,
// since YAML versions disagree on them.
func (p *specParser) boolean(n *yaml.Node, path string) (bool, bool) {
	if isScalar(n, "!!bool") {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	p.add(n, path, "must be true or false, got "+describe(n), "")
	return false, false
}
