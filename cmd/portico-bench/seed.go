package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/models"
)

// seedSpec describes gateways to write straight into a store: running
// gateways whose replicas all run, as after a long quiet period.
type seedSpec struct {
	Gateways, Replicas int
	Backend, Region    string
	Prefix             string
	// Spec adjusts each gateway's spec (health settings, public_ip, ...).
	Spec func(*models.Spec)
	// Instance names replica r of gateway g: instance id, zone, hostname.
	Instance func(g, r int) (id, zone, hostname string)
	// DueIn is when the replicas are next due for a health check.
	DueIn time.Duration
}

// seed writes sp in one transaction, through the same schema the store
// migrates, with tokens derived as the store derives them.
func seed(ctx context.Context, st *store.Store, sp seedSpec) error {
	install, err := st.InstallID(ctx)
	if err != nil {
		return err
	}
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	gq, err := tx.PrepareContext(ctx, st.Rebind(`INSERT INTO gateways (name, backend, spec, desired_replicas, status, revision,
		created_at, updated_at, process_after, last_processed_at) VALUES (?, ?, ?, ?, 'running', 1, ?, ?, ?, ?) RETURNING id`))
	if err != nil {
		return err
	}
	defer gq.Close()
	rq, err := tx.PrepareContext(ctx, st.Rebind(`INSERT INTO replicas (gateway_id, replica_num, attempt, token, status,
		status_message, backend, region, zone, zone_index, instance_id, hostname, backend_data, launch_requested,
		launched_at, running_at, created_at, updated_at, process_after, last_processed_at)
		VALUES (?, ?, 1, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, TRUE, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return err
	}
	defer rq.Close()
	now := time.Now().UnixMilli()
	due := now + sp.DueIn.Milliseconds()
	for g := range sp.Gateways {
		spec := models.Spec{Type: "gateway", Name: fmt.Sprintf("%s-%04d", sp.Prefix, g), Backend: sp.Backend,
			Region: sp.Region, Domain: fmt.Sprintf("gw%d.example.com", g), Replicas: sp.Replicas,
			Tags: map[string]string{"team": "bench", "env": "prod"}}
		if sp.Spec != nil {
			sp.Spec(&spec)
		}
		b, _ := json.Marshal(spec)
		var id int64
		if err := gq.QueryRowContext(ctx, spec.Name, spec.Backend, string(b), spec.Replicas, now, now, due, now).Scan(&id); err != nil {
			return fmt.Errorf("seed gateway %s: %w", spec.Name, err)
		}
		for r := range sp.Replicas {
			inst, zone, host := sp.Instance(g, r)
			data, _ := json.Marshal(map[string]string{"private_ip": host, "launch_zone": zone})
			if _, err := rq.ExecContext(ctx, id, r, store.Token(install, id, r, 1), "serving at "+host, sp.Backend,
				sp.Region, zone, r%3, inst, host, string(data), now, now, now, now, due, now); err != nil {
				return fmt.Errorf("seed replica %d of %s: %w", r, spec.Name, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, st.Rebind(`INSERT INTO known_regions (backend, region) VALUES (?, ?) ON CONFLICT DO NOTHING`),
		sp.Backend, sp.Region); err != nil {
		return err
	}
	return tx.Commit()
}
