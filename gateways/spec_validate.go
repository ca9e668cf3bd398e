package gateways

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Name rules. A gateway name ends up in cloud resource names, DNS labels and
// file paths, so it is kept to the narrowest safe alphabet.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,40}$`)

const nameRule = "must be 2 to 41 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen"

// validName reports whether s is an acceptable gateway name.
func validName(s string) bool { return nameRE.MatchString(s) && !strings.HasSuffix(s, "-") }

func (p *specParser) name(n *yaml.Node, v string) (string, bool) {
	if validName(v) {
		return v, true
	}
	hint := ""
	if fixed := sanitizeName(v); validName(fixed) {
		hint = "did you mean " + strconv.Quote(fixed) + "?"
	}
	p.add(n, "name", nameRule+", got "+quote(v), hint)
	return "", false
}

// sanitizeName guesses the name the user meant: lowercase, with anything
// else turned into single hyphens.
func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

func (p *specParser) backend(n *yaml.Node, v string) (string, bool) {
	known := p.opts.backends()
	if contains(known, v) {
		return v, true
	}
	p.add(n, "backend", fmt.Sprintf("unknown backend %s (valid: %s)", quote(v), strings.Join(known, ", ")), suggest(v, known))
	return "", false
}

var regionRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)

// regions reads region or regions; a spec may name one, the other, or
// neither (the backend's default region then applies).
func (p *specParser) regions(f map[string]field, backend string) (string, []string) {
	rf, hasRegion := f["region"]
	lf, hasList := f["regions"]
	hasRegion = hasRegion && !isNull(rf.val)
	hasList = hasList && !isNull(lf.val)
	if hasRegion && hasList {
		p.add(lf.key, "regions", "set either region or regions, not both",
			"use regions alone to spread replicas over several regions")
	}
	var region string
	var list []string
	ok := true
	if hasRegion {
		if rf.val.Kind == yaml.SequenceNode {
			p.add(rf.val, "region", "must be a single region, got a list", "for a list, use regions: instead of region:")
			ok = false
		} else if region, ok = p.str(rf.val, "region"); ok {
			ok = p.region(rf.val, "region", region, backend)
		}
	}
	if hasList {
		list = p.regionList(lf.val, backend)
		ok = ok && list != nil
	}
	if !ok || hasRegion && hasList {
		return "", nil
	}
	return region, list
}

// regionList reads a non-empty list of distinct regions; nil means a problem.
func (p *specParser) regionList(n *yaml.Node, backend string) []string {
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if isScalar(n, "!!str") {
			hint = "write a list, [" + n.Value + "], or use region: for a single region"
		}
		p.add(n, "regions", "must be a list of regions, got "+describe(n), hint)
		return nil
	}
	if len(n.Content) == 0 {
		p.add(n, "regions", "must list at least one region", "remove regions to use the backend's default region")
		return nil
	}
	var out []string
	seen := map[string]int{}
	ok := true
	for i, item := range n.Content {
		item = deref(item)
		path := fmt.Sprintf("regions[%d]", i)
		v, good := p.str(item, path)
		if good && seen[v] != 0 {
			p.add(item, path, fmt.Sprintf("lists %s twice (also on line %d)", quote(v), seen[v]), "remove the repeat")
			good = false
		}
		if good {
			seen[v] = item.Line
			good = p.region(item, path, v, backend)
		}
		ok = ok && good
		out = append(out, v)
	}
	if !ok {
		return nil
	}
	return out
}

// region checks one region name, and, when the backend is known and lists
// its regions, that the backend has it.
func (p *specParser) region(n *yaml.Node, path, v, backend string) bool {
	if !regionRE.MatchString(v) {
		hint := ""
		if l := strings.ToLower(v); l != v && regionRE.MatchString(l) {
			hint = "did you mean " + strconv.Quote(l) + "?"
		}
		p.add(n, path, "must be a region name: a lowercase letter, then 1 to 62 lowercase letters, digits or hyphens, got "+quote(v), hint)
		return false
	}
	if backend == "" || p.opts.Regions == nil {
		return true
	}
	known := p.opts.Regions(backend)
	if known == nil || contains(known, v) {
		return true
	}
	msg := fmt.Sprintf("unknown region %s for backend %s", quote(v), backend)
	if len(known) > 0 && len(known) <= 10 {
		msg += " (valid: " + strings.Join(known, ", ") + ")"
	}
	p.add(n, path, msg, suggest(v, known))
	return false
}

