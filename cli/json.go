package cli

import (
	"time"

	"github.com/portico-dev/portico/models"
)

// gatewayJSON is the stable --json shape of a gateway, documented in the
// README. Fields are only ever added.
type gatewayJSON struct {
	Name            string        `json:"name"`
	Backend         string        `json:"backend"`
	Regions         []string      `json:"regions"`
	Domain          string        `json:"domain"`
	Status          string        `json:"status"`
	StatusMessage   string        `json:"status_message"`
	Deleting        bool          `json:"deleting"`
	DesiredReplicas int           `json:"desired_replicas"`
	Revision        int64         `json:"revision"`
	CreatedAt       time.Time     `json:"created_at"`
	UpdatedAt       time.Time     `json:"updated_at"`
	Replicas        []replicaJSON `json:"replicas"`
}

// replicaJSON is the stable --json shape of one replica attempt.
type replicaJSON struct {
	ReplicaNum    int        `json:"replica_num"`
	Attempt       int        `json:"attempt"`
	Hostname      string     `json:"hostname"`
	Backend       string     `json:"backend"`
	Region        string     `json:"region"`
	Zone          string     `json:"zone"`
	Status        string     `json:"status"`
	StatusMessage string     `json:"status_message"`
	InstanceID    string     `json:"instance_id"`
	CreatedAt     time.Time  `json:"created_at"`
	RunningAt     *time.Time `json:"running_at"`
	FinishedAt    *time.Time `json:"finished_at"`
}

func toJSON(g *models.Gateway, all bool, now time.Time) gatewayJSON {
	out := gatewayJSON{
		Name: g.Name, Backend: g.Spec.Backend, Regions: g.Spec.RegionList(), Domain: g.Spec.Domain,
		Status: string(g.Status), StatusMessage: g.StatusMessage, Deleting: g.Deleting,
		DesiredReplicas: g.Spec.Replicas, Revision: g.Revision, CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt,
		Replicas: []replicaJSON{},
	}
	for _, r := range visibleReplicas(g, all, now) {
		out.Replicas = append(out.Replicas, replicaJSON{
			ReplicaNum: r.Num, Attempt: r.Attempt, Hostname: r.Hostname, Backend: r.Backend, Region: r.Region,
			Zone: r.Zone, Status: string(r.Status), StatusMessage: r.StatusMessage, InstanceID: r.InstanceID,
			CreatedAt: r.CreatedAt, RunningAt: r.RunningAt, FinishedAt: r.FinishedAt,
		})
	}
	return out
}
