package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenReplicaForTest opens a store on a replica without migrating it (a
// standby cannot be written), to read it directly.
func OpenReplicaForTest(ctx context.Context, url string) (*Store, error) {
	p, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	return &Store{pool: p}, nil
}