// replicas reads the replica count; null keeps the default of one.
func (p *specParser) replicas(n *yaml.Node) (int, bool) {
	if isNull(n) {
		return 1, true
	}
	most := p.opts.maxReplicas()
	i, ok, hint := wholeNumber(n)
	switch {
	case ok && i > int64(most):
		p.add(n, "replicas", fmt.Sprintf("%d is more than the maximum of %d replicas", i, most),
			"set max_replicas in the config file to raise it")
	case ok && i >= 1:
		return int(i), true
	default:
		p.add(n, "replicas", fmt.Sprintf("must be a whole number from 1 to %d, got %s", most, describe(n)), hint)
	}
	return 0, false
}

var instanceTypeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)

func (p *specParser) instanceType(n *yaml.Node) string {
	if isNull(n) {
		return ""
	}
	v, ok := p.str(n, "instance_type")
	if !ok || instanceTypeRE.MatchString(v) {
		return v
	}
	hint := ""
	if l := strings.ToLower(v); l != v && instanceTypeRE.MatchString(l) {
		hint = "did you mean " + strconv.Quote(l) + "?"
	}
	p.add(n, "instance_type", "must be 1 to 63 lowercase letters, digits, dots or hyphens, starting with a letter or digit (like t3.micro), got "+quote(v), hint)
	return ""
}

func (p *specParser) publicIP(n *yaml.Node) *bool {
	if isNull(n) {
		return nil
	}
	if b, ok := p.boolean(n, "public_ip"); ok {
		return &b
	}
	return nil
}

// Tag rules, the intersection of what AWS tags and GCE labels accept.
var tagKeyRE = regexp.MustCompile(`^[_\-a-zA-Z0-9]{1,60}$`)

const (
	maxTags        = 50
	maxTagValue    = 256
	reservedPrefix = "portico-" // backends.TagGateway and friends
)

func (p *specParser) tags(n *yaml.Node) map[string]string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, "tags", "must be a mapping of tag names to values, like {team: infra}, got "+describe(n), "")
		return nil
	}
	f := p.fields(n, "tags", nil)
	if len(f) > maxTags {
		p.add(n, "tags", fmt.Sprintf("has %d tags; at most %d are allowed", len(f), maxTags), "")
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		fl, ok := f[k.Value]
		if !ok || fl.key != k {
			continue // a repeat or a bad key, already reported
		}
		path := join("tags", k.Value)
		switch {
		case !tagKeyRE.MatchString(k.Value):
			p.add(k, path, "tag names must be 1 to 60 letters, digits, '_' or '-', got "+quote(k.Value), "")
			continue
		case strings.HasPrefix(strings.ToLower(k.Value), reservedPrefix):
			p.add(k, path, "tag names starting with "+strconv.Quote(reservedPrefix)+" are reserved for Portico's own tags", "rename the tag")
			continue
		}
		v, ok := p.str(fl.val, path)
		if !ok {
			continue
		}
		if msg := tagValueProblem(v); msg != "" {
			p.add(fl.val, path, msg+", got "+quote(v), "")
			continue
		}
		out[k.Value] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// tagValueProblem explains why v cannot be a tag value, or returns "".
func tagValueProblem(v string) string {
	if !utf8.ValidString(v) {
		return "must be valid UTF-8 text"
	}
	if utf8.RuneCountInString(v) > maxTagValue {
		return fmt.Sprintf("must be at most %d characters", maxTagValue)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return "must be printable text without control characters"
		}
	}
	return ""
}
