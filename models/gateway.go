package models

import "time"

// Gateway is the stored record of one gateway: its spec (the desired state)
// and what the pipelines last concluded about it.
type Gateway struct {
	ID            int64         `json:"id"`
	Name          string        `json:"name"`
	Spec          Spec          `json:"spec"`
	Status        GatewayStatus `json:"status"`
	StatusMessage string        `json:"status_message,omitempty"`
	// Revision counts accepted applies; an apply names the revision it
	// planned against and loses if another apply got there first.
	Revision  int64     `json:"revision"`
	Deleting  bool      `json:"deleting"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Replicas  []Replica `json:"replicas"`
}

// Replica is one attempt at running replica number Num of a gateway. A
// replacement (after a failure or an unhealthy probe) is a new row with the
// same Num, the next Attempt and a new Token; the old row ends terminated or
// failed and stays as history.
type Replica struct {
	ID          int64  `json:"id"`
	GatewayID   int64  `json:"gateway_id"`
	GatewayName string `json:"gateway"`
	Num         int    `json:"replica_num"`
	Attempt     int    `json:"attempt"`
	// Token is written before any backend call and makes Launch idempotent.
	Token         string        `json:"token"`
	Status        ReplicaStatus `json:"status"`
	StatusMessage string        `json:"status_message,omitempty"`
	// StopRequested is the desire that this row end (scale-in, deletion,
	// superseded by a replacement). Only users and the gateway pipeline set it.
	StopRequested bool   `json:"stop_requested,omitempty"`
	Backend       string `json:"backend"`
	Region        string `json:"region"`
	Zone          string `json:"zone,omitempty"`
	// ZoneIndex spreads the replicas of one region over its zones.
	ZoneIndex  int    `json:"-"`
	InstanceID string `json:"instance_id,omitempty"`
	Hostname   string `json:"hostname,omitempty"`
	// BackendData holds provider details worth keeping (public DNS name,
	// private IP, zones tried) as a JSON object.
	BackendData     map[string]string `json:"backend_data,omitempty"`
	LaunchRequested bool              `json:"-"`
	// LaunchRequestedAt is when the first launch call was about to be made.
	LaunchRequestedAt *time.Time `json:"-"`
	// ErrorKind classifies the failure of a failed replica: transient,
	// capacity or permanent (no retry until a person acts).
	ErrorKind string `json:"error_kind,omitempty"`
	// FinalStatus is where a terminating replica ends: terminated, or
	// failed when it is being cleaned up after a failure.
	FinalStatus    ReplicaStatus `json:"-"`
	HealthFailures int           `json:"health_failures,omitempty"`
	UnhealthySince *time.Time    `json:"unhealthy_since,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
	RunningAt      *time.Time    `json:"running_at,omitempty"`
	LaunchedAt     *time.Time    `json:"launched_at,omitempty"`
	FinishedAt     *time.Time    `json:"finished_at,omitempty"`
	// Lease, set while a worker holds the row.
	LockToken string `json:"-"`
	LockOwner string `json:"-"`
}

// Event is one entry of a gateway's append-only history.
type Event struct {
	ID          int64     `json:"id"`
	GatewayID   int64     `json:"gateway_id"`
	GatewayName string    `json:"gateway"`
	ReplicaNum  *int      `json:"replica_num,omitempty"`
	Attempt     *int      `json:"attempt,omitempty"`
	Kind        string    `json:"kind"`
	Message     string    `json:"message"`
	At          time.Time `json:"at"`
}
