package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/backends/gcptest"
)

// awsHome is a Portico home pointed at an in-process EC2 fake.
func (h *harness) awsHome(name string, ec2 *awstest.Server, extraConfig string, extraEnv ...string) (*home, error) {
	cfg := "aws: {poll_interval: 1s}\n" + extraConfig
	env := append([]string{"AWS_ENDPOINT_URL_EC2=" + ec2.URL()}, extraEnv...)
	return h.newHome(name, cfg, env...)
}

// gcpHome is a Portico home pointed at an in-process Compute Engine fake.
func (h *harness) gcpHome(name string, gce *gcptest.Server) (*home, error) {
	cfg := fmt.Sprintf("gcp: {project: %s, endpoint: %q, poll_interval: 1s}\n", gce.Project(), gce.URL())
	return h.newHome(name, cfg)
}

// awsCounts counts the EC2 fake's calls by action from log index from on.
func awsCounts(ec2 *awstest.Server, from int) (map[string]int, int) {
	log := ec2.CallLog()
	out := map[string]int{}
	for _, c := range log[min(from, len(log)):] {
		out[c.Action]++
	}
	return out, len(log)
}

// gcpCounts counts the Compute fake's calls by method from log index from on.
func gcpCounts(gce *gcptest.Server, from int) (map[string]int, int) {
	log := gce.CallLog()
	out := map[string]int{}
	for _, c := range log[min(from, len(log)):] {
		out[c.Method]++
	}
	return out, len(log)
}

// rest formats the counts of every action not named, e.g. "DescribeImages 1, ...".
func rest(m map[string]int, except ...string) (string, int) {
	skip := map[string]bool{}
	for _, e := range except {
		skip[e] = true
	}
	var keys []string
	total := 0
	for k, v := range m {
		if !skip[k] && v > 0 {
			keys = append(keys, k)
			total += v
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", "), total
}

// gatewaySpec renders a spec for apply -f -.
func gatewaySpec(name, backend, region string, replicas int, extra string) string {
	s := fmt.Sprintf("type: gateway\nname: %s\nbackend: %s\nreplicas: %d\n", name, backend, replicas)
	if region != "" {
		s += "region: " + region + "\n"
	}
	return s + extra
}
