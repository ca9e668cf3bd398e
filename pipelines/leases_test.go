package pipelines

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/gateways/store"
	"github.com/portico-dev/portico/gateways/store/storetest"
	"github.com/portico-dev/portico/models"
)

func TestLeaseSet(t *testing.T) {
	const ttl = time.Minute // valid for 40s after the last renewal
	s := newLeaseSet(ttl)
	assert.False(t, s.valid(1), "a lease never taken")

	s.add(1, "a")
	assert.True(t, s.valid(1))
	held := map[int64]string{1: "a"}
	s.renewed(held, time.Now().Add(-41*time.Second), nil)
	assert.False(t, s.valid(1), "no renewal for longer than the TTL minus its safety margin")
	s.renewed(held, time.Now().Add(-39*time.Second), nil)
	assert.True(t, s.valid(1), "renewed within the margin")

	s.renewed(held, time.Now(), []int64{1})
	assert.False(t, s.valid(1), "the database said the lease is gone")
	s.renewed(held, time.Now(), nil)
	assert.False(t, s.valid(1), "a lost lease stays lost")
	snap, _ := s.snapshot()
	assert.Empty(t, snap, "lost leases are not renewed again")

	// The row claimed again under a new token: news about the old token
	// changes nothing.
	s.add(1, "b")
	s.renewed(map[int64]string{1: "a"}, time.Now(), []int64{1})
	assert.True(t, s.valid(1))
	snap, _ = s.snapshot()
	assert.Equal(t, map[int64]string{1: "b"}, snap)

	// A finished step removes only its own lease, not the next claim's.
	s.remove(1, "a")
	assert.True(t, s.valid(1), "the step holding token a had already given the row up")
	s.remove(1, "b")
	assert.False(t, s.valid(1))
}

func TestLeaseLapsesWithoutRenewal(t *testing.T) {
	s := newLeaseSet(30 * time.Millisecond)
	s.add(1, "a")
	time.Sleep(30 * time.Millisecond)
	assert.False(t, s.valid(1), "self-fencing starts before the lease could expire in the database")
}

// TestFencedStepStartsNoCloudWork: a step whose lease is not known to be
// held (renewals failing, or lost to another worker) starts no launch and
// no termination; it gives the row back for later.
func TestFencedStepStartsNoCloudWork(t *testing.T) {
	cases := []struct {
		name  string
		fence func(s *leaseSet, r models.Replica)
		stop  bool
	}{
		{"lease lost", func(s *leaseSet, r models.Replica) {
			s.renewed(map[int64]string{r.ID: r.LockToken}, time.Now(), []int64{r.ID})
		}, false},
		{"renewals failing", func(s *leaseSet, r models.Replica) {
			s.renewed(map[int64]string{r.ID: r.LockToken}, time.Now().Add(-time.Hour), nil)
		}, false},
		{"terminate while fenced", func(s *leaseSet, r models.Replica) {
			s.renewed(map[int64]string{r.ID: r.LockToken}, time.Now(), []int64{r.ID})
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, _ string, st *store.Store) {
				e := newEnv(t, st)
				g := e.apply(spec("fenced", 1))
				if tc.stop {
					// A launch that reached the cloud, then a delete.
					_, err := st.DB().ExecContext(bg, `UPDATE replicas SET launch_requested = TRUE, instance_id = 'i-9'`)
					require.NoError(t, err)
					_, _, err = e.svc.Delete(bg, "fenced")
					require.NoError(t, err)
				}
				eng := e.engine("a")
				rows, err := st.ClaimReplicas(bg, store.ClaimOptions{Owner: "a", Limit: 1, TTL: time.Minute})
				require.NoError(t, err)
				require.Len(t, rows, 1)
				r := rows[0]
				eng.leases.add(r.ID, r.LockToken)
				tc.fence(eng.leases, r)

				specs, err := st.GatewaySpecs(bg, []int64{r.GatewayID})
				require.NoError(t, err)
				eng.step(bg, r, specs[r.GatewayID])

				assert.Empty(t, e.fake.launchCalls(), "no launch")
				assert.Empty(t, e.fake.terminateCalls(), "no termination")
				assert.Empty(t, e.fake.listCalls())
				after := e.gateway(g.Name).Replicas[0]
				assert.Equal(t, r.Status, after.Status, "the row is unchanged")
				assert.Equal(t, r.LaunchRequested, after.LaunchRequested)
				assert.Empty(t, after.LockToken, "the row is given back")
			})
		})
	}
}
