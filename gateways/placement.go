package gateways

import "github.com/portico-dev/portico/models"

// Placement is where one replica goes: a region, and an index that spreads
// the replicas of that region over its zones. Backends own the zone lists
// (often learnt from the provider), so Portico hands them an index and the
// backend starts at zones[ZoneIndex % len(zones)].
type Placement struct {
	Region    string
	ZoneIndex int
}

// Place chooses a placement for one new replica, given where the gateway's
// other active replicas are. It picks the region with the fewest replicas
// (ties go to the region listed first), then the lowest zone index not in use
// in that region, so that replicas spread evenly and a replica added after a
// scale-in fills the gap the removed one left.
func Place(regions []string, active []Placement) Placement {
	if len(regions) == 0 {
		return Placement{}
	}
	count := map[string]int{}
	used := map[string]map[int]bool{}
	for _, p := range active {
		count[p.Region]++
		if used[p.Region] == nil {
			used[p.Region] = map[int]bool{}
		}
		used[p.Region][p.ZoneIndex] = true
	}
	best := regions[0]
	for _, r := range regions[1:] {
		if count[r] < count[best] {
			best = r
		}
	}
	idx := 0
	for used[best][idx] {
		idx++
	}
	return Placement{Region: best, ZoneIndex: idx}
}

// PlaceAll places n replicas one after another, each seeing the ones before.
func PlaceAll(regions []string, active []Placement, n int) []Placement {
	out := make([]Placement, 0, n)
	cur := append([]Placement(nil), active...)
	for range n {
		p := Place(regions, cur)
		out = append(out, p)
		cur = append(cur, p)
	}
	return out
}

func placementOf(r models.Replica) Placement {
	return Placement{Region: r.Region, ZoneIndex: r.ZoneIndex}
}
