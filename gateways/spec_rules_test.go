package gateways

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/models"
)

// ruleCase is one spec and what ParseSpec should make of it. With field
// empty the spec must parse (and check, if set, looks at the result);
// otherwise it must fail with exactly one problem on that field.
type ruleCase struct {
	name  string
	yaml  string
	opts  SpecOptions
	field string
	msg   string // substring of the message
	hint  string // substring of the hint; "" does not check, noHint wants none
	check func(t *testing.T, s *models.Spec)
}

// withBase completes a snippet with whichever of type, name and backend it
// leaves out, so each case shows only what it is about.
func withBase(snippet string) string {
	var head string
	for _, kv := range []string{"type: gateway", "name: gw", "backend: aws"} {
		key := strings.SplitN(kv, ":", 2)[0] + ":"
		if !strings.HasPrefix(snippet, key) && !strings.Contains(snippet, "\n"+key) {
			head += kv + "\n"
		}
	}
	return head + snippet
}

const noHint = "<none>"

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := ParseSpec("gateway.yml", []byte(withBase(tc.yaml)), tc.opts)
			if tc.field == "" {
				require.NoError(t, err)
				if tc.check != nil {
					tc.check(t, spec)
				}
				return
			}
			require.Error(t, err)
			assert.Nil(t, spec)
			var se *SpecError
			require.True(t, errors.As(err, &se))
			require.Len(t, se.Problems, 1, err.Error())
			p := se.Problems[0]
			assert.Equal(t, tc.field, p.Field)
			assert.Contains(t, p.Message, tc.msg)
			if tc.hint == noHint {
				assert.Empty(t, p.Hint)
			} else {
				assert.Contains(t, p.Hint, tc.hint)
			}
			assert.Positive(t, p.Line)
			assert.Positive(t, p.Col)
		})
	}
}

func TestSpecTopLevel(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "misspelt key", yaml: "tpye: gateway\n", field: "tpye", msg: "unknown key", hint: `did you mean "type"?`},
		{name: "wrong case key", yaml: "Replicas: 2\n", field: "Replicas", msg: "unknown key", hint: `"replicas"`},
		{name: "dash for underscore", yaml: "instance-type: t3.micro\n", field: "instance-type", hint: `"instance_type"`},
		{name: "far-off key lists allowed", yaml: "zone: a\n", field: "zone", msg: "allowed: type, name,", hint: noHint},
		{name: "typo hides required", yaml: "nme: gw\n", field: "nme", hint: `"name"`},
		{name: "type missing", yaml: "name: gw\nbackend: aws\ntype: null\n", field: "type", msg: "is required but empty", hint: "type: gateway"},
		{name: "type wrong", yaml: "type: gw\n", field: "type", msg: `must be gateway, got "gw"`},
		{name: "type number", yaml: "type: 1\n", field: "type", msg: "must be a string, got 1", hint: `quotes`},
		{name: "nested mapping key", yaml: "? [a]\n: 1\n", field: "<key>", msg: "keys must be plain names, got a list"},
		{name: "stdin-free name", yaml: "replicas:\n", check: func(t *testing.T, s *models.Spec) { assert.Equal(t, 1, s.Replicas) }},
		{name: "trailing empty document", yaml: "replicas: 2\n---\n", check: func(t *testing.T, s *models.Spec) { assert.Equal(t, 2, s.Replicas) }},
	})
}

func TestSpecName(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "two chars", yaml: "name: ab\n"},
		{name: "41 chars", yaml: "name: a" + strings.Repeat("b", 40) + "\n"},
		{name: "double hyphen allowed", yaml: "name: a--b\n"},
		{name: "one char", yaml: "name: a\n", field: "name", msg: `2 to 41`},
		{name: "42 chars", yaml: "name: a" + strings.Repeat("b", 41) + "\n", field: "name", msg: "got \"abbbb"},
		{name: "trailing hyphen", yaml: "name: ab-\n", field: "name", msg: "not ending with a hyphen", hint: `"ab"`},
		{name: "leading digit", yaml: "name: 1ab\n", field: "name", msg: "starting with a letter"},
		{name: "underscore", yaml: "name: ab_c\n", field: "name", hint: `did you mean "ab-c"?`},
		{name: "uppercase", yaml: "name: Edge\n", field: "name", hint: `"edge"`},
		{name: "null", yaml: "name:\n", field: "name", msg: "is required but empty"},
	})
}

