package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os/exec"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

var errNoPG = errors.New("TEST_PG_DSN is not set (scripts/bench starts PostgreSQL; or eval \"$(scripts/postgres.sh start)\")")

// freshPG creates an empty database on the TEST_PG_DSN server, so that the
// benchmark never shares tables with tests running on the same server, and
// returns its URL and a func that drops it.
func (h *harness) freshPG(ctx context.Context) (dsn string, drop func(), err error) {
	if h.pg == "" {
		return "", nil, errNoPG
	}
	admin, err := sql.Open("pgx", h.pg)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(h.pg)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop = func() {
		a, err := sql.Open("pgx", h.pg)
		if err != nil {
			return
		}
		defer a.Close()
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = a.ExecContext(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}

// havePsql reports whether the psql client is on PATH.
func havePsql() bool {
	_, err := exec.LookPath("psql")
	return err == nil
}
