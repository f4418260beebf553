// Package follow follows indexer keys' signed indexes at a directory (issue 15): it polls
// GET /indexes/<key id>/index.json and .minisig (the contract in internal/catalogapi),
// accepts what internal/index's State accepts (no rollback, no equivocation, no expired
// or foreign document, key rotation and self-revocation), keeps the accepted documents
// and the state on disk so that a restart starts from them, logs each refusal once and
// reports an equivocation to the directory (POST /api/v1/reports). Relays that follow
// (seeder) and directories that link another's catalog (catalog/links) both use it; what
// an index means to each is theirs to decide.
package follow
