package gateways

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portico-dev/portico/models"
)

var healthKeys = []string{"path", "port", "period", "timeout", "replace_after", "failure_threshold", "max_unhealthy"}

const (
	// minProbeInterval keeps a typo like "10ms" from turning the health
	// checker into a load test.
	minProbeInterval = 100 * time.Millisecond
	maxHealthPath    = 256
	maxFailures      = 100
)

// healthPathRE is an absolute URL path: it goes into the probe's request
// line and into cloud-init, so only visible ASCII, no spaces.
var healthPathRE = regexp.MustCompile(`^/[\x21-\x7e]*$`)

// health reads the probe settings. Fields left out stay zero, which
// models.Spec.EffectiveHealth fills from models.DefaultHealth.
func (p *specParser) health(n *yaml.Node) *models.HealthSpec {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, "health", "must be a mapping like {path: /healthz, period: 10s}, got "+describe(n), "")
		return nil
	}
	f := p.fields(n, "health", healthKeys)
	h := &models.HealthSpec{}
	good := true
	if fl, ok := f["path"]; ok && !isNull(fl.val) {
		if v, ok := p.str(fl.val, "health.path"); !ok {
			good = false
		} else if len(v) > maxHealthPath || !healthPathRE.MatchString(v) {
			hint := ""
			if len(v) < maxHealthPath && healthPathRE.MatchString("/"+v) {
				hint = "did you mean " + strconv.Quote("/"+v) + "?"
			}
			p.add(fl.val, "health.path", fmt.Sprintf("must be a URL path starting with / of up to %d printable ASCII characters without spaces, got %s", maxHealthPath, quote(v)), hint)
			good = false
		} else {
			h.Path = v
		}
	}
	if fl, ok := f["port"]; ok && !isNull(fl.val) {
		h.Port, ok = p.intIn(fl.val, "health.port", 1, 65535)
		good = good && ok
	}
	if fl, ok := f["failure_threshold"]; ok && !isNull(fl.val) {
		h.FailureThreshold, ok = p.intIn(fl.val, "health.failure_threshold", 1, maxFailures)
		good = good && ok
	}
	durations := []struct {
		key string
		min time.Duration
		out *models.Duration
	}{
		{"period", minProbeInterval, &h.Period},
		{"timeout", minProbeInterval, &h.Timeout},
		{"replace_after", time.Nanosecond, &h.ReplaceAfter},
	}
	for _, d := range durations {
		if fl, ok := f[d.key]; ok && !isNull(fl.val) {
			v, ok := p.duration(fl.val, "health."+d.key, d.min)
			*d.out = models.Duration(v)
			good = good && ok
		}
	}
	if fl, ok := f["max_unhealthy"]; ok && !isNull(fl.val) {
		h.MaxUnhealthy, ok = p.maxUnhealthy(fl.val)
		good = good && ok
	}
	if good {
		eff := (&models.Spec{Health: h}).EffectiveHealth()
		if eff.Timeout >= eff.Period {
			at, field := f["period"].val, "health.period"
			if h.Timeout != 0 {
				at, field = f["timeout"].val, "health.timeout"
			}
			p.add(at, field, fmt.Sprintf("timeout (%s%s) must be shorter than period (%s%s)",
				eff.Timeout.D(), dflt(h.Timeout == 0), eff.Period.D(), dflt(h.Period == 0)), "")
			good = false
		}
	}
	if !good {
		return nil
	}
	return h
}

func dflt(isDefault bool) string {
	if isDefault {
		return ", the default"
	}
	return ""
}

// duration reads a Go duration ("10s", "1m30s") of at least least.
func (p *specParser) duration(n *yaml.Node, path string, least time.Duration) (time.Duration, bool) {
	msg := "must be a duration like 10s or 1m30s, got " + describe(n)
	d, err := time.ParseDuration(n.Value)
	if !isScalar(n, "!!str") || err != nil {
		hint := ""
		if n.Kind == yaml.ScalarNode && decimal.MatchString(n.Value) {
			hint = "did you mean " + strconv.Quote(n.Value+"s") + "?"
		}
		p.add(n, path, msg, hint)
		return 0, false
	}
	if d < least {
		lo := least.String()
		if least == time.Nanosecond {
			lo = "more than 0s"
		} else {
			lo = "at least " + lo
		}
		p.add(n, path, "must be "+lo+", got "+quote(n.Value), "")
		return 0, false
	}
	return d, true
}

var maxUnhealthyRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})(%?)$`)

// maxUnhealthy reads a replica count ("2", or a bare 2) or a share ("34%"),
// and returns it in canonical form.
func (p *specParser) maxUnhealthy(n *yaml.Node) (string, bool) {
	const msg = "must be a number of replicas (at least 1) or a percentage from 1% to 100%, got "
	var m []string
	if isScalar(n, "!!int") || isScalar(n, "!!str") {
		m = maxUnhealthyRE.FindStringSubmatch(n.Value)
	}
	if m == nil {
		p.add(n, "health.max_unhealthy", msg+describe(n), "")
		return "", false
	}
	v, _ := strconv.Atoi(m[1])
	if v < 1 || m[2] == "%" && v > 100 {
		p.add(n, "health.max_unhealthy", msg+describe(n), "")
		return "", false
	}
	return strconv.Itoa(v) + m[2], true
}
