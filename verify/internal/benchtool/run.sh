#!/usr/bin/env bash
# Public verification benchmarks (docs/benchmarks.md, "Public verification").
# Needs: PostgreSQL on 127.0.0.1:5432 (trust auth), redis-server, wrk, pgbench.
# Everything runs on loopback; each wrk run is bounded by -d.
set -euo pipefail
cd "$(dirname "$0")/../../.."
N=${N:-100000}
DB=certd_bench
URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
T=${T:-10s}
go build -o /tmp/benchtool ./verify/internal/benchtool
go build -o /tmp/certd ./cmd/certd
psql -qh 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
/tmp/benchtool seed -db "$URL" -n "$N"
redis-server --port 6391 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile /tmp/bench-redis.pid
/tmp/benchtool bare -addr 127.0.0.1:8181 & BARE=$!
/tmp/certd serve --data /tmp/bench-data --database-url "$URL" --redis-url redis://127.0.0.1:6391/0 \
  --addr 127.0.0.1:8180 --public-url http://127.0.0.1:8180 --rate-limit -1 2>/dev/null & CERTD=$!
trap 'kill $BARE $CERTD; kill "$(cat /tmp/bench-redis.pid)"' EXIT
sleep 3
CERT=Y000022000001263000001
curl -s -o /dev/null "http://127.0.0.1:8180/v/$CERT"; curl -s -o /dev/null "http://127.0.0.1:8180/api/v1/certificates/$CERT"
echo "== bare Fiber, 2 KB";           wrk -t2 -c64 -d"$T" --latency http://127.0.0.1:8181/bare
echo "== certd page, cached";         wrk -t2 -c64 -d"$T" --latency "http://127.0.0.1:8180/v/$CERT"
echo "== certd JSON API, cached";     wrk -t2 -c64 -d"$T" --latency "http://127.0.0.1:8180/api/v1/certificates/$CERT"
echo "== certd page, paced (PAUSE=${PAUSE:-1} ms)"
WRK_PAUSE_MS=${PAUSE:-1} wrk -t2 -c64 -d"$T" --latency -s verify/internal/benchtool/paced.lua "http://127.0.0.1:8180/v/$CERT"
echo "== certd JSON API, paced"
WRK_PAUSE_MS=${PAUSE:-1} wrk -t2 -c64 -d"$T" --latency -s verify/internal/benchtool/paced.lua "http://127.0.0.1:8180/api/v1/certificates/$CERT"
echo "== certd JSON API, cold cache (each request a different certificate), PostgreSQL + Redis behind"
redis-cli -p 6391 flushall >/dev/null
kill $CERTD; sleep 1
/tmp/certd serve --data /tmp/bench-data --database-url "$URL" --redis-url redis://127.0.0.1:6391/0 \
  --addr 127.0.0.1:8180 --public-url http://127.0.0.1:8180 --rate-limit -1 2>/dev/null & CERTD=$!
sleep 3
wrk -t2 -c64 -d5s --latency -s verify/internal/benchtool/cold.lua http://127.0.0.1:8180
echo "== pgbench -S on the same machine"
psql -qh 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS pgbench_certd" -c "CREATE DATABASE pgbench_certd"
pgbench -h 127.0.0.1 -U postgres -i -s 10 -q pgbench_certd
pgbench -h 127.0.0.1 -U postgres -S -c 64 -j 2 -T 10 pgbench_certd
