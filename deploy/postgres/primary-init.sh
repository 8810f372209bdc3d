#!/bin/sh
# Runs once, when the primary's volume is empty (the postgres image runs
# /docker-entrypoint-initdb.d/* after initdb, as the postgres user). Makes:
#   - certd: owns the certd database and nothing else (not a superuser);
#     its password is the last field of the pgpass line certd itself reads;
#   - replicator: may stream WAL to the replica and nothing else.
# The image may source this file rather than run it, so no "exit" here.
set -e

certd_pw=$(cut -d: -f5- /run/secrets/certd_pgpass | head -n 1)
repl_pw=$(head -n 1 /run/secrets/replication_password)
if [ -z "$certd_pw" ] || [ -z "$repl_pw" ]; then
	echo "primary-init.sh: deploy/secrets/certd_pgpass or replication_password is empty" >&2
	false
fi

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
	--set certd_pw="$certd_pw" --set repl_pw="$repl_pw" <<'SQL'
CREATE ROLE certd LOGIN PASSWORD :'certd_pw';
CREATE DATABASE certd OWNER certd;
REVOKE ALL ON DATABASE certd FROM PUBLIC;
CREATE ROLE replicator REPLICATION LOGIN PASSWORD :'repl_pw';
SQL

# The image's pg_hba.conf lets every role in over the network with a
# password, but "all" does not cover replication connections.
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
