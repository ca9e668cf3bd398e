package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
)

// BenchmarkListGateways measures the two queries behind `portico gateway
// list` on 1,000 gateways × 5 running replicas, on SQLite and (when
// TEST_PG_DSN is set) PostgreSQL. It asserts nothing about time.
func BenchmarkListGateways(b *testing.B) {
	const gateways, replicas = 1000, 5
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			var dsn string
			if dialect == "sqlite" {
				dsn = storetest.SQLite(b)
			} else {
				dsn = storetest.Postgres(b)
			}
			st := storetest.Open(b, dsn)
			seedRunning(b, st, gateways, replicas)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				gs, err := st.ListGateways(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if len(gs) != gateways {
					b.Fatalf("listed %d gateways, want %d", len(gs), gateways)
				}
			}
		})
	}
}

// seedRunning writes running gateways with running replicas in one
// transaction, straight through the schema.
func seedRunning(b *testing.B, st *store.Store, gateways, replicas int) {
	b.Helper()
	ctx := context.Background()
	install, err := st.InstallID(ctx)
	if err != nil {
		b.Fatal(err)
	}
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	now := time.Now().UnixMilli()
	for g := range gateways {
		spec := models.Spec{Type: "gateway", Name: fmt.Sprintf("edge-%04d", g), Backend: "aws", Region: "eu-west-1",
			Domain: fmt.Sprintf("gw%d.example.com", g), Replicas: replicas, Tags: map[string]string{"team": "bench"}}
		raw, _ := json.Marshal(spec)
		var id int64
		err := tx.QueryRowContext(ctx, st.Rebind(`INSERT INTO gateways (name, backend, spec, desired_replicas, status, created_at, updated_at)
			VALUES (?, 'aws', ?, ?, 'running', ?, ?) RETURNING id`), spec.Name, string(raw), replicas, now, now).Scan(&id)
		if err != nil {
			b.Fatal(err)
		}
		for r := range replicas {
			n := g*replicas + r
			host := fmt.Sprintf("198.51.%d.%d", (n/250)%256, 1+n%250)
			_, err := tx.ExecContext(ctx, st.Rebind(`INSERT INTO replicas (gateway_id, replica_num, attempt, token, status, status_message,
				backend, region, zone, instance_id, hostname, launch_requested, launched_at, running_at, created_at, updated_at)
				VALUES (?, ?, 1, ?, 'running', ?, 'aws', 'eu-west-1', ?, ?, ?, TRUE, ?, ?, ?, ?)`),
				id, r, store.Token(install, id, r, 1), "serving at "+host, fmt.Sprintf("eu-west-1%c", 'a'+r%3),
				fmt.Sprintf("i-0%016x", n), host, now, now, now, now)
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