func TestSpecBackendAndRegions(t *testing.T) {
	regions := func(b string) []string {
		if b == "aws" {
			return []string{"us-east-1", "us-east-2", "eu-west-1"}
		}
		return nil
	}
	runRuleCases(t, []ruleCase{
		{name: "gcp", yaml: "backend: gcp\n"},
		{name: "far-off backend", yaml: "backend: azure\n", field: "backend", msg: `unknown backend "azure" (valid: aws, gcp, local)`},
		{name: "typo backend", yaml: "backend: gpc\n", field: "backend", hint: `"gcp"`},
		{name: "custom backends", yaml: "backend: k8s\n", opts: SpecOptions{Backends: []string{"k8s"}}},
		{name: "custom backends drop aws", yaml: "backend: aws\n", opts: SpecOptions{Backends: []string{"k8s"}}, field: "backend", msg: "(valid: k8s)"},
		{name: "region", yaml: "region: eu-west-1\n", check: func(t *testing.T, s *models.Spec) {
			assert.Equal(t, []string{"eu-west-1"}, s.RegionList())
		}},
		{name: "region too short", yaml: "region: x\n", field: "region", msg: "must be a region name"},
		{name: "region uppercase", yaml: "region: EU-WEST-1\n", field: "region", hint: `"eu-west-1"`},
		{name: "region known", yaml: "region: us-east-2\n", opts: SpecOptions{Regions: regions}},
		{name: "region unknown", yaml: "region: us-east-9\n", opts: SpecOptions{Regions: regions},
			field: "region", msg: `unknown region "us-east-9" for backend aws (valid: us-east-1,`, hint: `did you mean "us-east-1"?`},
		{name: "any region on nil list", yaml: "backend: gcp\nregion: mars-north-1\n", opts: SpecOptions{Regions: regions}},
		{name: "no region check for unknown backend", yaml: "backend: awz\nregion: us-east-9\n", opts: SpecOptions{Regions: regions}, field: "backend", hint: `"aws"`},
		{name: "unknown in list", yaml: "regions: [us-east-1, eu-west-2]\n", opts: SpecOptions{Regions: regions}, field: "regions[1]", hint: `"eu-west-1"`},
		{name: "list", yaml: "regions: [eu-west-1, us-east-1]\n", check: func(t *testing.T, s *models.Spec) {
			assert.Empty(t, s.Region)
			assert.Equal(t, []string{"eu-west-1", "us-east-1"}, s.Regions)
		}},
		{name: "both", yaml: "region: a1\nregions: [b1]\n", field: "regions", msg: "not both"},
		{name: "both, one null", yaml: "region: a1\nregions:\n"},
		{name: "empty list", yaml: "regions: []\n", field: "regions", msg: "at least one"},
		{name: "string for list", yaml: "regions: eu-west-1\n", field: "regions", msg: "must be a list", hint: "[eu-west-1]"},
		{name: "repeat", yaml: "regions: [eu-west-1, eu-west-1]\n", field: "regions[1]", msg: "twice (also on line 4)"},
	})
}

func TestSpecDomain(t *testing.T) {
	domain := func(want string) func(*testing.T, *models.Spec) {
		return func(t *testing.T, s *models.Spec) { assert.Equal(t, want, s.Domain) }
	}
	long := strings.Repeat("a", 63)
	runRuleCases(t, []ruleCase{
		{name: "plain", yaml: "domain: example.com\n", check: domain("example.com")},
		{name: "trailing dot dropped", yaml: "domain: example.com.\n", check: domain("example.com")},
		{name: "punycode", yaml: "domain: xn--bcher-kva.example\n", check: domain("xn--bcher-kva.example")},
		{name: "63-char label", yaml: "domain: " + long + ".com\n", check: domain(long + ".com")},
		{name: "64-char label", yaml: "domain: a" + long + ".com\n", field: "domain", msg: "at most 63 characters, got one of 64"},
		{name: "254 chars", yaml: "domain: " + strings.Repeat(long+".", 3) + strings.Repeat("a", 62) + "\n", field: "domain", msg: "at most 253"},
		{name: "one label", yaml: "domain: example\n", field: "domain", msg: "at least two labels"},
		{name: "empty", yaml: "domain: ''\n", field: "domain", msg: "must not be empty", hint: "remove the key"},
		{name: "two trailing dots", yaml: "domain: example.com..\n", field: "domain", msg: "empty label"},
		{name: "leading hyphen", yaml: "domain: -a.com\n", field: "domain", msg: `got "-a"`},
		{name: "trailing hyphen", yaml: "domain: a-.com\n", field: "domain", msg: `got "a-"`},
		{name: "space", yaml: "domain: 'exa mple.com'\n", field: "domain", msg: "labels hold a-z"},
		{name: "shell metacharacters", yaml: "domain: a.com;rm\n", field: "domain", msg: "labels hold a-z"},
		{name: "ip address", yaml: "domain: 10.0.0.1\n", field: "domain", msg: "not an IP address"},
		{name: "wildcard", yaml: "domain: '*.example.com'\n", field: "domain", msg: "without a wildcard", hint: `did you mean "example.com"?`},
		{name: "uppercase", yaml: "domain: Example.com\n", field: "domain", msg: "in lowercase", hint: `"example.com"`},
		{name: "number", yaml: "domain: 12\n", field: "domain", msg: "must be a string"},
	})
}
