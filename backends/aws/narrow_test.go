package aws

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/backends"
)

// narrowEC2 is an ec2API built from function fields, for the cases where
// the HTTP fake is overkill. Calls without a function panic (nil
// embedded interface), so a test notices calls it did not expect.
type narrowEC2 struct {
	ec2API
	describeInstances func(*ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error)
}

func (n *narrowEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return n.describeInstances(in)
}

func TestDescribeSplitsLongIDListsIntoChunks(t *testing.T) {
	var (
		mu    sync.Mutex
		sizes []int
	)
	fake := &narrowEC2{describeInstances: func(in *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
		// assert, not require: Describe calls this from its own goroutines.
		if assert.Len(t, in.Filters, 1) {
			assert.Equal(t, "instance-id", *in.Filters[0].Name)
		}
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(in.Filters[0].Values))
		return &ec2.DescribeInstancesOutput{}, nil
	}}
	b := newBackend(withDefaults(Config{}), func(string) ec2API { return fake })
	var refs []backends.InstanceRef
	for i := range 450 {
		refs = append(refs, backends.InstanceRef{ID: fmt.Sprintf("i-%017x", i), Region: region})
	}
	got, err := b.Describe(context.Background(), refs...)
	require.NoError(t, err)
	assert.ElementsMatch(t, []int{200, 200, 50}, sizes, "EC2 takes at most 200 values per filter")
	require.Len(t, got, 450)
	for i, in := range got {
		assert.Equal(t, refs[i].ID, in.ID)
		assert.Equal(t, backends.StateTerminated, in.State)
	}
}
