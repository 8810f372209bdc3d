// Package publog runs certd's public log (package tlog) inside certd: the
// log key (sealed under the KEK, kept in the database), the one sequencer
// that drains the outbox into the log, the local witness of a lone
// deployment, proofs by certificate number, and the auditor that matches the
// log against the database. docs/tlog.md explains the log itself.
package publog
