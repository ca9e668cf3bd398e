package models

import "time"

// Spec is a parsed gateway.yml. Optional fields are nil or empty when the
// user left them out; Defaults fills in what Portico assumes.
type Spec struct {
	Type         string            `json:"type"`
	Name         string            `json:"name"`
	Backend      string            `json:"backend"`
	Region       string            `json:"region,omitempty"`
	Regions      []string          `json:"regions,omitempty"`
	Domain       string            `json:"domain,omitempty"`
	Certificate  *Certificate      `json:"certificate,omitempty"`
	Replicas     int               `json:"replicas"`
	InstanceType string            `json:"instance_type,omitempty"`
	PublicIP     *bool             `json:"public_ip,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	Health       *HealthSpec       `json:"health,omitempty"`
}

// Certificate says how a gateway gets its TLS certificate.
type Certificate struct {
	Type string `json:"type"`          // lets-encrypt | acm
	ARN  string `json:"arn,omitempty"` // for acm
}

// Certificate types.
const (
	CertLetsEncrypt = "lets-encrypt"
	CertACM         = "acm"
)

// HealthSpec tunes the HTTP probe that decides whether a running replica
// still serves. Zero fields take the defaults of DefaultHealth, which follow
// Kubernetes' liveness probe.
type HealthSpec struct {
	Path             string   `json:"path,omitempty"`
	Port             int      `json:"port,omitempty"`
	Period           Duration `json:"period,omitempty"`
	Timeout          Duration `json:"timeout,omitempty"`
	FailureThreshold int      `json:"failure_threshold,omitempty"`
	// ReplaceAfter is how long a replica may stay unhealthy before a
	// replacement is launched for it.
	ReplaceAfter Duration `json:"replace_after,omitempty"`
	// MaxUnhealthy caps how many replicas of one gateway are replaced at once:
	// an absolute count ("2") or a share ("34%").
	MaxUnhealthy string `json:"max_unhealthy,omitempty"`
}

// DefaultHealth is the probe used when a spec says nothing.
var DefaultHealth = HealthSpec{
	Path:             "/healthz",
	Port:             80,
	Period:           Duration(10 * time.Second),
	Timeout:          Duration(time.Second),
	FailureThreshold: 3,
	ReplaceAfter:     Duration(30 * time.Second),
	MaxUnhealthy:     "34%",
}

// EffectiveHealth merges the spec's health settings over DefaultHealth.
func (s *Spec) EffectiveHealth() HealthSpec {
	h := DefaultHealth
	if s.Health == nil {
		return h
	}
	o := *s.Health
	if o.Path != "" {
		h.Path = o.Path
	}
	if o.Port != 0 {
		h.Port = o.Port
	}
	if o.Period != 0 {
		h.Period = o.Period
	}
	if o.Timeout != 0 {
		h.Timeout = o.Timeout
	}
	if o.FailureThreshold != 0 {
		h.FailureThreshold = o.FailureThreshold
	}
	if o.ReplaceAfter != 0 {
		h.ReplaceAfter = o.ReplaceAfter
	}
	if o.MaxUnhealthy != "" {
		h.MaxUnhealthy = o.MaxUnhealthy
	}
	return h
}

// RegionList returns the regions replicas are spread over, in spec order.
func (s *Spec) RegionList() []string {
	if len(s.Regions) > 0 {
		return s.Regions
	}
	if s.Region != "" {
		return []string{s.Region}
	}
	return nil
}

// WantsPublicIP reports whether replicas get a public address (the default).
func (s *Spec) WantsPublicIP() bool { return s.PublicIP == nil || *s.PublicIP }

// Duration is a time.Duration that reads and writes as "10s" in YAML and JSON.
type Duration time.Duration

// D returns the standard library value.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes the duration as Go formats it ("1m30s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
