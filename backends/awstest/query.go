package awstest

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// query is a parsed EC2 Query request: flat keys, lists as Name.N.
type query url.Values

func (q query) get(k string) string { return url.Values(q).Get(k) }

// indexes returns the sorted N of every key "prefix.N" or "prefix.N.*".
// EC2 does not require the numbers to be contiguous, and neither do we.
func (q query) indexes(prefix string) []int {
	seen := map[int]bool{}
	for k := range q {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(num); err == nil && n > 0 {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// list returns the values of prefix.1, prefix.2, ...
func (q query) list(prefix string) []string {
	var out []string
	for _, n := range q.indexes(prefix) {
		out = append(out, q.get(prefix+"."+strconv.Itoa(n)))
	}
	return out
}

// filter is one Filter.N of a Describe call; a resource matches when any
// value matches (values are ORed, filters are ANDed, as in EC2).
type filter struct {
	name   string
	values []string
}

func (q query) filters() []filter {
	var out []filter
	for _, n := range q.indexes("Filter") {
		p := "Filter." + strconv.Itoa(n)
		out = append(out, filter{name: q.get(p + ".Name"), values: q.list(p + ".Value")})
	}
	return out
}

// tag is one key/value pair.
type tag struct{ key, value string }

// tagsAt reads prefix.N.Key / prefix.N.Value.
func (q query) tagsAt(prefix string) []tag {
	var out []tag
	for _, n := range q.indexes(prefix) {
		p := prefix + "." + strconv.Itoa(n)
		out = append(out, tag{key: q.get(p + ".Key"), value: q.get(p + ".Value")})
	}
	return out
}

// tagSpec is one TagSpecification.N.
type tagSpec struct {
	resourceType string
	tags         []tag
}

func (q query) tagSpecs() []tagSpec {
	var out []tagSpec
	for _, n := range q.indexes("TagSpecification") {
		p := "TagSpecification." + strconv.Itoa(n)
		out = append(out, tagSpec{resourceType: q.get(p + ".ResourceType"), tags: q.tagsAt(p + ".Tag")})
	}
	return out
}

// intParam reads an optional integer parameter.
func (q query) intParam(name string) (int, bool, *apiError) {
	v := q.get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false, badRequest("InvalidParameterValue", "Invalid value '%s' for %s", v, name)
	}
	return n, true, nil
}

// key is a canonical form of the request's parameters (minus the protocol
// ones and the token), to tell an idempotent retry from a changed request.
func (q query) key() string {
	keys := make([]string, 0, len(q))
	for k := range q {
		switch k {
		case "Action", "Version", "ClientToken":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strings.Join(q[k], ","))
		b.WriteByte('&')
	}
	return b.String()
}

// validateTags applies EC2's tag rules.
func validateTags(tags []tag) *apiError {
	if len(tags) > 50 {
		return badRequest("TagLimitExceeded", "The maximum number of tags per resource is 50")
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case t.key == "":
			return badRequest("InvalidParameterValue", "Tag keys cannot be empty")
		case len(t.key) > 128:
			return badRequest("InvalidParameterValue", "Tag key exceeds the maximum length of 128 characters")
		case len(t.value) > 256:
			return badRequest("InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters")
		case strings.HasPrefix(strings.ToLower(t.key), "aws:"):
			return badRequest("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		case seen[t.key]:
			return badRequest("InvalidParameterValue", "Duplicate tag key '%s' specified", t.key)
		}
		seen[t.key] = true
	}
	return nil
}

// match reports whether s matches an EC2 filter value, where * matches any
// run of characters, ? any one character, and \ escapes either.
func match(pattern, s string) bool {
	if !strings.ContainsAny(pattern, `*?\`) {
		return pattern == s
	}
	p, str := []rune(pattern), []rune(s)
	var rec func(i, j int) bool
	memo := map[[2]int]bool{}
	rec = func(i, j int) bool {
		if v, ok := memo[[2]int{i, j}]; ok {
			return v
		}
		var res bool
		switch {
		case i == len(p):
			res = j == len(str)
		case p[i] == '*':
			res = rec(i+1, j) || (j < len(str) && rec(i, j+1))
		case p[i] == '?':
			res = j < len(str) && rec(i+1, j+1)
		case p[i] == '\\' && i+1 < len(p):
			res = j < len(str) && str[j] == p[i+1] && rec(i+2, j+1)
		default:
			res = j < len(str) && str[j] == p[i] && rec(i+1, j+1)
		}
		memo[[2]int{i, j}] = res
		return res
	}
	return rec(0, 0)
}

// matchAny reports whether any pattern matches s.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}
