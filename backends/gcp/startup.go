package gcp

import "github.com/portico-dev/portico/backends/bootstrap"

// startupScript is the instance's startup-script metadata: the shared
// first-boot script, which validates every value before rendering it.
func startupScript(gateway string, replica int, domain, healthPath string, healthPort int) (string, error) {
	return bootstrap.Script(bootstrap.Values{Gateway: gateway, Replica: replica, Domain: domain,
		HealthPath: healthPath, HealthPort: healthPort})
}
