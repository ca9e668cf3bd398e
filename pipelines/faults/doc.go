// Package faults holds Portico's fault-injection suite: the reliability
// scenarios of ../shared/notes/reliability-scenarios.md that need no server
// farm (1–15, 21–25 and the SQLite checks), in its tests only.
//
// Every scenario runs the real AWS backend (the real SDK over HTTP) against
// the in-process EC2 fake (backends/awstest), on real stores: a SQLite file
// and, through storetest.Each, PostgreSQL (TEST_PG_DSN). Crashes are
// injected at exact points of a launch with the fake's hooks, either by
// cancelling an engine's context and starting a fresh one, or by a real
// `kill -9` of a `portico apply` process built from cmd/portico. Each
// scenario ends by checking the global invariants:
//
//   - I1: per gateway, the live instances tagged with it equal its desired
//     replicas (0 once deleted);
//   - I2: every live instance of this installation has a live record;
//   - I3: no unfinished record points at a terminated instance;
//   - I4: no lease column is set once the system is idle.
//
// Run it with: go test -race ./pipelines/faults/ (set TEST_PG_DSN for the
// PostgreSQL half; -short skips the scenarios that drive the binary).
package faults
