package models

// GatewayStatus is where a gateway is in its life. Deletion is a flag on the
// record (Gateway.Deleting) that ends with the record's removal.
type GatewayStatus string

// Gateway statuses.
const (
	GatewaySubmitted    GatewayStatus = "submitted"
	GatewayProvisioning GatewayStatus = "provisioning"
	GatewayRunning      GatewayStatus = "running"
	GatewayFailed       GatewayStatus = "failed"
)

// ReplicaStatus is where one replica attempt is in its life.
//
//	pending → provisioning → running ⇄ unhealthy → terminating → terminated
//	                                                           ↘ failed
type ReplicaStatus string

// Replica statuses.
const (
	ReplicaPending      ReplicaStatus = "pending"
	ReplicaProvisioning ReplicaStatus = "provisioning"
	ReplicaRunning      ReplicaStatus = "running"
	ReplicaUnhealthy    ReplicaStatus = "unhealthy"
	ReplicaTerminating  ReplicaStatus = "terminating"
	ReplicaTerminated   ReplicaStatus = "terminated"
	ReplicaFailed       ReplicaStatus = "failed"
)

// Finished reports whether the replica will never change again.
func (s ReplicaStatus) Finished() bool { return s == ReplicaTerminated || s == ReplicaFailed }

// Serving reports whether the replica has an instance that was running.
func (s ReplicaStatus) Serving() bool { return s == ReplicaRunning || s == ReplicaUnhealthy }

// ActiveReplicaStatuses are the statuses the replica pipeline works on.
var ActiveReplicaStatuses = []ReplicaStatus{
	ReplicaPending, ReplicaProvisioning, ReplicaRunning, ReplicaUnhealthy, ReplicaTerminating,
}
