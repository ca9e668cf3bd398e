package gateways

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPlace(t *testing.T) {
	tests := []struct {
		name    string
		regions []string
		active  []Placement
		want    Placement
	}{
		{"no regions", nil, nil, Placement{}},
		{"first replica", []string{"eu-west-1"}, nil, Placement{"eu-west-1", 0}},
		{"next zone index", []string{"eu-west-1"}, []Placement{{"eu-west-1", 0}, {"eu-west-1", 1}}, Placement{"eu-west-1", 2}},
		{"fills the gap a scale-in left", []string{"eu-west-1"}, []Placement{{"eu-west-1", 0}, {"eu-west-1", 2}}, Placement{"eu-west-1", 1}},
		{"least loaded region", []string{"a", "b"}, []Placement{{"a", 0}}, Placement{"b", 0}},
		{"tie goes to the first region", []string{"a", "b"}, []Placement{{"a", 0}, {"b", 0}}, Placement{"a", 1}},
		{"ignores regions no longer listed", []string{"b"}, []Placement{{"a", 0}}, Placement{"b", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Place(tt.regions, tt.active))
		})
	}
}

func TestPlaceAllSpreadsEvenly(t *testing.T) {
	got := PlaceAll([]string{"eu-west-1", "us-east-1", "ap-south-1"}, nil, 7)
	count := map[string]int{}
	zones := map[Placement]bool{}
	for _, p := range got {
		count[p.Region]++
		assert.False(t, zones[p], "placement %v used twice", p)
		zones[p] = true
	}
	assert.Equal(t, map[string]int{"eu-west-1": 3, "us-east-1": 2, "ap-south-1": 2}, count)
	assert.Equal(t, Placement{"eu-west-1", 0}, got[0])
	assert.Equal(t, Placement{"us-east-1", 0}, got[1])
	assert.Equal(t, Placement{"eu-west-1", 2}, got[6])
}
