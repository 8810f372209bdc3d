#!/usr/bin/env bash
# Public verification benchmarks (docs/benchmarks.md, "Public verification").
# Needs: PostgreSQL on 127.0.0.1:5432 (trust auth), redis-server, wrk, pgbench.
# Everything runs on loopback; each wrk run is bounded by -d.
#
#   N=400000     certificates to seed (the cold runs must not repeat a number)
#   SEED=0       reuse the database of an earlier run
#   ROUNDS=3     interleaved rounds; report medians
#   T=8s         length of each run
#   PACED_C=128  connections of the paced runs (each pauses 1 ms between
#                requests), sized to offer about half the bare handler's rate
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-400000}
ROUNDS=${ROUNDS:-3}
T=${T:-8s}
PACED_C=${PACED_C:-128}
DB=certd_bench
URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
export GOTOOLCHAIN=go1.27.3 # the release go.mod asks for, whatever the machine's go is
go build -o /tmp/benchtool ./cmd/benchtool
go build -o /tmp/certd ./cmd/certd
if [ "${SEED:-1}" != 0 ]; then
  psql -qh 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  /tmp/benchtool seed -db "$URL" -n "$N"
  psql -qh 127.0.0.1 -U postgres -d "$DB" -c "VACUUM ANALYZE"
  psql -qh 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS pgbench_certd" -c "CREATE DATABASE pgbench_certd"
  pgbench -h 127.0.0.1 -U postgres -i -s 10 -q pgbench_certd
fi
export CERTS=$N
redis-server --port 6391 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile /tmp/bench-redis.pid
/tmp/benchtool bare -addr 127.0.0.1:8181 & BARE=$!
CERTD=
serve() { # serve [redis]: a fresh certd on :8180 (empty in-process cache)
  if [ -n "$CERTD" ]; then kill "$CERTD"; wait "$CERTD" 2>/dev/null || true; fi
  local r=()
  if [ "${1:-}" = redis ]; then redis-cli -p 6391 flushall >/dev/null; r=(--redis-url redis://127.0.0.1:6391/0); fi
  /tmp/certd serve --data /tmp/bench-data --database-url "$URL" "${r[@]}" \
    --addr 127.0.0.1:8180 --public-url http://127.0.0.1:8180 --rate-limit -1 2>/dev/null & CERTD=$!
  sleep 2.5
}
trap 'kill $BARE $CERTD; kill "$(cat /tmp/bench-redis.pid)"' EXIT
CERT=Y000022000001263000001
run() { # run LABEL wrk-args...: one line with rate, p50, p99
  local out; out=$(wrk -t2 -d"$T" --latency "$@")
  printf '%-34s %s\n' "$LABEL" "$(echo "$out" | awk '/Requests\/sec/{r=$2} / 50%/{p50=$2} / 99%/{p99=$2} /Non-2xx/{e=$NF} END{printf "%10.0f req/s  p50 %-8s p99 %-8s %s", r, p50, p99, (e?"non-2xx "e:"")}')"
}
for round in $(seq "$ROUNDS"); do
  echo "== round $round"
  serve redis
  curl -s -o /dev/null "http://127.0.0.1:8180/v/$CERT"; curl -s -o /dev/null "http://127.0.0.1:8180/api/v1/certificates/$CERT"
  LABEL="bare Fiber, 2 KB"            run -c64 http://127.0.0.1:8181/bare
  LABEL="page, cached"                run -c64 "http://127.0.0.1:8180/v/$CERT"
  LABEL="API, cached"                 run -c64 "http://127.0.0.1:8180/api/v1/certificates/$CERT"
  LABEL="bare, gzip"                  run -c64 -H 'Accept-Encoding: gzip' http://127.0.0.1:8181/bare
  LABEL="page, cached, gzip"          run -c64 -H 'Accept-Encoding: gzip' "http://127.0.0.1:8180/v/$CERT"
  LABEL="page, paced"  WRK_PAUSE_MS=1 run -c"$PACED_C" -s cmd/benchtool/paced.lua "http://127.0.0.1:8180/v/$CERT"
  LABEL="API, paced"   WRK_PAUSE_MS=1 run -c"$PACED_C" -s cmd/benchtool/paced.lua "http://127.0.0.1:8180/api/v1/certificates/$CERT"
  LABEL="cold API, PostgreSQL + Redis" run -c64 -s cmd/benchtool/cold.lua http://127.0.0.1:8180
  serve
  LABEL="cold API, PostgreSQL only"    run -c64 -s cmd/benchtool/cold.lua http://127.0.0.1:8180
  kill "$CERTD"; wait "$CERTD" 2>/dev/null || true; CERTD=
  printf '%-34s %s\n' "pgbench -S -c 64 -j 2" "$(pgbench -h 127.0.0.1 -U postgres -S -c 64 -j 2 -T "${T%s}" pgbench_certd 2>&1 | awk '/^tps/{printf "%10.0f tps", $3}')"
done
