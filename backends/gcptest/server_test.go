package gcptest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"
)

// clients are the real REST clients pointed at a fake.
type clients struct {
	srv       *Server
	instances *compute.InstancesClient
	zoneOps   *compute.ZoneOperationsClient
	zones     *compute.ZonesClient
	firewalls *compute.FirewallsClient
	globalOps *compute.GlobalOperationsClient
}

func newClients(t *testing.T, opts Options) *clients {
	t.Helper()
	srv := NewServer(opts)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	o := []option.ClientOption{option.WithEndpoint(srv.URL()), option.WithoutAuthentication()}
	c := &clients{srv: srv}
	var err error
	c.instances, err = compute.NewInstancesRESTClient(ctx, o...)
	require.NoError(t, err)
	c.zoneOps, err = compute.NewZoneOperationsRESTClient(ctx, o...)
	require.NoError(t, err)
	c.zones, err = compute.NewZonesRESTClient(ctx, o...)
	require.NoError(t, err)
	c.firewalls, err = compute.NewFirewallsRESTClient(ctx, o...)
	require.NoError(t, err)
	c.globalOps, err = compute.NewGlobalOperationsRESTClient(ctx, o...)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.instances.Close()
		_ = c.zoneOps.Close()
		_ = c.zones.Close()
		_ = c.firewalls.Close()
		_ = c.globalOps.Close()
	})
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// vm is a minimal valid insert body.
func vm(name, zone string, public bool, labels map[string]string) *computepb.Instance {
	ni := &computepb.NetworkInterface{Network: proto.String("global/networks/default")}
	if public {
		ni.AccessConfigs = []*computepb.AccessConfig{{Name: proto.String("External NAT"), Type: proto.String("ONE_TO_ONE_NAT")}}
	}
	return &computepb.Instance{
		Name:        proto.String(name),
		MachineType: proto.String("zones/" + zone + "/machineTypes/e2-small"),
		Labels:      labels,
		Disks: []*computepb.AttachedDisk{{Boot: proto.Bool(true), AutoDelete: proto.Bool(true),
			InitializeParams: &computepb.AttachedDiskInitializeParams{SourceImage: proto.String("projects/debian-cloud/global/images/family/debian-12")}}},
		NetworkInterfaces: []*computepb.NetworkInterface{ni},
	}
}

func (c *clients) insert(t *testing.T, zone string, in *computepb.Instance, rid string) (*compute.Operation, error) {
	t.Helper()
	req := &computepb.InsertInstanceRequest{Project: c.srv.Project(), Zone: zone, InstanceResource: in}
	if rid != "" {
		req.RequestId = proto.String(rid)
	}
	return c.instances.Insert(ctxT(t), req)
}

func (c *clients) get(t *testing.T, zone, name string) (*computepb.Instance, error) {
	t.Helper()
	return c.instances.Get(ctxT(t), &computepb.GetInstanceRequest{Project: c.srv.Project(), Zone: zone, Instance: name})
}

func (c *clients) aggregated(t *testing.T, filter string, pageSize int32) ([]*computepb.Instance, error) {
	t.Helper()
	req := &computepb.AggregatedListInstancesRequest{Project: c.srv.Project(), Filter: proto.String(filter)}
	if pageSize > 0 {
		req.MaxResults = proto.Uint32(uint32(pageSize))
	}
	it := c.instances.AggregatedList(ctxT(t), req)
	var out []*computepb.Instance
	for {
		pair, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, pair.Value.GetInstances()...)
	}
}

func reason(err error) (int, string) {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return 0, ""
	}
	if len(ge.Errors) == 0 {
		return ge.Code, ""
	}
	return ge.Code, ge.Errors[0].Reason
}

func TestInsertLifecycle(t *testing.T) {
	c := newClients(t, Options{InsertLatency: 50 * time.Millisecond, RunningAfter: 150 * time.Millisecond})
	const zone = "europe-west1-b"
	op, err := c.insert(t, zone, vm("a", zone, true, map[string]string{"k": "v"}), uuid.NewString())
	require.NoError(t, err)
	assert.Equal(t, computepb.Operation_PENDING, op.Proto().GetStatus(), "a new insert is reported PENDING")

	got, err := c.get(t, zone, "a")
	require.NoError(t, err)
	assert.Equal(t, "PROVISIONING", got.GetStatus())
	assert.Empty(t, got.GetNetworkInterfaces()[0].GetAccessConfigs()[0].GetNatIP(), "no NAT IP before RUNNING")
	assert.Regexp(t, `^127\.\d+\.40\.\d+$`, got.GetNetworkInterfaces()[0].GetNetworkIP())
	_, err = time.Parse(time.RFC3339, got.GetCreationTimestamp())
	require.NoError(t, err)

	require.NoError(t, op.Wait(ctxT(t)))
	assert.True(t, op.Done())
	time.Sleep(160 * time.Millisecond)
	got, err = c.get(t, zone, "a")
	require.NoError(t, err)
	assert.Equal(t, "RUNNING", got.GetStatus())
	assert.Regexp(t, `^127\.\d+\.30\.\d+$`, got.GetNetworkInterfaces()[0].GetAccessConfigs()[0].GetNatIP())
	assert.Equal(t, map[string]string{"k": "v"}, got.GetLabels())

	op, err = c.insert(t, zone, vm("private", zone, false, nil), "")
	require.NoError(t, err)
	require.NoError(t, op.Wait(ctxT(t)))
	got, err = c.get(t, zone, "private")
	require.NoError(t, err)
	assert.Empty(t, got.GetNetworkInterfaces()[0].GetAccessConfigs(), "no access config, no NAT IP")
}

