// Package storetest opens real, throw-away stores for tests: a SQLite file
// in the test's temp directory and, when TEST_PG_DSN names a PostgreSQL
// server (scripts/postgres.sh starts one), a fresh database on it. Tests
// that run on Each pass on both dialects.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/gateways/store"
)

// Each runs fn once per available database, as subtests named sqlite and
// postgres.
func Each(t *testing.T, fn func(t *testing.T, dsn string, st *store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		dsn := SQLite(t)
		fn(t, dsn, Open(t, dsn))
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := Postgres(t)
		fn(t, dsn, Open(t, dsn))
	})
}

// Open opens dsn and closes it when the test ends.
func Open(t testing.TB, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// SQLite returns the path of a new database file in the test's temp dir.
func SQLite(t testing.TB) string {
	return filepath.Join(t.TempDir(), "portico.db")
}

// Postgres creates a fresh database on the TEST_PG_DSN server and returns
// its URL; it skips the test when no server is configured. CI always sets
// TEST_PG_DSN, so these tests never silently skip there.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_PG_DSN")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_PG_DSN is not set in CI: .ci/run must start PostgreSQL (scripts/postgres.sh)")
		}
		t.Skip("TEST_PG_DSN not set; start one with: eval \"$(scripts/postgres.sh start)\"")
	}
	admin, err := sql.Open("pgx", base)
	require.NoError(t, err)
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	_, err = admin.Exec("CREATE DATABASE " + name)
	require.NoError(t, err)
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}
