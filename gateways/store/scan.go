package store

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/portico-dev/portico/models"
)

const gatewayColumns = `g.id, g.name, g.spec, g.status, g.status_message, g.revision, g.deleting, g.created_at, g.updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanGateway(row scanner) (*models.Gateway, error) {
	var (
		g                models.Gateway
		spec             string
		status           string
		created, updated int64
	)
	if err := row.Scan(&g.ID, &g.Name, &spec, &status, &g.StatusMessage, &g.Revision, &g.Deleting, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(spec), &g.Spec); err != nil {
		return nil, fmt.Errorf("decode spec of gateway %q: %w", g.Name, err)
	}
	g.Status = models.GatewayStatus(status)
	g.CreatedAt, g.UpdatedAt = fromMillis(created), fromMillis(updated)
	return &g, nil
}

// replicaColumns are read by every replica query; RETURNING lists use the
// same names without the table alias.
const replicaColumns = `id, gateway_id, replica_num, attempt, token, status, status_message, final_status,
	error_kind, stop_requested, backend, region, zone, zone_index, instance_id, hostname, backend_data,
	launch_requested, launched_at, health_failures, unhealthy_since, running_at, finished_at,
	created_at, updated_at, lock_token, lock_owner, launch_requested_at`

func scanReplica(row scanner) (models.Replica, error) {
	var (
		r                                      models.Replica
		status, final, data                    string
		launched, unhealthy, running, finished sql.NullInt64
		requested                              sql.NullInt64
		created, updated                       int64
		lockToken, lockOwner                   sql.NullString
	)
	err := row.Scan(&r.ID, &r.GatewayID, &r.Num, &r.Attempt, &r.Token, &status, &r.StatusMessage, &final,
		&r.ErrorKind, &r.StopRequested, &r.Backend, &r.Region, &r.Zone, &r.ZoneIndex, &r.InstanceID, &r.Hostname, &data,
		&r.LaunchRequested, &launched, &r.HealthFailures, &unhealthy, &running, &finished,
		&created, &updated, &lockToken, &lockOwner, &requested)
	if err != nil {
		return r, err
	}
	r.LaunchRequestedAt = nullTime(requested)
	r.Status, r.FinalStatus = models.ReplicaStatus(status), models.ReplicaStatus(final)
	if data != "" && data != "{}" {
		if err := json.Unmarshal([]byte(data), &r.BackendData); err != nil {
			return r, fmt.Errorf("decode backend data of replica %d: %w", r.ID, err)
		}
	}
	r.LaunchedAt, r.UnhealthySince = nullTime(launched), nullTime(unhealthy)
	r.RunningAt, r.FinishedAt = nullTime(running), nullTime(finished)
	r.CreatedAt, r.UpdatedAt = fromMillis(created), fromMillis(updated)
	r.LockToken, r.LockOwner = lockToken.String, lockOwner.String
	return r, nil
}

func scanReplicas(rows *sql.Rows) ([]models.Replica, error) {
	defer rows.Close()
	var out []models.Replica
	for rows.Next() {
		r, err := scanReplica(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func encodeData(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// briefReplicaColumns are what listing shows of a replica.
const briefReplicaColumns = `id, gateway_id, replica_num, attempt, status, status_message, stop_requested,
	backend, region, zone, instance_id, hostname, running_at, finished_at, created_at`

func scanBriefReplica(row scanner) (models.Replica, error) {
	var (
		r                 models.Replica
		status            string
		running, finished sql.NullInt64
		created           int64
	)
	err := row.Scan(&r.ID, &r.GatewayID, &r.Num, &r.Attempt, &status, &r.StatusMessage, &r.StopRequested,
		&r.Backend, &r.Region, &r.Zone, &r.InstanceID, &r.Hostname, &running, &finished, &created)
	r.Status = models.ReplicaStatus(status)
	r.RunningAt, r.FinishedAt = nullTime(running), nullTime(finished)
	r.CreatedAt = fromMillis(created)
	return r, err
}
