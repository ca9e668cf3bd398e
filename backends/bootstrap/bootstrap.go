// Package bootstrap renders the script a cloud instance runs at first boot
// (EC2 user data, Compute Engine startup-script): install nginx, serve the
// gateway's domain on port 80, and answer Portico's health probe. Every
// cloud backend uses this one script, so replicas behave alike everywhere.
package bootstrap

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// Values are what the script is made of. Each is checked against a strict
// pattern before rendering, although the spec parser checked it already:
// the script runs as root and text/template escapes nothing for a shell or
// for nginx, so a value that slipped through would be code execution.
type Values struct {
	Gateway    string
	Replica    int
	Domain     string // "" serves any name
	HealthPath string // "" means /healthz
	HealthPort int    // 0 means 80
}

var (
	gatewayRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)
	// domainRE: lowercase DNS labels of 1..63 characters, at least two,
	// and a top-level label that starts with a letter.
	domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	pathRE   = regexp.MustCompile(`^/[A-Za-z0-9._~/-]{0,200}$`)
)

var scriptTemplate = template.Must(template.New("bootstrap").Option("missingkey=error").Parse(`#!/bin/bash
# Portico gateway {{.Gateway}}, replica {{.Replica}}: nginx serving {{.ServerNames}}
# and answering {{.HealthPath}} on port {{.HealthPort}} for Portico's health checks.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v nginx >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q nginx
fi
cat > /etc/nginx/sites-available/portico <<'PORTICO_NGINX_CONF'
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
PORTICO_NGINX_CONF
ln -sf /etc/nginx/sites-available/portico /etc/nginx/sites-enabled/portico
rm -f /etc/nginx/sites-enabled/default
nginx -t
systemctl enable nginx
systemctl restart nginx
`))

// Script validates v and renders the first-boot script.
func Script(v Values) (string, error) {
	if v.HealthPath == "" {
		v.HealthPath = "/healthz"
	}
	if v.HealthPort == 0 {
		v.HealthPort = 80
	}
	var problems []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(gatewayRE.MatchString(v.Gateway), "gateway name %q does not match %s", v.Gateway, gatewayRE)
	check(v.Replica >= 0, "replica number %d is negative", v.Replica)
	check(v.Domain == "" || len(v.Domain) <= 253 && domainRE.MatchString(v.Domain), "domain %q is not a lowercase DNS name", v.Domain)
	check(pathRE.MatchString(v.HealthPath) && !strings.Contains(v.HealthPath, "//"),
		"health path %q must be / followed by letters, digits and . _ ~ / -", v.HealthPath)
	check(v.HealthPort >= 1 && v.HealthPort <= 65535, "health port %d is outside 1..65535", v.HealthPort)
	if len(problems) > 0 {
		return "", fmt.Errorf("bootstrap script: %s", strings.Join(problems, "; "))
	}
	names := "_"
	if v.Domain != "" {
		names = v.Domain + " *." + v.Domain
	}
	var b strings.Builder
	err := scriptTemplate.Execute(&b, map[string]any{
		"Gateway": v.Gateway, "Replica": v.Replica, "ServerNames": names, "HealthPath": v.HealthPath, "HealthPort": v.HealthPort,
	})
	return b.String(), err
}
