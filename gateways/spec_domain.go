package gateways

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portico-dev/portico/models"
)

// domain reads the domain the gateway serves (as *.domain). The value is
// written into cloud-init scripts and file paths, so it is held to plain
// lowercase DNS syntax. One trailing dot (the fully qualified form,
// "example.com.") is accepted and dropped, since it names the same domain
// and would only get in the way of paths and certificate names.
func (p *specParser) domain(n *yaml.Node) (string, bool) {
	if isNull(n) {
		return "", true
	}
	v, ok := p.str(n, "domain")
	if !ok {
		return "", false
	}
	if msg, hint := domainProblem(v); msg != "" {
		p.add(n, "domain", msg, hint)
		return "", false
	}
	return strings.TrimSuffix(v, "."), true
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// domainProblem explains the first thing wrong with domain d, with a hint
// when the fix is obvious; it returns "" for a good domain.
func domainProblem(d string) (msg, hint string) {
	const rule = "must be a DNS name like example.com"
	switch {
	case d == "":
		return "must not be empty", "remove the key to run without a domain"
	case strings.HasPrefix(d, "*."):
		hint = `drop "*."; the gateway serves every subdomain of its domain by itself`
		if m, _ := domainProblem(d[2:]); m == "" {
			hint = fmt.Sprintf("did you mean %q? The gateway serves *.%s by itself", d[2:], d[2:])
		}
		return rule + " without a wildcard, got " + quote(d), hint
	}
	name := strings.TrimSuffix(d, ".")
	if l := strings.ToLower(name); l != name {
		if m, _ := domainProblem(l); m == "" {
			hint = "did you mean " + strconv.Quote(l) + "?"
		}
		return rule + " in lowercase, got " + quote(d), hint
	}
	if len(name) > 253 {
		return fmt.Sprintf("%s, at most 253 characters long; got %d", rule, len(name)), ""
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return rule + ", with at least two labels, got " + quote(d), ""
	}
	for _, l := range labels {
		switch {
		case l == "":
			return rule + ", got " + quote(d) + " with an empty label", "look for two dots in a row or a leading dot"
		case len(l) > 63:
			return fmt.Sprintf("%s; each label is at most 63 characters, got one of %d", rule, len(l)), ""
		case !labelRE.MatchString(l):
			return rule + "; labels hold a-z, 0-9 and '-', not at either end; got " + quote(l), ""
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return rule + ", not an IP address, got " + quote(d), ""
	}
	return "", ""
}

// acmARN is the shape of an ACM certificate ARN in any AWS partition.
var acmARN = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$`)

var certTypes = []string{models.CertLetsEncrypt, models.CertACM}

// certContext is what the certificate rules need to know about the rest of
// the spec, and whether those fields were valid (no cascade on bad input).
type certContext struct {
	spec                            *models.Spec
	backendOK, domainOK, replicasOK bool
}

// certificate reads the TLS certificate settings: null (plain HTTP or TLS
// handled elsewhere), lets-encrypt (one replica), or acm (aws, with an ARN).
func (p *specParser) certificate(n *yaml.Node, c certContext) *models.Certificate {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		hint := ""
		if isScalar(n, "!!str") && contains(certTypes, n.Value) {
			hint = "write certificate: {type: " + n.Value + "}"
		}
		p.add(n, "certificate", "must be null, {type: lets-encrypt} or {type: acm, arn: ...}, got "+describe(n), hint)
		return nil
	}
	f := p.fields(n, "certificate", []string{"type", "arn"})
	tf, ok := f["type"]
	if !ok || isNull(tf.val) {
		at := n
		if ok {
			at = tf.val
		}
		p.missing(at, "certificate.type", "is required: lets-encrypt or acm", "")
		return nil
	}
	typ, ok := p.str(tf.val, "certificate.type")
	if !ok {
		return nil
	}
	cert := &models.Certificate{Type: typ}
	good := true
	bad := func(at *yaml.Node, field, msg, hint string) {
		p.add(at, field, msg, hint)
		good = false
	}
	af, hasARN := f["arn"]
	switch typ {
	case models.CertLetsEncrypt:
		if hasARN {
			bad(af.key, "certificate.arn", "is only used with type: acm", "remove it for lets-encrypt")
		}
		if c.replicasOK && c.spec.Replicas != 1 {
			bad(tf.val, "certificate.type", fmt.Sprintf("lets-encrypt needs replicas: 1, but replicas is %d", c.spec.Replicas),
				"each replica would request its own certificate for the same domain, and only one would be served or renewed; "+
					"use replicas: 1, or, on aws, type: acm with one certificate for all replicas")
		}
	case models.CertACM:
		if !hasARN || isNull(af.val) {
			p.missing(tf.val, "certificate.arn", "is required for type: acm", "add arn: arn:aws:acm:REGION:ACCOUNT:certificate/ID")
			good = false
		} else if arn, ok := p.str(af.val, "certificate.arn"); !ok {
			good = false
		} else if !acmARN.MatchString(arn) {
			bad(af.val, "certificate.arn", "must be an ACM certificate ARN like arn:aws:acm:us-east-1:123456789012:certificate/ID, got "+quote(arn), "")
		} else {
			cert.ARN = arn
		}
		if c.backendOK && c.spec.Backend != "aws" {
			bad(tf.val, "certificate.type", "acm certificates only work with backend: aws, not "+c.spec.Backend,
				"use lets-encrypt with replicas: 1, or no certificate")
		}
	default:
		bad(tf.val, "certificate.type", "must be lets-encrypt or acm, got "+quote(typ), suggest(typ, certTypes))
		return nil
	}
	if c.domainOK && c.spec.Domain == "" {
		bad(tf.val, "certificate.type", "a certificate needs a domain to be issued for", "add domain: example.com")
	}
	if !good {
		return nil
	}
	return cert
}
