package gateways

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/models"
)

func TestPlanApply(t *testing.T) {
	p := Policy{Now: t0}
	running := func(n int) *models.Gateway {
		g := gw(n)
		for i := range n {
			g.Replicas = append(g.Replicas, rep(int64(i+1), i, 1, models.ReplicaRunning))
		}
		g.Revision = 4
		return g
	}
	spec := func(n int, mods ...func(*models.Spec)) models.Spec {
		s := models.Spec{Name: "edge", Backend: "aws", Region: "eu-west-1", Replicas: n}
		for _, m := range mods {
			m(&s)
		}
		return s
	}

	t.Run("create", func(t *testing.T) {
		plan := PlanApply(nil, spec(3), false, p)
		assert.Equal(t, ActionCreate, plan.Action)
		assert.Equal(t, []int{0, 1, 2}, nums(plan.Add))
		assert.Equal(t, `create gateway "edge" with 3 replicas`, plan.Summary())
	})
	t.Run("no change", func(t *testing.T) {
		plan := PlanApply(running(2), spec(2), false, p)
		assert.Equal(t, ActionNoChange, plan.Action)
		assert.Empty(t, plan.Add)
		assert.Empty(t, plan.Stop)
		assert.Equal(t, int64(4), plan.Revision)
	})
	t.Run("scale out in place", func(t *testing.T) {
		plan := PlanApply(running(2), spec(5), false, p)
		assert.Equal(t, ActionUpdate, plan.Action)
		assert.Equal(t, []int{2, 3, 4}, nums(plan.Add))
		require.Len(t, plan.Changes, 1)
		assert.Equal(t, FieldChange{Field: "replicas", From: "2", To: "5", InPlace: true}, plan.Changes[0])
	})
	t.Run("scale in in place", func(t *testing.T) {
		plan := PlanApply(running(5), spec(1), false, p)
		assert.Equal(t, ActionUpdate, plan.Action)
		assert.Len(t, plan.Stop, 4)
		assert.Empty(t, plan.Add)
	})
	t.Run("instance type change re-creates every replica", func(t *testing.T) {
		plan := PlanApply(running(2), spec(2, func(s *models.Spec) { s.InstanceType = "t3.large" }), false, p)
		assert.Equal(t, ActionRecreate, plan.Action)
		assert.Equal(t, []int{0, 1}, plan.Replace)
		for _, a := range plan.Add {
			assert.Equal(t, 2, a.Attempt)
		}
		assert.Empty(t, plan.Stop, "old replicas stop only when their replacements run")
		assert.False(t, plan.Changes[0].InPlace)
	})
	t.Run("region change re-creates in the new region", func(t *testing.T) {
		plan := PlanApply(running(2), spec(3, func(s *models.Spec) { s.Region = ""; s.Regions = []string{"us-east-1", "eu-central-1"} }), false, p)
		assert.Equal(t, ActionRecreate, plan.Action)
		regions := map[string]int{}
		for _, a := range plan.Add {
			regions[a.Region]++
		}
		assert.Equal(t, map[string]int{"us-east-1": 2, "eu-central-1": 1}, regions)
	})
	t.Run("force re-creates without changes", func(t *testing.T) {
		plan := PlanApply(running(2), spec(2), true, p)
		assert.Equal(t, ActionRecreate, plan.Action)
		assert.Len(t, plan.Add, 2)
	})
	t.Run("same spec after a failure retries the failed replicas", func(t *testing.T) {
		g := running(2)
		g.Replicas[1] = rep(2, 1, 1, models.ReplicaFailed, failedAt(0, "permanent"))
		plan := PlanApply(g, spec(2), false, p)
		assert.Equal(t, ActionRetry, plan.Action)
		assert.Equal(t, []int{1}, plan.Replace)
		assert.Equal(t, []int{1}, nums(plan.Add))
		assert.Equal(t, []int64{2}, stopIDs(plan.Stop))
	})
	t.Run("health settings change in place", func(t *testing.T) {
		plan := PlanApply(running(2), spec(2, func(s *models.Spec) { s.Health = &models.HealthSpec{Path: "/ready"} }), false, p)
		assert.Equal(t, ActionUpdate, plan.Action)
		assert.Empty(t, plan.Add)
	})
}

func TestDiffSpecsTreatsEmptyTagsAsNone(t *testing.T) {
	a := models.Spec{Replicas: 1, Tags: map[string]string{}}
	b := models.Spec{Replicas: 1}
	assert.Empty(t, DiffSpecs(a, b))
}
