package gateways

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portico-dev/portico/models"
)

// DefaultMaxReplicas caps replicas when the config file sets no max_replicas,
// so a typo like `replicas: 1000` cannot launch a fleet by accident.
const DefaultMaxReplicas = 100

// maxSpecBytes bounds the input: a gateway spec is a few hundred bytes, and a
// huge file is a mistake (the wrong file) that the YAML parser should not chew on.
const maxSpecBytes = 1 << 20

// defaultBackends are the backends Portico ships with, used when
// SpecOptions.Backends is nil.
var defaultBackends = []string{"aws", "gcp", "local"}

// SpecOptions are the facts validation needs beyond the file itself. They come
// from the config file and the backend registry, so the gateways package can
// reject a bad spec before any backend is built or any cloud call is made.
type SpecOptions struct {
	// MaxReplicas is the upper bound for replicas; 0 (or less) means
	// DefaultMaxReplicas.
	MaxReplicas int
	// Backends are the known backend names, e.g. ["aws", "gcp", "local"]; nil
	// means those three. An empty non-nil slice knows no backend at all.
	Backends []string
	// Regions, when non-nil, returns the regions a backend accepts (a nil
	// slice means any well-formed name), so `region: us-east-9` is rejected
	// before any create, with a did-you-mean suggestion.
	Regions func(backend string) []string
}

func (o SpecOptions) maxReplicas() int {
	if o.MaxReplicas <= 0 {
		return DefaultMaxReplicas
	}
	return o.MaxReplicas
}

func (o SpecOptions) backends() []string {
	if o.Backends == nil {
		return defaultBackends
	}
	return o.Backends
}

// Problem is one thing wrong with a spec, located in the file, so the user
// can jump straight to it from the terminal.
type Problem struct {
	File string
	// Line is 1-based; 0 when unknown (some YAML syntax errors).
	Line int
	// Col is 1-based; 0 when unknown.
	Col int
	// Field is the dotted path of the offending key, e.g. "replicas",
	// "tags.team", "certificate.type", "health.period", "regions[1]"; empty
	// for problems with the file as a whole (syntax, empty, several documents).
	Field string
	// Message says what is wrong and what is allowed.
	Message string
	// Hint is an optional suggestion, e.g. `did you mean "replicas"?`.
	Hint string
}

// String formats the problem the way compilers do
// ("gateway.yml:7:11: replicas: must be ... (did you mean ...?)"), which
// editors and terminals turn into links.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
		if p.Col > 0 {
			b.WriteString(":" + strconv.Itoa(p.Col))
		}
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString(" (" + p.Hint + ")")
	}
	return b.String()
}

// SpecError is returned for an invalid spec. It lists every problem, in file
// order, so the user fixes the file in one pass instead of one error per run.
// The CLI recognises it with errors.As to pick the exit code for bad input.
type SpecError struct{ Problems []Problem }

