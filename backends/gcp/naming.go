package gcp

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/portico-dev/portico/backends"
)

// nameRE is the rule for Compute Engine resource names (RFC 1035 labels).
var nameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

// requestIDNamespace is the fixed UUIDv5 namespace of Portico's requestIds.
// It must never change: a retry after an upgrade has to send the requestId
// the previous version sent.
var requestIDNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/portico-dev/portico/backends/gcp#requestId"))

// metadataToken is the metadata key holding the full token, since a label
// value (63 characters at most) cannot always hold it.
const metadataToken = "portico-token"

// InstanceName is the instance name for a replica attempt:
// portico-<gateway>-<replica>-<first 8 hex digits of sha256(token)>. It is
// deterministic, so that a second insert for the same token collides (409)
// with the first instead of starting a twin, and it is a valid GCE name of
// at most 63 characters (the gateway part is shortened when needed).
func InstanceName(gateway string, replica int, token string) string {
	sum := sha256.Sum256([]byte(token))
	suffix := "-" + strconv.Itoa(replica) + "-" + hex.EncodeToString(sum[:4])
	gw := sanitize(strings.ToLower(gateway), '-')
	if room := 63 - len("portico-") - len(suffix); len(gw) > room {
		gw = gw[:max(room, 0)]
	}
	return "portico-" + gw + suffix
}

// RequestID is the requestId of the first insert of token's instance in
// zone: a UUIDv5, so that every retry of that insert (in this process or
// the next) sends the same value and the server acts once. It differs per
// zone because a move to another zone is a different request.
func RequestID(token, zone string) string {
	return uuid.NewSHA1(requestIDNamespace, []byte(token+"\x00"+zone)).String()
}

// chainRequestID derives the requestId of the next try in a zone after an
// operation (named opName) that failed: the server would answer the old
// requestId with the old, failed operation forever.
func chainRequestID(prev, opName string) string {
	return uuid.NewSHA1(requestIDNamespace, []byte(prev+"\x00"+opName)).String()
}

// labelValue fits s to the GCE label value rules: lowercase letters,
// digits, '_' and '-', at most 63 characters. A value that is too long is
// cut and given a hash suffix, so distinct values stay distinct.
func labelValue(s string) string {
	v := sanitize(strings.ToLower(s), '_')
	if len(v) > 63 {
		sum := sha256.Sum256([]byte(s))
		v = v[:54] + "-" + hex.EncodeToString(sum[:4])
	}
	return v
}

// labelKey fits k to the GCE label key rules (as labelValue, and starting
// with a lowercase letter); "" means the key cannot be used.
func labelKey(k string) string {
	k = sanitize(strings.ToLower(k), '_')
	if k == "" {
		return ""
	}
	if k[0] < 'a' || k[0] > 'z' {
		k = "x-" + k
	}
	if len(k) > 63 {
		k = k[:63]
	}
	return k
}

// sanitize replaces every character outside [a-z0-9_-] with repl.
func sanitize(s string, repl byte) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') || (repl == '-' && c == '_') {
			b[i] = repl
		}
	}
	return string(b)
}

// labels are an instance's labels: the configured extras, then the spec's
// tags, then Portico's own, which nothing overrides. GCE allows 64 labels;
// extras and tags beyond that are dropped in key order.
func labels(req backends.LaunchRequest, extra map[string]string) map[string]string {
	own := map[string]string{
		backends.TagGateway: labelValue(req.Gateway),
		backends.TagReplica: strconv.Itoa(req.ReplicaNum),
		backends.TagToken:   labelValue(req.Token),
		backends.TagInstall: labelValue(req.Install),
	}
	out := map[string]string{}
	for _, src := range []map[string]string{extra, req.Tags} {
		for _, k := range slices.Sorted(maps.Keys(src)) {
			key := labelKey(k)
			if key == "" || strings.HasPrefix(key, "portico-") {
				continue
			}
			if _, ok := out[key]; ok || len(out) < 64-len(own) {
				out[key] = labelValue(src[k])
			}
		}
	}
	maps.Copy(out, own)
	return out
}
