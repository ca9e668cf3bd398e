package aws

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/portico-dev/portico/backends"
)

// These re-validate, at the last step before a value lands in a shell
// script or an EC2 tag, what the spec parser validated already: defence in
// depth, since text/template does not escape for shells or nginx.
var (
	tokenRE   = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	installRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	gatewayRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,40}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	// domainRE is a DNS name of letters, digits and hyphens, optionally
	// starting with a "*." wildcard label.
	domainRE = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	pathRE   = regexp.MustCompile(`^/[A-Za-z0-9._~/-]{0,200}$`)
	typeRE   = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
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
	domain := strings.ToLower(req.Domain)
	check(domain == "" || len(domain) <= 253 && domainRE.MatchString(domain), "domain %q is not a DNS name", req.Domain)
	check(req.HealthPath == "" || pathRE.MatchString(req.HealthPath), "health path %q must be / followed by [A-Za-z0-9._~/-]", req.HealthPath)
	check(req.HealthPort >= 0 && req.HealthPort <= 65535, "health port %d is out of range", req.HealthPort)
	if len(problems) > 0 {
		return &backends.Error{Kind: backends.Permanent, Code: "InvalidLaunchRequest",
			Message: "launch request rejected: " + strings.Join(problems, "; ")}
	}
	return nil
}

// userDataTemplate installs nginx, answers the health path with 200 and
// serves the gateway's domain. Every value it receives has passed validate.
var userDataTemplate = template.Must(template.New("user-data").Parse(`#!/bin/bash
# Portico gateway {{.Gateway}}, replica {{.Replica}}: nginx serving {{.ServerNames}}
# and answering {{.HealthPath}} on port {{.HealthPort}} for Portico's health checks.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -y
apt-get install -y nginx
cat > /etc/nginx/sites-available/portico <<'PORTICO_EOF'
server {
    listen 80 default_server;
    listen [::]:80 default_server;
{{- if ne .HealthPort 80}}
    listen {{.HealthPort}} default_server;
    listen [::]:{{.HealthPort}} default_server;
{{- end}}
    server_name {{.ServerNames}};

    location = {{.HealthPath}} {
        default_type application/json;
        return 200 '{"status":"ok","gateway":"{{.Gateway}}","replica":{{.Replica}}}\n';
    }
}
PORTICO_EOF
ln -sf /etc/nginx/sites-available/portico /etc/nginx/sites-enabled/portico
rm -f /etc/nginx/sites-enabled/default
nginx -t
systemctl enable nginx
systemctl restart nginx
`))

// userData renders the cloud-init script for req, base64-encoded as
// RunInstances wants it.
func userData(req backends.LaunchRequest) (string, error) {
	if err := validate(req); err != nil {
		return "", err
	}
	path, port := req.HealthPath, req.HealthPort
	if path == "" {
		path = "/healthz"
	}
	if port == 0 {
		port = 80
	}
	names := "_"
	if d := strings.TrimPrefix(strings.ToLower(req.Domain), "*."); d != "" {
		names = d + " *." + d
	}
	var buf bytes.Buffer
	err := userDataTemplate.Execute(&buf, map[string]any{
		"Gateway": req.Gateway, "Replica": req.ReplicaNum, "ServerNames": names,
		"HealthPath": path, "HealthPort": port,
	})
	if err != nil {
		return "", fmt.Errorf("render user data: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
