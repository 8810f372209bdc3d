// Package tlog is certd's public, tamper-evident log of everything it signs.
//
// Every certificate issued, revoked or reissued, every registration version
// and every institution key added or retired becomes one Entry in an
// append-only Merkle log in the C2SP tlog-tiles layout, written with tessera
// (github.com/transparency-dev/tessera) to plain files. An entry holds no
// personal data: kinds, ids, codes, a day, and SHA-256 commitments (see
// CommitNumber and CommitRecord).
//
// The pieces:
//
//   - Entry, Encode, DecodeEntry: the versioned, canonical entry format.
//   - Open, Log: the one process that appends (the sequencer). Checkpoints are
//     signed with the log key and published only once the Policy's quorum of
//     witnesses has cosigned them (package witness runs a witness).
//   - Reader: anyone who reads the directory: proofs (C2SP tlog-proof) and
//     the public files with their cache headers.
//   - Policy: the C2SP tlog-policy a verifier trusts; VerifyProof checks a
//     proof offline against it.
//   - Monitor: replays a log from its public files only and checks it is
//     append-only and hashes to its checkpoint.
//
// docs/tlog.md explains what the log proves and what it does not.
package tlog
