package gcptest

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"
)

// The format rules Compute Engine enforces on insert. Checking them here
// means a backend that builds an invalid name, label or tag fails in tests
// the way it would fail in production (400 invalid), not silently.
var (
	nameRE          = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	machineTypeRE   = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)+$`)
	labelKeyRE      = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	labelValueRE    = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
	metadataKeyRE   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	maxMetadataSize = 512 * 1024
)

func isURL(s string) bool { return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") }

// validateInstance returns the 400 message for an invalid insert body, or
// "" when the body is acceptable in zone.
func validateInstance(in *computepb.Instance, zone string) string {
	if !nameRE.MatchString(in.GetName()) {
		return fmt.Sprintf("Invalid value for field 'resource.name': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?|[1-9][0-9]{0,19})'", in.GetName())
	}
	if msg := validateMachineType(in.GetMachineType(), zone); msg != "" {
		return msg
	}
	boot := 0
	for _, d := range in.GetDisks() {
		if d.GetBoot() {
			boot++
			if d.GetSource() == "" && d.GetInitializeParams().GetSourceImage() == "" {
				return "Invalid value for field 'resource.disks[0]': ''. Boot disk must have a source specified."
			}
		}
	}
	if boot != 1 {
		return "Invalid value for field 'resource.disks': ''. Exactly one boot disk must be specified."
	}
	if len(in.GetNetworkInterfaces()) == 0 {
		return "Invalid value for field 'resource.networkInterfaces': ''. At least one network interface is required."
	}
	for _, ni := range in.GetNetworkInterfaces() {
		for _, ac := range ni.GetAccessConfigs() {
			if ac.GetType() != "ONE_TO_ONE_NAT" && ac.GetType() != "DIRECT_IPV6" {
				return fmt.Sprintf("Invalid value for field 'resource.networkInterfaces[0].accessConfigs[0].type': '%s'.", ac.GetType())
			}
		}
	}
	if msg := validateLabels(in.GetLabels()); msg != "" {
		return msg
	}
	for _, tag := range in.GetTags().GetItems() {
		if !nameRE.MatchString(tag) {
			return fmt.Sprintf("Invalid value for field 'resource.tags.items[0]': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", tag)
		}
	}
	size := 0
	for _, item := range in.GetMetadata().GetItems() {
		if !metadataKeyRE.MatchString(item.GetKey()) {
			return fmt.Sprintf("Invalid value for field 'resource.metadata.items[0].key': '%s'.", item.GetKey())
		}
		size += len(item.GetKey()) + len(item.GetValue())
	}
	if size > maxMetadataSize {
		return "Invalid value for field 'resource.metadata': ''. Metadata is too large; the limit is 512 KB."
	}
	return ""
}

// validateMachineType accepts "zones/<zone>/machineTypes/<type>", with or
// without a project or URL prefix, when the zone is the instance's.
func validateMachineType(mt, zone string) string {
	i := strings.Index(mt, "zones/")
	if i < 0 {
		return fmt.Sprintf("Invalid value for field 'resource.machineType': '%s'. Must be a URL to a valid Compute resource of the correct type.", mt)
	}
	parts := strings.Split(mt[i:], "/")
	if len(parts) != 4 || parts[2] != "machineTypes" {
		return fmt.Sprintf("Invalid value for field 'resource.machineType': '%s'. Must be a URL to a valid Compute resource of the correct type.", mt)
	}
	if parts[1] != zone {
		return fmt.Sprintf("Invalid value for field 'resource.machineType': '%s'. Machine type zone must match the instance zone '%s'.", mt, zone)
	}
	if !machineTypeRE.MatchString(parts[3]) {
		return fmt.Sprintf("Invalid value for field 'resource.machineType': '%s'. Machine type with name '%s' does not exist in zone '%s'.", mt, parts[3], zone)
	}
	return ""
}

func validateLabels(labels map[string]string) string {
	if len(labels) > 64 {
		return "Invalid value for field 'resource.labels': ''. Resources can have at most 64 labels."
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !labelKeyRE.MatchString(k) {
			return fmt.Sprintf("Invalid value for field 'resource.labels': ''. Label key '%s' violates format constraints. The key must start with a lowercase character, can only contain lowercase letters, numeric characters, underscores and dashes. The key can be at most 63 characters long.", k)
		}
		if !labelValueRE.MatchString(labels[k]) {
			return fmt.Sprintf("Invalid value for field 'resource.labels': ''. Label value '%s' violates format constraints. The value can only contain lowercase letters, numeric characters, underscores and dashes. The value can be at most 63 characters long.", labels[k])
		}
	}
	return ""
}