// Error puts one problem per line.
func (e *SpecError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// ParseSpec decodes and validates one gateway spec. file is the name used in
// messages ("-" is shown as "<stdin>"). On any problem it returns a *SpecError
// listing every problem and no spec, so invalid input never reaches a backend.
//
// The returned spec is normalised: replicas defaults to 1, a trailing dot on
// the domain is dropped, max_unhealthy is written canonically, and empty
// tags are nil. Other defaults (region, instance type, health) are left to
// the backend and models.Spec.EffectiveHealth.
func ParseSpec(file string, data []byte, opts SpecOptions) (*models.Spec, error) {
	switch file {
	case "-":
		file = "<stdin>"
	case "":
		file = "<input>"
	}
	p := &specParser{file: file, opts: opts}
	root := p.document(data)
	if root == nil {
		return nil, p.err()
	}
	spec := p.spec(root)
	if len(p.problems) > 0 {
		return nil, p.err()
	}
	return spec, nil
}

// specParser collects problems while it walks the YAML tree.
type specParser struct {
	file     string
	opts     SpecOptions
	problems []Problem
	// typos holds the paths that unknown keys were suggested for.
	typos map[string]bool
}

// add records a problem at node n (nil means position unknown).
func (p *specParser) add(n *yaml.Node, field, msg, hint string) {
	pr := Problem{File: p.file, Field: field, Message: msg, Hint: hint}
	if n != nil {
		pr.Line, pr.Col = n.Line, n.Column
	}
	p.problems = append(p.problems, pr)
}

func (p *specParser) err() error {
	sort.SliceStable(p.problems, func(i, j int) bool {
		a, b := p.problems[i], p.problems[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return &SpecError{Problems: p.problems}
}

// document parses data and returns the root node of its only document, or
// nil after recording why there is none.
func (p *specParser) document(data []byte) *yaml.Node {
	if len(data) > maxSpecBytes {
		p.problems = append(p.problems, Problem{File: p.file, Line: 1, Col: 1,
			Message: fmt.Sprintf("file is %d bytes, more than the %d a gateway spec may have", len(data), maxSpecBytes),
			Hint:    "is this the right file?"})
		return nil
	}
	docs, err := decodeDocuments(data)
	if err != nil {
		p.problems = append(p.problems, syntaxProblem(p.file, data, err))
		return nil
	}
	var found []*yaml.Node
	for _, d := range docs {
		if len(d.Content) == 0 || isNull(resolve(d.Content[0])) {
			continue // an empty document (a lone "---") holds no gateway
		}
		found = append(found, d)
	}
	switch {
	case len(found) == 0:
		p.problems = append(p.problems, Problem{File: p.file, Line: 1, Col: 1,
			Message: "file is empty; it must describe one gateway",
			Hint:    "start with type: gateway, name, and backend"})
		return nil
	case len(found) > 1:
		second := found[1] // the document node sits on its "---" line
		p.problems = append(p.problems, Problem{File: p.file, Line: second.Line, Col: second.Column,
			Message: fmt.Sprintf("file holds %d YAML documents; a spec describes exactly one gateway", len(found)),
			Hint:    "put each gateway in its own file"})
		return nil
	}
	root := resolve(found[0].Content[0])
	if root.Kind != yaml.MappingNode {
		p.add(root, "", "a gateway spec must be a mapping of keys (type, name, backend, ...), got "+describe(root), "")
		return nil
	}
	return root
}

// topKeys are the keys allowed at the top of a spec, in documentation order.
var topKeys = []string{"type", "name", "backend", "region", "regions", "domain",
	"certificate", "replicas", "instance_type", "public_ip", "tags", "health"}

// spec validates every top-level field and then the rules that tie fields
// together. Each check only runs on fields that were themselves valid, so one
// mistake yields one problem, not a cascade.
func (p *specParser) spec(root *yaml.Node) *models.Spec {
	f := p.fields(root, "", topKeys)
	s := &models.Spec{Replicas: 1}

	if v, ok := p.requiredString(root, f, "type", "write type: gateway"); ok && v != "gateway" {
		p.add(f["type"].val, "type", fmt.Sprintf("must be gateway, got %s", quote(v)), suggest(v, []string{"gateway"}))
	} else if ok {
		s.Type = v
	}
	if v, ok := p.requiredString(root, f, "name", "name the gateway, e.g. name: example-gateway"); ok {
		s.Name, _ = p.name(f["name"].val, v)
	}
	backendOK := false
	if v, ok := p.requiredString(root, f, "backend", "one of "+strings.Join(p.opts.backends(), ", ")); ok {
		s.Backend, backendOK = p.backend(f["backend"].val, v)
	}
	regionBackend := ""
	if backendOK {
		regionBackend = s.Backend
	}
	s.Region, s.Regions = p.regions(f, regionBackend)
	domainOK := true
	if fl, ok := f["domain"]; ok {
		s.Domain, domainOK = p.domain(fl.val)
	}
	replicasOK := true
	if fl, ok := f["replicas"]; ok {
		s.Replicas, replicasOK = p.replicas(fl.val)
	}
	if fl, ok := f["instance_type"]; ok {
		s.InstanceType = p.instanceType(fl.val)
	}
	if fl, ok := f["public_ip"]; ok {
		s.PublicIP = p.publicIP(fl.val)
	}
	if fl, ok := f["tags"]; ok {
		s.Tags = p.tags(fl.val)
	}
	if fl, ok := f["health"]; ok {
		s.Health = p.health(fl.val)
	}
	if fl, ok := f["certificate"]; ok {
		s.Certificate = p.certificate(fl.val, certContext{
			spec: s, backendOK: backendOK, domainOK: domainOK, replicasOK: replicasOK,
		})
	}
	return s
}
