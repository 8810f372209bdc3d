// Package tlogtest holds the end-to-end test of the public log (issue 11):
// certd issuing, revoking, reissuing and rotating keys with the log, three
// witnesses on loopback and a quorum of two, every proof verified, and
// every tampering the issue names caught by the auditor or the verifier.
// It is a package of its own so that the issuer's tests stay lean.
package tlogtest
