package aws

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	"github.com/portico-dev/portico/backends"
	"github.com/portico-dev/portico/backends/bootstrap"
)

// These re-validate, at the last step before a value lands in a shell
// script or an EC2 tag, what the spec parser validated already: defence in
// depth, since text/template does not escape for shells or nginx.
var (
	tokenRE   = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	installRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	gatewayRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,40}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	typeRE    = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
)

// validate checks a launch request before any cloud call.
func validate(req backends.LaunchRequest) error {
	var problems []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(tokenRE.MatchString(req.Token), "token %q is not 1-64 characters of [a-z0-9-]", req.Token)
	check(installRE.MatchString(req.Install), "install id %q is not 1-64 characters of [A-Za-z0-9_-]", req.Install)
	check(gatewayRE.MatchString(req.Gateway), "gateway name %q does not match %s", req.Gateway, gatewayRE)
	check(req.ReplicaNum >= 0, "replica number %d is negative", req.ReplicaNum)
	check(req.Region == "" || regionRE.MatchString(req.Region), "region %q is not an AWS region name", req.Region)
	check(req.InstanceType == "" || typeRE.MatchString(req.InstanceType), "instance type %q is not an EC2 instance type", req.InstanceType)
	check(req.HealthPort >= 0 && req.HealthPort <= 65535, "health port %d is out of range", req.HealthPort)
	if _, err := bootstrap.Script(bootstrapValues(req)); err != nil {
		problems = append(problems, err.Error()) // domain, health path: what reaches the script
	}
	if len(problems) > 0 {
		return &backends.Error{Kind: backends.Permanent, Code: "InvalidLaunchRequest",
			Message: "launch request rejected: " + strings.Join(problems, "; ")}
	}
	return nil
}

// userData renders the first-boot script for req, base64-encoded as
// RunInstances wants it.
func userData(req backends.LaunchRequest) (string, error) {
	if err := validate(req); err != nil {
		return "", err
	}
	script, err := bootstrap.Script(bootstrapValues(req))
	if err != nil {
		return "", &backends.Error{Kind: backends.Permanent, Code: "InvalidLaunchRequest", Message: err.Error()}
	}
	return base64.StdEncoding.EncodeToString([]byte(script)), nil
}

func bootstrapValues(req backends.LaunchRequest) bootstrap.Values {
	return bootstrap.Values{Gateway: req.Gateway, Replica: req.ReplicaNum, Domain: req.Domain,
		HealthPath: req.HealthPath, HealthPort: req.HealthPort}
}
