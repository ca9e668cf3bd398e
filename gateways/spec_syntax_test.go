package gateways

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSuggest(t *testing.T) {
	tests := []struct {
		word       string
		candidates []string
		want       string
	}{
		{"replica", topKeys, `did you mean "replicas"?`},
		{"tpye", topKeys, `did you mean "type"?`}, // a swap is one edit
		{"Name", topKeys, `did you mean "name"?`}, // case alone
		{"domian", topKeys, `did you mean "domain"?`},
		{"instance-type", topKeys, `did you mean "instance_type"?`},
		{"publicip", topKeys, `did you mean "public_ip"?`},
		{"cert", topKeys, `did you mean "certificate"?`}, // unique prefix
		{"re", topKeys, ""},                              // too short to guess
		{"zone", topKeys, ""},
		{"awz", defaultBackends, `did you mean "aws"?`},
		{"gpc", defaultBackends, `did you mean "gcp"?`},
		{"az", defaultBackends, ""}, // two letters: only a case difference counts
		{"azure", defaultBackends, ""},
		{"us-east-9", []string{"eu-west-1", "us-east-1", "us-east-2"}, `did you mean "us-east-1"?`}, // tie: first
		{"", topKeys, ""},
		{"aws", defaultBackends, ""}, // exact match: nothing to suggest
		{"letsencrypt", certTypes, `did you mean "lets-encrypt"?`},
	}
	for _, tt := range tests {
		t.Run(tt.word, func(t *testing.T) {
			assert.Equal(t, tt.want, suggest(tt.word, tt.candidates))
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"same", "same", 0},
		{"replica", "replicas", 1},
		{"tpye", "type", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 3}, // optimal string alignment, not full Damerau (which says 2)
		{"héllo", "hello", 1},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			assert.Equal(t, tt.want, editDistance(tt.a, tt.b))
			assert.Equal(t, tt.want, editDistance(tt.b, tt.a))
		})
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "gateway.yml", Line: 7, Col: 11, Field: "replicas", Message: "must be 1", Hint: `did you mean "x"?`},
			`gateway.yml:7:11: replicas: must be 1 (did you mean "x"?)`},
		{Problem{File: "g.yml", Line: 2, Field: "name", Message: "bad"}, "g.yml:2: name: bad"},
		{Problem{File: "g.yml", Col: 3, Message: "bad"}, "g.yml: bad"}, // a column without a line means nothing
		{Problem{File: "<stdin>", Line: 1, Col: 1, Message: "file is empty"}, "<stdin>:1:1: file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.p.String())
		})
	}
	err := &SpecError{Problems: []Problem{tests[0].p, tests[1].p}}
	assert.Equal(t, tests[0].want+"\n"+tests[1].want, err.Error())
}

func TestQuoteTruncates(t *testing.T) {
	assert.Equal(t, `"short"`, quote("short"))
	long := quote(strings.Repeat("é", 100))
	assert.Equal(t, `"`+strings.Repeat("é", maxEcho-3)+`..."`, long)
	assert.Equal(t, `"a\nb"`, quote("a\nb"))
}

// problemsOf parses src and returns its problems; it fails the test when src parses.
func problemsOf(t *testing.T, file, src string) []Problem {
	t.Helper()
	spec, err := ParseSpec(file, []byte(src), SpecOptions{})
	require.Error(t, err)
	require.Nil(t, spec)
	var se *SpecError
	require.True(t, errors.As(err, &se))
	return se.Problems
}

func TestParseSpecFileNames(t *testing.T) {
	for file, want := range map[string]string{"-": "<stdin>", "": "<input>", "dir/gw.yml": "dir/gw.yml"} {
		p := problemsOf(t, file, "")
		require.Len(t, p, 1)
		assert.Equal(t, want, p[0].File)
	}
}

