package gateways

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/portico-dev/portico/models"
)

func TestSpecCertificate(t *testing.T) {
	const dom = "domain: example.com\n"
	const arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc-123"
	runRuleCases(t, []ruleCase{
		{name: "null", yaml: "certificate: null\n", check: func(t *testing.T, s *models.Spec) { assert.Nil(t, s.Certificate) }},
		{name: "lets-encrypt", yaml: dom + "certificate: {type: lets-encrypt}\nreplicas: 1\n", check: func(t *testing.T, s *models.Spec) {
			assert.Equal(t, &models.Certificate{Type: "lets-encrypt"}, s.Certificate)
		}},
		{name: "lets-encrypt, 2 replicas", yaml: dom + "certificate: {type: lets-encrypt}\nreplicas: 2\n",
			field: "certificate.type", msg: "needs replicas: 1, but replicas is 2", hint: "own certificate"},
		{name: "lets-encrypt, no domain", yaml: "certificate: {type: lets-encrypt}\n", field: "certificate.type", msg: "needs a domain", hint: "add domain"},
		{name: "lets-encrypt, bad domain reported once", yaml: "domain: x\ncertificate: {type: lets-encrypt}\n", field: "domain"},
		{name: "lets-encrypt, bad replicas reported once", yaml: dom + "certificate: {type: lets-encrypt}\nreplicas: 0\n", field: "replicas"},
		{name: "lets-encrypt with arn", yaml: dom + "certificate: {type: lets-encrypt, arn: " + arn + "}\n", field: "certificate.arn", msg: "only used with type: acm"},
		{name: "acm", yaml: dom + "certificate: {type: acm, arn: " + arn + "}\nreplicas: 5\n", check: func(t *testing.T, s *models.Spec) {
			assert.Equal(t, &models.Certificate{Type: "acm", ARN: arn}, s.Certificate)
		}},
		{name: "acm china partition", yaml: dom + "certificate: {type: acm, arn: 'arn:aws-cn:acm:cn-north-1:123456789012:certificate/x'}\n"},
		{name: "acm on gcp", yaml: dom + "backend: gcp\ncertificate: {type: acm, arn: " + arn + "}\n", field: "certificate.type", msg: "only work with backend: aws, not gcp"},
		{name: "acm short account", yaml: dom + "certificate: {type: acm, arn: 'arn:aws:acm:us-east-1:123:certificate/x'}\n", field: "certificate.arn", msg: "must be an ACM certificate ARN"},
		{name: "acm other service", yaml: dom + "certificate: {type: acm, arn: 'arn:aws:iam::123456789012:server-certificate/x'}\n", field: "certificate.arn"},
		{name: "acm without arn", yaml: dom + "certificate: {type: acm}\n", field: "certificate.arn", msg: "is required for type: acm"},
		{name: "no type", yaml: dom + "certificate: {}\n", field: "certificate.type", msg: "is required"},
		{name: "unknown type", yaml: dom + "certificate: {type: self-signed}\n", field: "certificate.type", msg: `got "self-signed"`},
		{name: "scalar", yaml: dom + "certificate: acm\n", field: "certificate", msg: "must be null,", hint: "{type: acm}"},
		{name: "typo in key", yaml: dom + "certificate: {tpye: acm}\n", field: "certificate.tpye", hint: `"type"`},
	})
}

func TestSpecReplicas(t *testing.T) {
	replicas := func(want int) func(*testing.T, *models.Spec) {
		return func(t *testing.T, s *models.Spec) { assert.Equal(t, want, s.Replicas) }
	}
	runRuleCases(t, []ruleCase{
		{name: "missing", yaml: "", check: replicas(1)},
		{name: "null", yaml: "replicas: ~\n", check: replicas(1)},
		{name: "one", yaml: "replicas: 1\n", check: replicas(1)},
		{name: "default max", yaml: "replicas: 100\n", check: replicas(100)},
		{name: "above default max", yaml: "replicas: 101\n", field: "replicas",
			msg: "101 is more than the maximum of 100 replicas", hint: "set max_replicas in the config file"},
		{name: "raised max", yaml: "replicas: 500\n", opts: SpecOptions{MaxReplicas: 500}, check: replicas(500)},
		{name: "above raised max", yaml: "replicas: 501\n", opts: SpecOptions{MaxReplicas: 500}, field: "replicas", msg: "maximum of 500"},
		{name: "negative max means default", yaml: "replicas: 0\n", opts: SpecOptions{MaxReplicas: -3}, field: "replicas", msg: "from 1 to 100, got 0"},
		{name: "minus one", yaml: "replicas: -1\n", field: "replicas", msg: "must be a whole number from 1 to 100, got -1"},
		{name: "word", yaml: "replicas: two\n", field: "replicas", msg: `got "two"`},
		{name: "quoted", yaml: "replicas: '2'\n", field: "replicas", msg: `got "2"`, hint: "without quotes"},
		{name: "fraction", yaml: "replicas: 2.5\n", field: "replicas", msg: "got 2.5"},
		{name: "float whole", yaml: "replicas: 2.0\n", field: "replicas", msg: "got 2.0"},
		{name: "exponent", yaml: "replicas: 1e3\n", field: "replicas", msg: "got 1e3"},
		{name: "bool", yaml: "replicas: true\n", field: "replicas", msg: "got true"},
		{name: "hex", yaml: "replicas: 0x10\n", field: "replicas", hint: "plain decimal"},
		{name: "huge", yaml: "replicas: 99999999999999999999999\n", field: "replicas", msg: "whole number"},
		{name: "int64 overflow", yaml: "replicas: 9223372036854775808\n", field: "replicas", msg: "whole number"},
		{name: "list", yaml: "replicas: [1]\n", field: "replicas", msg: "got a list"},
	})
}

