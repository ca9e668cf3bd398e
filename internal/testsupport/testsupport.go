// Package testsupport holds what several packages' tests share: the real
// portico binary built once per test process, the environment that points
// it (and the AWS SDK) at an in-process EC2 fake, and a log buffer safe for
// concurrent writers. Nothing here is used outside tests.
package testsupport

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/portico-dev/portico/gateways"
	"github.com/portico-dev/portico/models"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// Run runs a package's tests and then removes the binary Binary built; a
// TestMain calls os.Exit(testsupport.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	return code
}

// Binary builds cmd/portico once per test process, into a fresh temporary
// directory, and returns its path. It skips the test under -short: building
// takes seconds.
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("drives the real portico binary; skipped with -short")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "portico-test-bin")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "portico")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/portico")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/portico: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// moduleRoot is the repository root, two directories above this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AWSEnv points the AWS SDK's standard chain at an EC2 fake: its endpoint,
// static fake keys, and no shared config or instance metadata service, so
// nothing is ever read from the machine or dialled beyond loopback.
func AWSEnv(endpoint string) []string {
	return []string{
		"AWS_ENDPOINT_URL_EC2=" + endpoint, "AWS_ACCESS_KEY_ID=fake", "AWS_SECRET_ACCESS_KEY=fake",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
	}
}

// SyncBuffer collects log lines from concurrent writers for assertions.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Apply plans and applies spec the way `portico apply -y` does, failing
// the test on any error, and returns the gateway as written.
func Apply(t testing.TB, svc *gateways.Service, spec models.Spec) *models.Gateway {
	t.Helper()
	plan, _, err := svc.Plan(context.Background(), spec, false)
	if err != nil {
		t.Fatalf("plan %s: %v", spec.Name, err)
	}
	g, _, err := svc.Apply(context.Background(), spec, plan)
	if err != nil {
		t.Fatalf("apply %s: %v", spec.Name, err)
	}
	return g
}