func TestParseSpecSyntax(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		line, col int
		msg       string
	}{
		{"scanner error on line 1", "a: b: c\n", 1, 0, "mapping values are not allowed"},
		{"scanner error on line 3", "type: gateway\nname: x\na: b: c\n", 3, 0, "mapping values are not allowed"},
		{"parser error on line 1", "{a: 1\n", 1, 0, "did not find expected ',' or '}'"},
		{"parser error on line 2", "type: gateway\nname: [a, b\n", 2, 0, "did not find expected ',' or ']'"},
		{"bad indentation", "a:\n  - 1\n b: 2\n", 3, 0, "did not find expected key"},
		{"tab", "type: gateway\nhealth:\n  \tpath: /\n", 3, 3, "a tab is used for indentation"},
		{"tab in sequence", "regions:\n\t- a\n", 2, 1, "a tab is used for indentation"},
		{"unclosed double quote", "type: gateway\nname: \"gw\nbackend: aws\n", 2, 7, "ends inside a quoted string"},
		{"unclosed single quote", "type: gateway\nname: 'gw\n", 2, 7, "ends inside a quoted string"},
		{"invalid utf-8", "type: gateway\nname: ab\xffc\n", 2, 9, "UTF-8"},
		{"control character", "type: gateway\n\x01name: x\n", 2, 1, "control characters"},
		{"unknown alias", "type: gateway\nname: gw\nbackend: *be\n", 3, 10, "unknown anchor 'be'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := problemsOf(t, "gw.yml", tt.src)
			require.Len(t, p, 1, "%v", p)
			assert.Equal(t, tt.line, p[0].Line, p[0].String())
			assert.Equal(t, tt.col, p[0].Col, p[0].String())
			assert.Empty(t, p[0].Field)
			assert.Contains(t, p[0].Message, tt.msg)
			assert.True(t, strings.HasPrefix(p[0].Message, "invalid YAML"), p[0].Message)
		})
	}
}

func TestParseSpecDocuments(t *testing.T) {
	const gw = "type: gateway\nname: gw\nbackend: aws\n"
	tests := []struct {
		name string
		src  string
		line int
		msg  string // "" means the spec parses
	}{
		{"empty", "", 1, "file is empty"},
		{"blank lines", "\n\n  \n", 1, "file is empty"},
		{"only a separator", "---\n", 1, "file is empty"},
		{"explicit null", "~\n", 1, "file is empty"},
		{"two gateways", gw + "---\n" + gw, 4, "file holds 2 YAML documents"},
		{"three gateways", gw + "---\n" + gw + "---\n" + gw, 4, "file holds 3 YAML documents"},
		{"leading and trailing separators", "---\n" + gw + "---\n", 0, ""},
		{"scalar", "gateway\n", 1, "must be a mapping of keys"},
		{"list", "- " + strings.ReplaceAll(gw, "\n", "\n  "), 1, "got a list"},
		{"too large", gw + "# " + strings.Repeat("x", maxSpecBytes) + "\n", 1, "more than the 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.msg == "" {
				_, err := ParseSpec("gw.yml", []byte(tt.src), SpecOptions{})
				require.NoError(t, err)
				return
			}
			p := problemsOf(t, "gw.yml", tt.src)
			require.Len(t, p, 1)
			assert.Equal(t, tt.line, p[0].Line)
			assert.Empty(t, p[0].Field)
			assert.Contains(t, p[0].Message, tt.msg)
		})
	}
}

func TestParseSpecReportsEveryProblemInOrder(t *testing.T) {
	src := "replicas: 0\nname: X\nbogus: 1\nbackend: awz\ntype: gateway\ntype: gateway\n"
	p := problemsOf(t, "gw.yml", src)
	var got []string
	for _, pr := range p {
		got = append(got, pr.Field)
	}
	assert.Equal(t, []string{"replicas", "name", "bogus", "backend", "type"}, got)
	assert.Equal(t, 6, p[4].Line, "the duplicate is reported where it repeats")
}

func TestParseSpecAliasProblemsPointAtUse(t *testing.T) {
	src := "type: gateway\nname: gw\nbackend: aws\ndomain: &d example.com\nreplicas: *d\n"
	p := problemsOf(t, "gw.yml", src)
	require.Len(t, p, 1)
	assert.Equal(t, "replicas", p[0].Field)
	assert.Equal(t, []int{5, 11}, []int{p[0].Line, p[0].Col})
	assert.Contains(t, p[0].Message, `got "example.com"`)
}
