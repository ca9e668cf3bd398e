package gcp

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// startupTemplate is the instance's startup-script: it installs nginx and
// serves the health endpoint Portico probes, under the gateway's domain.
// text/template does no escaping for shell or nginx, so every value put in
// it is checked against a strict pattern first (startupScript); nothing
// else reaches the template.
var startupTemplate = template.Must(template.New("startup-script").Option("missingkey=error").Parse(`#!/bin/bash
# Written by Portico for gateway {{.Gateway}}, replica {{.Replica}}.
# Installs nginx and serves the health endpoint Portico probes.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v nginx >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q nginx
fi
cat > /etc/nginx/sites-available/portico <<'PORTICO_NGINX_CONF'
server {
    listen {{.HealthPort}} default_server;
    listen [::]:{{.HealthPort}} default_server;
    server_name {{.ServerNames}};

    location = {{.HealthPath}} {
        default_type application/json;
        return 200 '{"status":"ok","gateway":"{{.Gateway}}","replica":{{.Replica}}}\n';
    }
}
PORTICO_NGINX_CONF
ln -sf /etc/nginx/sites-available/portico /etc/nginx/sites-enabled/portico
rm -f /etc/nginx/sites-enabled/default
nginx -t
systemctl enable nginx
systemctl restart nginx
`))

var (
	// domainRE: lowercase DNS labels of 1..63 characters, at least two,
	// and a top-level label that starts with a letter.
	domainRE     = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	healthPathRE = regexp.MustCompile(`^/[A-Za-z0-9._~/-]{0,200}$`)
	gatewayRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

type startupValues struct {
	Gateway     string
	Replica     int
	HealthPort  int
	HealthPath  string
	ServerNames string
}

// startupScript renders the startup-script after re-validating every
// value, even those the spec validation already checked: the script runs
// as root, so a value that slipped through would be code execution.
func startupScript(gateway string, replica int, domain, healthPath string, healthPort int) (string, error) {
	if !gatewayRE.MatchString(gateway) {
		return "", fmt.Errorf("gateway name %q is not of the form %s", gateway, gatewayRE)
	}
	if replica < 0 {
		return "", fmt.Errorf("replica number %d is negative", replica)
	}
	if healthPort < 1 || healthPort > 65535 {
		return "", fmt.Errorf("health port %d is outside 1..65535", healthPort)
	}
	if !healthPathRE.MatchString(healthPath) || strings.Contains(healthPath, "//") {
		return "", fmt.Errorf("health path %q must start with / and use only letters, digits and . _ ~ / -", healthPath)
	}
	names := "_"
	if domain != "" {
		if len(domain) > 253 || !domainRE.MatchString(domain) {
			return "", fmt.Errorf("domain %q is not a lowercase DNS name", domain)
		}
		names = domain + " *." + domain
	}
	var b strings.Builder
	err := startupTemplate.Execute(&b, startupValues{
		Gateway: gateway, Replica: replica, HealthPort: healthPort, HealthPath: healthPath, ServerNames: names,
	})
	return b.String(), err
}