func TestRequestIDAndNameUniqueness(t *testing.T) {
	c := newClients(t, Options{})
	const zone = "us-central1-c"
	rid := uuid.NewString()
	first, err := c.insert(t, zone, vm("a", zone, false, nil), rid)
	require.NoError(t, err)
	again, err := c.insert(t, zone, vm("a", zone, false, nil), rid)
	require.NoError(t, err, "the same requestId gets the same operation back")
	assert.Equal(t, first.Name(), again.Name())
	assert.Equal(t, rid, again.Proto().GetClientOperationId())
	assert.Len(t, c.srv.Instances(), 1)

	_, err = c.insert(t, zone, vm("a", zone, false, nil), uuid.NewString())
	code, why := reason(err)
	assert.Equal(t, http.StatusConflict, code)
	assert.Equal(t, "alreadyExists", why)

	_, err = c.insert(t, "us-central1-d", vm("a", "us-central1-d", false, nil), uuid.NewString())
	require.NoError(t, err, "names are unique per zone only")

	_, err = c.insert(t, zone, vm("b", zone, false, nil), uuid.Nil.String())
	code, why = reason(err)
	assert.Equal(t, http.StatusBadRequest, code, "the zero UUID is refused")
	assert.Equal(t, "invalid", why)
}

func TestInsertValidation(t *testing.T) {
	c := newClients(t, Options{})
	const zone = "europe-west1-c"
	tests := []struct {
		name   string
		mutate func(*computepb.Instance)
		want   string
	}{
		{"bad name", func(in *computepb.Instance) { in.Name = proto.String("Bad_Name") }, "resource.name"},
		{"label key uppercase", func(in *computepb.Instance) { in.Labels = map[string]string{"Team": "x"} }, "Label key"},
		{"label value too long", func(in *computepb.Instance) { in.Labels = map[string]string{"k": strings.Repeat("a", 64)} }, "Label value"},
		{"machine type of another zone", func(in *computepb.Instance) {
			in.MachineType = proto.String("zones/europe-west1-b/machineTypes/e2-small")
		}, "machineType"},
		{"aws machine type", func(in *computepb.Instance) {
			in.MachineType = proto.String("zones/" + zone + "/machineTypes/t3.micro")
		}, "does not exist"},
		{"no boot disk", func(in *computepb.Instance) { in.Disks = nil }, "boot disk"},
		{"bad tag", func(in *computepb.Instance) { in.Tags = &computepb.Tags{Items: []string{"Portico"}} }, "tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := vm("ok", zone, false, nil)
			tt.mutate(in)
			_, err := c.insert(t, zone, in, "")
			code, why := reason(err)
			assert.Equal(t, http.StatusBadRequest, code, "%v", err)
			assert.Equal(t, "invalid", why)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	assert.Empty(t, c.srv.Instances())

	_, err := c.insert(t, "mars-east1-b", vm("a", "mars-east1-b", false, nil), "")
	code, _ := reason(err)
	assert.Equal(t, http.StatusNotFound, code)
}

func TestDeleteLifecycle(t *testing.T) {
	c := newClients(t, Options{DeleteLatency: 100 * time.Millisecond})
	const zone = "europe-west1-d"
	op, err := c.insert(t, zone, vm("a", zone, false, nil), "")
	require.NoError(t, err)
	require.NoError(t, op.Wait(ctxT(t)))

	del, err := c.instances.Delete(ctxT(t), &computepb.DeleteInstanceRequest{Project: c.srv.Project(), Zone: zone, Instance: "a"})
	require.NoError(t, err)
	got, err := c.get(t, zone, "a")
	require.NoError(t, err)
	assert.Equal(t, "STOPPING", got.GetStatus())
	require.NoError(t, del.Wait(ctxT(t)))
	_, err = c.get(t, zone, "a")
	code, why := reason(err)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, "notFound", why)

	_, err = c.instances.Delete(ctxT(t), &computepb.DeleteInstanceRequest{Project: c.srv.Project(), Zone: zone, Instance: "a"})
	code, _ = reason(err)
	assert.Equal(t, http.StatusNotFound, code, "deleting a deleted instance is 404")
}