func TestSpecInstanceTypeAndPublicIP(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "aws type", yaml: "instance_type: t3.micro\n"},
		{name: "gcp type", yaml: "instance_type: n2-standard-4\n"},
		{name: "63 chars", yaml: "instance_type: " + strings.Repeat("a", 63) + "\n"},
		{name: "64 chars", yaml: "instance_type: " + strings.Repeat("a", 64) + "\n", field: "instance_type", msg: "1 to 63"},
		{name: "leading dot", yaml: "instance_type: .micro\n", field: "instance_type", msg: "starting with a letter or digit"},
		{name: "uppercase", yaml: "instance_type: T3.MICRO\n", field: "instance_type", hint: `"t3.micro"`},
		{name: "public_ip false", yaml: "public_ip: false\n", check: func(t *testing.T, s *models.Spec) { assert.False(t, s.WantsPublicIP()) }},
		{name: "public_ip missing", yaml: "", check: func(t *testing.T, s *models.Spec) { assert.Nil(t, s.PublicIP) }},
		{name: "public_ip yes", yaml: "public_ip: yes\n", field: "public_ip", msg: `must be true or false, got "yes"`, hint: noHint},
		{name: "public_ip quoted", yaml: "public_ip: 'true'\n", field: "public_ip", msg: `got "true"`},
		{name: "public_ip number", yaml: "public_ip: 1\n", field: "public_ip", msg: "got 1"},
	})
}

func TestSpecTags(t *testing.T) {
	tagLines := func(n int) string {
		var b strings.Builder
		b.WriteString("tags:\n")
		for i := range n {
			fmt.Fprintf(&b, "  k%d: v\n", i)
		}
		return b.String()
	}
	runRuleCases(t, []ruleCase{
		{name: "50 tags", yaml: tagLines(50), check: func(t *testing.T, s *models.Spec) { assert.Len(t, s.Tags, 50) }},
		{name: "51 tags", yaml: tagLines(51), field: "tags", msg: "has 51 tags; at most 50"},
		{name: "empty mapping is nil", yaml: "tags: {}\n", check: func(t *testing.T, s *models.Spec) { assert.Nil(t, s.Tags) }},
		{name: "empty value", yaml: "tags: {a: ''}\n", check: func(t *testing.T, s *models.Spec) { assert.Equal(t, map[string]string{"a": ""}, s.Tags) }},
		{name: "unicode value", yaml: "tags: {owner: 'Zoë ☕'}\n"},
		{name: "60-char key", yaml: "tags: {" + strings.Repeat("k", 60) + ": v}\n"},
		{name: "61-char key", yaml: "tags: {" + strings.Repeat("k", 61) + ": v}\n", field: `tags."` + strings.Repeat("k", 57) + `..."`, msg: "1 to 60"},
		{name: "dotted key", yaml: "tags: {a.b: v}\n", field: `tags."a.b"`, msg: "tag names must be"},
		{name: "reserved", yaml: "tags: {portico-token: x}\n", field: "tags.portico-token", msg: "reserved"},
		{name: "reserved any case", yaml: "tags: {Portico-Team: x}\n", field: "tags.Portico-Team", msg: "reserved"},
		{name: "256-char value", yaml: "tags: {a: " + strings.Repeat("v", 256) + "}\n"},
		{name: "257-char value", yaml: "tags: {a: " + strings.Repeat("v", 257) + "}\n", field: "tags.a", msg: "at most 256"},
		{name: "tab in value", yaml: "tags: {a: \"x\\ty\"}\n", field: "tags.a", msg: "printable"},
		{name: "control character in value", yaml: "tags: {a: \"\\x01\"}\n", field: "tags.a", msg: "printable"},
		{name: "number value", yaml: "tags: {a: 2}\n", field: "tags.a", hint: `"2"`},
		{name: "null value", yaml: "tags: {a: }\n", field: "tags.a", msg: "got nothing (null)", hint: `""`},
		{name: "repeat", yaml: "tags: {a: x, a: y}\n", field: "tags.a", msg: "duplicate key"},
		{name: "list", yaml: "tags: [a]\n", field: "tags", msg: "must be a mapping"},
	})
}

