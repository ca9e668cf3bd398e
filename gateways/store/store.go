// Package store keeps Portico's state (gateways, replicas, events, server
// members) in SQLite or PostgreSQL. Both dialects share one schema, one set of
// migrations and, where the dialects allow, one set of queries. Slow work is
// guarded by leases on rows rather than by long transactions; see lease.go.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrNotFound is returned when a named gateway does not exist.
var ErrNotFound = errors.New("not found")

// Store is the state of one Portico installation.
type Store struct {
	db  *sql.DB
	d   dialect
	dsn string
	// queries caches each portable query rewritten for this dialect.
	queries sync.Map
}

// Open connects to the database named by dsn and brings its schema up to
// date. dsn is a postgres:// URL or a SQLite file path (optionally prefixed
// with sqlite://). A new SQLite file and its directory are created private to
// the user (0600 and 0700).
func Open(ctx context.Context, dsn string) (*Store, error) {
	s := &Store{dsn: dsn}
	var err error
	switch {
	case IsPostgres(dsn):
		s.d = postgresDialect
		s.db, err = sql.Open(s.d.driver, dsn)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", Redact(dsn), err)
		}
		s.db.SetMaxOpenConns(16)
		s.db.SetConnMaxIdleTime(time.Minute)
	default:
		s.d = sqliteDialect
		path := strings.TrimPrefix(dsn, "sqlite://")
		if err := preparePrivateFile(path); err != nil {
			return nil, err
		}
		s.db, err = sql.Open(s.d.driver, sqliteURL(path))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		s.db.SetMaxOpenConns(8)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("connect to %s: %w", Redact(dsn), err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("migrate %s: %w", Redact(dsn), err)
	}
	return s, nil
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Redact hides the password of a database URL, for printing and logging.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	if _, ok := u.User.Password(); u.User != nil && ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// sqliteURL sets what every connection needs: WAL for concurrent readers,
// a busy timeout instead of "database is locked", foreign keys, and
// BEGIN IMMEDIATE so a read-then-write transaction never fails to upgrade.
func sqliteURL(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

func preparePrivateFile(path string) error {
	if path == "" {
		return errors.New("empty database path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return f.Close()
}

func (s *Store) migrate(ctx context.Context) error {
	fsys, err := dialectMigrations(s.d)
	if err != nil {
		return err
	}
	var opts []goose.ProviderOption
	if s.d.name == "postgres" {
		// Servers starting together must not migrate at once.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 120))
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(s.d.goose, s.db, fsys, opts...)
	if err != nil {
		return err
	}
	// The common case, an up-to-date schema, takes no lock at all.
	if pending, err := p.HasPending(ctx); err == nil && !pending {
		return nil
	}
	if s.d.name == "sqlite" {
		unlock, err := flockPath(strings.TrimPrefix(s.dsn, "sqlite://") + ".migrate.lock")
		if err != nil {
			return err
		}
		defer unlock()
	}
	_, err = p.Up(ctx)
	return err
}

// dialectMigrations renders the shared migration files for one dialect.
func dialectMigrations(d dialect) (fs.FS, error) {
	out := fstest.MapFS{}
	err := fs.WalkDir(migrationFiles, "migrations", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := migrationFiles.ReadFile(path)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(b), "{{id}}", d.id)
		out[strings.TrimPrefix(path, "migrations/")] = &fstest.MapFile{Data: []byte(text), Mode: 0o444}
		return nil
	})
	return out, err
}

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// Dialect names the database kind: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// DSN returns the database location with any password redacted.
func (s *Store) DSN() string { return Redact(s.dsn) }

// DB exposes the handle for tests and benchmarks that seed data in bulk.
func (s *Store) DB() *sql.DB { return s.db }

// Rebind rewrites a query written with ? placeholders (and {now}) for this
// store's dialect, for code that writes through DB().
func (s *Store) Rebind(query string) string { return s.q(query) }

// q returns a query rewritten for this dialect. Queries are constant
// strings, so each is rewritten once; hot paths (claims, renewals) then do
// no string work.
func (s *Store) q(query string) string {
	if r, ok := s.queries.Load(query); ok {
		return r.(string)
	}
	r := s.d.rebind(query)
	s.queries.Store(query, r)
	return r
}

// Now returns the database clock.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	var ms int64
	if err := s.db.QueryRowContext(ctx, s.q("SELECT {now}")).Scan(&ms); err != nil {
		return time.Time{}, err
	}
	return fromMillis(ms), nil
}

// InstallID returns this installation's id, creating it on first use. It
// tags every instance Portico creates, so that an installation lists and
// sweeps only its own, and keys the SipHash that shards gateways over servers.
func (s *Store) InstallID(ctx context.Context) (string, error) {
	return s.setting(ctx, "install_id", func() string {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	})
}

// ShardKey returns the per-installation 128-bit SipHash key, created once.
func (s *Store) ShardKey(ctx context.Context) ([]byte, error) {
	v, err := s.setting(ctx, "shard_key", func() string {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	})
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(v)
}

// setting returns a settings value, inserting gen() when absent. Concurrent
// first calls agree on one value: the insert does nothing on conflict and
// everybody reads back what won.
func (s *Store) setting(ctx context.Context, key string, gen func() string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q("SELECT value FROM settings WHERE key = ?"), key).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	if _, err := s.db.ExecContext(ctx, s.q("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"), key, gen()); err != nil {
		return "", err
	}
	err = s.db.QueryRowContext(ctx, s.q("SELECT value FROM settings WHERE key = ?"), key).Scan(&v)
	return v, err
}
