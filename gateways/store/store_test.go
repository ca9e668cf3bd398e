package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
)

var ctx = context.Background()

// seed records a gateway with n pending replicas.
func seed(t *testing.T, st *store.Store, name string, n int) *models.Gateway {
	t.Helper()
	var g *models.Gateway
	err := st.UpdateGateway(ctx, name, func(tx *store.GatewayTx) error {
		if err := tx.Create(models.Spec{Type: "gateway", Name: name, Backend: "local", Region: "local", Replicas: n}); err != nil {
			return err
		}
		for i := range n {
			if _, err := tx.AddReplica(i, 1, "local", i, "test"); err != nil {
				return err
			}
		}
		g = tx.Gateway
		return nil
	})
	require.NoError(t, err)
	return g
}

func TestSQLiteFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "portico.db")
	storetest.Open(t, path)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestRedact(t *testing.T) {
	assert.Equal(t, "postgres://portico:xxxxx@db:5432/portico", store.Redact("postgres://portico:s3cret@db:5432/portico"))
	assert.Equal(t, "postgres://db/portico?password=xxxxx&sslmode=disable", store.Redact("postgres://db/portico?password=s3cret&sslmode=disable"))
	assert.Equal(t, "/home/me/.portico/portico.db", store.Redact("/home/me/.portico/portico.db"))
}

func TestStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, st *store.Store) {
		t.Run("migrations are idempotent", func(t *testing.T) {
			again := storetest.Open(t, dsn)
			id1, err := st.InstallID(ctx)
			require.NoError(t, err)
			id2, err := again.InstallID(ctx)
			require.NoError(t, err)
			assert.Equal(t, id1, id2)
			assert.Regexp(t, `^[0-9a-f]{8}$`, id1)
		})
		t.Run("create, read, list", func(t *testing.T) {
			g := seed(t, st, "alpha", 2)
			got, err := st.GetGateway(ctx, "alpha")
			require.NoError(t, err)
			assert.Equal(t, g.ID, got.ID)
			assert.Equal(t, int64(1), got.Revision)
			assert.Equal(t, models.GatewaySubmitted, got.Status)
			require.Len(t, got.Replicas, 2)
			assert.Equal(t, models.ReplicaPending, got.Replicas[1].Status)
			assert.Regexp(t, `^p[0-9a-f]{8}-\d+-1-1$`, got.Replicas[1].Token)
			seed(t, st, "beta", 1)
			all, err := st.ListGateways(ctx)
			require.NoError(t, err)
			require.Len(t, all, 2)
			assert.Equal(t, []string{"alpha", "beta"}, []string{all[0].Name, all[1].Name})
			assert.Len(t, all[1].Replicas, 1)
		})
		t.Run("duplicate name", func(t *testing.T) {
			seed(t, st, "dup", 1)
			err := st.UpdateGateway(ctx, "dup", func(tx *store.GatewayTx) error {
				return tx.Create(models.Spec{Name: "dup", Backend: "local", Replicas: 1})
			})
			var exists *store.ExistsError
			require.ErrorAs(t, err, &exists)
		})
		t.Run("revision conflict writes nothing", func(t *testing.T) {
			seed(t, st, "rev", 1)
			err := st.UpdateGateway(ctx, "rev", func(tx *store.GatewayTx) error {
				if _, err := tx.AddReplica(5, 1, "local", 0, "x"); err != nil {
					return err
				}
				return tx.SaveSpec(models.Spec{Name: "rev", Backend: "local", Replicas: 3}, 7)
			})
			var conflict *store.ConflictError
			require.ErrorAs(t, err, &conflict)
			assert.Equal(t, int64(7), conflict.Expected)
			assert.Equal(t, int64(1), conflict.Actual)
			got, err := st.GetGateway(ctx, "rev")
			require.NoError(t, err)
			assert.Len(t, got.Replicas, 1, "the replica added before the conflict was rolled back")
			assert.Equal(t, 1, got.Spec.Replicas)
		})
		t.Run("missing gateway", func(t *testing.T) {
			_, err := st.GetGateway(ctx, "nope")
			assert.ErrorIs(t, err, store.ErrNotFound)
		})
	})
}

func TestLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		g := seed(t, st, "leased", 4)
		other := seed(t, st, "other", 1)
		opts := store.ClaimOptions{Owner: "a", Limit: 10, TTL: time.Minute, Gateways: []int64{g.ID}}

		got, err := st.ClaimReplicas(ctx, opts)
		require.NoError(t, err)
		require.Len(t, got, 4, "only the filtered gateway's rows")
		for _, r := range got {
			assert.NotEmpty(t, r.LockToken)
			assert.Equal(t, "a", r.LockOwner)
		}
		again, err := st.ClaimReplicas(ctx, opts)
		require.NoError(t, err)
		assert.Empty(t, again, "leased rows are not claimed twice")

		// A guarded write with a wrong token changes nothing.
		r := got[0]
		stale := r
		stale.LockToken = "someone-else"
		stale.Status = models.ReplicaRunning
		assert.ErrorIs(t, st.SaveReplica(ctx, &stale, store.SaveOptions{Release: true}), store.ErrStaleLease)

		// The right token writes, releases, and logs an event.
		r.Status, r.InstanceID, r.Hostname = models.ReplicaProvisioning, "i-1", "127.0.0.1:1"
		require.NoError(t, st.SaveReplica(ctx, &r, store.SaveOptions{Release: true, Events: []string{"replica 0 launched"}}))
		fresh, err := st.GetGateway(ctx, "leased")
		require.NoError(t, err)
		assert.Equal(t, models.ReplicaProvisioning, fresh.Replicas[0].Status)
		assert.Equal(t, "i-1", fresh.Replicas[0].InstanceID)
		assert.NotNil(t, fresh.Replicas[0].LaunchedAt, "launched_at is set when the instance id is first saved")
		assert.Empty(t, fresh.Replicas[0].LockToken)
		evs, err := st.Events(ctx, "leased", 0)
		require.NoError(t, err)
		assert.Equal(t, "replica 0 launched", evs[len(evs)-1].Message)

		// Renewal reports lost leases.
		held := map[int64]string{got[1].ID: got[1].LockToken, got[2].ID: "not-the-token"}
		lost, err := st.RenewReplicaLeases(ctx, time.Minute, held)
		require.NoError(t, err)
		assert.Equal(t, []int64{got[2].ID}, lost)

		// Expired leases can be claimed by another owner.
		_, err = st.ClaimReplicas(ctx, store.ClaimOptions{Owner: "b", Limit: 10, TTL: time.Millisecond, Gateways: []int64{other.ID}})
		require.NoError(t, err)
		time.Sleep(20 * time.Millisecond)
		stolen, err := st.ClaimReplicas(ctx, store.ClaimOptions{Owner: "c", Limit: 10, TTL: time.Minute, Gateways: []int64{other.ID}})
		require.NoError(t, err)
		require.Len(t, stolen, 1)
		assert.Equal(t, "c", stolen[0].LockOwner)

		// Releasing an owner frees its rows at once.
		require.NoError(t, st.ReleaseOwner(ctx, "c"))
		back, err := st.ClaimReplicas(ctx, store.ClaimOptions{Owner: "d", Limit: 10, TTL: time.Minute, Gateways: []int64{other.ID}})
		require.NoError(t, err)
		assert.Len(t, back, 1)
	})
}

func TestConcurrentClaimsNeverOverlap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		g := seed(t, st, "busy", 40)
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func(owner string) {
				defer wg.Done()
				for range 10 {
					rows, err := st.ClaimReplicas(ctx, store.ClaimOptions{Owner: owner, Limit: 3, TTL: time.Minute, Gateways: []int64{g.ID}})
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					for _, r := range rows {
						if prev, dup := seen[r.ID]; dup {
							t.Errorf("replica %d claimed by %s and %s", r.ID, prev, owner)
						}
						seen[r.ID] = owner
					}
					mu.Unlock()
				}
			}(string(rune('a' + w)))
		}
		wg.Wait()
		assert.Len(t, seen, 40)
	})
}

func TestStopRequestWakesRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		g := seed(t, st, "stopme", 1)
		rows, err := st.ClaimReplicas(ctx, store.ClaimOptions{Owner: "a", Limit: 1, TTL: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		r := rows[0]
		r.Status = models.ReplicaRunning
		require.NoError(t, st.SaveReplica(ctx, &r, store.SaveOptions{Release: true, ProcessIn: time.Hour}))
		none, err := st.ClaimReplicas(ctx, store.ClaimOptions{Owner: "a", Limit: 1, TTL: time.Minute})
		require.NoError(t, err)
		assert.Empty(t, none, "running rows wait for health checks only")
		require.NoError(t, st.UpdateGateway(ctx, g.Name, func(tx *store.GatewayTx) error {
			return tx.StopReplica(r.ID, "scale in")
		}))
		due, err := st.ClaimReplicas(ctx, store.ClaimOptions{Owner: "a", Limit: 1, TTL: time.Minute})
		require.NoError(t, err)
		require.Len(t, due, 1, "a stop request makes the row due at once")
		assert.True(t, due[0].StopRequested)
	})
}

func TestDeleteKeepsEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		seed(t, st, "gone", 1)
		require.NoError(t, st.UpdateGateway(ctx, "gone", func(tx *store.GatewayTx) error {
			if err := tx.Event("delete", "bye", nil); err != nil {
				return err
			}
			return tx.Remove()
		}))
		_, err := st.GetGateway(ctx, "gone")
		assert.True(t, errors.Is(err, store.ErrNotFound))
		evs, err := st.Events(ctx, "gone", 1)
		require.NoError(t, err)
		require.Len(t, evs, 1)
		assert.Equal(t, "bye", evs[0].Message)
	})
}

// Replica tokens are built from gateway ids, so an id must never be reused:
// a gateway created after another was deleted must not inherit its tokens
// (EC2 would answer IdempotentParameterMismatch, or hand back the old
// instance).
func TestIDsAreNeverReused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
		first := seed(t, st, "again", 1)
		require.NoError(t, st.UpdateGateway(ctx, "again", func(tx *store.GatewayTx) error { return tx.Remove() }))
		second := seed(t, st, "again", 1)
		assert.Greater(t, second.ID, first.ID)
		assert.NotEqual(t, first.Replicas[0].Token, second.Replicas[0].Token)
		assert.Greater(t, second.Replicas[0].ID, first.Replicas[0].ID)
	})
}