func TestSpecHealth(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "empty mapping", yaml: "health: {}\n", check: func(t *testing.T, s *models.Spec) {
			assert.Equal(t, &models.HealthSpec{}, s.Health)
			assert.Equal(t, models.DefaultHealth, s.EffectiveHealth())
		}},
		{name: "all fields", yaml: "health: {path: /ready, port: 65535, period: 100ms, timeout: 99ms, replace_after: 1h, failure_threshold: 100, max_unhealthy: 100%}\n",
			field: "health.timeout", msg: "at least 100ms"},
		{name: "minimums", yaml: "health: {period: 200ms, timeout: 100ms, replace_after: 1ns, failure_threshold: 1, max_unhealthy: 1, port: 1}\n",
			check: func(t *testing.T, s *models.Spec) {
				assert.Equal(t, models.Duration(200*time.Millisecond), s.Health.Period)
				assert.Equal(t, "1", s.Health.MaxUnhealthy)
			}},
		{name: "timeout equals period", yaml: "health: {period: 2s, timeout: 2s}\n", field: "health.timeout", msg: "timeout (2s) must be shorter than period (2s)"},
		{name: "period below default timeout", yaml: "health: {period: 500ms}\n", field: "health.period", msg: "timeout (1s, the default) must be shorter than period (500ms)"},
		{name: "path without slash", yaml: "health: {path: ready}\n", field: "health.path", hint: `"/ready"`},
		{name: "path with space", yaml: "health: {path: '/a b'}\n", field: "health.path", msg: "without spaces"},
		{name: "path too long", yaml: "health: {path: /" + strings.Repeat("a", 256) + "}\n", field: "health.path", msg: "up to 256"},
		{name: "port zero", yaml: "health: {port: 0}\n", field: "health.port", msg: "from 1 to 65535, got 0"},
		{name: "port string", yaml: "health: {port: '80'}\n", field: "health.port", hint: "without quotes"},
		{name: "threshold 101", yaml: "health: {failure_threshold: 101}\n", field: "health.failure_threshold", msg: "from 1 to 100"},
		{name: "bare seconds", yaml: "health: {period: 10}\n", field: "health.period", hint: `did you mean "10s"?`},
		{name: "quoted bare seconds", yaml: "health: {period: '10'}\n", field: "health.period", hint: `"10s"`},
		{name: "zero replace_after", yaml: "health: {replace_after: 0s}\n", field: "health.replace_after", msg: "more than 0s"},
		{name: "negative period", yaml: "health: {period: -5s}\n", field: "health.period", msg: "at least 100ms"},
		{name: "max_unhealthy 0", yaml: "health: {max_unhealthy: 0}\n", field: "health.max_unhealthy", msg: "at least 1"},
		{name: "max_unhealthy 0%", yaml: "health: {max_unhealthy: 0%}\n", field: "health.max_unhealthy", msg: `got "0%"`},
		{name: "max_unhealthy 101%", yaml: "health: {max_unhealthy: 101%}\n", field: "health.max_unhealthy"},
		{name: "max_unhealthy fraction", yaml: "health: {max_unhealthy: 1.5%}\n", field: "health.max_unhealthy"},
		{name: "max_unhealthy leading zero", yaml: "health: {max_unhealthy: '07'}\n", field: "health.max_unhealthy"},
		{name: "max_unhealthy quoted count", yaml: "health: {max_unhealthy: '3'}\n", check: func(t *testing.T, s *models.Spec) {
			assert.Equal(t, "3", s.Health.MaxUnhealthy)
		}},
		{name: "typo", yaml: "health: {treshold: 3}\n", field: "health.treshold", msg: "unknown key", hint: noHint},
		{name: "typo close", yaml: "health: {failure_treshold: 3}\n", field: "health.failure_treshold", hint: `"failure_threshold"`},
	})
}
