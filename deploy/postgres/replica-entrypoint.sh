#!/bin/sh
# The streaming replica's entrypoint (compose.yaml runs it as the postgres
# user). On an empty volume it copies the primary with pg_basebackup -R, which
# also writes standby.signal and primary_conninfo, so PostgreSQL starts as a
# hot standby that follows the primary. certd does not read from it yet: see
# CERTD_DATABASE_REPLICA_URLS in compose.yaml.
set -eu

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	PGPASSWORD=$(head -n 1 /run/secrets/replication_password)
	export PGPASSWORD
	until pg_isready -q -h db-primary -p 5432; do
		echo "replica: waiting for db-primary" >&2
		sleep 1
	done
	# A copy interrupted earlier is useless: start again from nothing.
	rm -rf "$PGDATA"
	pg_basebackup -h db-primary -p 5432 -U replicator -D "$PGDATA" \
		-R -X stream --checkpoint=fast --progress
	unset PGPASSWORD
fi
chmod 0700 "$PGDATA"
exec postgres
