// Package models holds the plain types Portico passes between its layers:
// gateway specs, gateway and replica records, their statuses, and events.
// It does no I/O and imports nothing of ours, so every other package can
// depend on it without cycles.
package models
