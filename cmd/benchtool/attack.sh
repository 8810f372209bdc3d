#!/usr/bin/env bash
# Cached verification while an anonymous client sends the costliest public
# inputs at the public rate limit (docs/benchmarks.md, "Under attack").
# Needs the database run.sh seeds (run it once, or SEED=1 here), wrk.
#
#   T=20s      length of each measured run
#   RATE=10    attacker's requests per second (600 a minute: the default limit)
#   ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${T:-20s}
RATE=${RATE:-10}
ROUNDS=${ROUNDS:-3}
DB=certd_bench
URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
export GOTOOLCHAIN=go1.27.3
go build -o /tmp/benchtool ./cmd/benchtool
go build -o /tmp/certd ./cmd/certd
if [ "${SEED:-0}" != 0 ]; then
  psql -qh 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  /tmp/benchtool seed -db "$URL" -n "${N:-400000}"
fi
CERT=Y000022000001263000001
/tmp/certd serve --data /tmp/bench-data --database-url "$URL" --addr 127.0.0.1:8180 \
  --public-url http://127.0.0.1:8180 --rate-limit 600 --trusted-proxies 127.0.0.1 2>/dev/null & CERTD=$!
trap 'kill $CERTD 2>/dev/null' EXIT
sleep 2.5
curl -s -o /dev/null "http://127.0.0.1:8180/v/$CERT"
rss() { awk '/VmRSS/{print int($2/1024)}' "/proc/$CERTD/status"; }
page() { wrk -t2 -c64 -d"$T" --latency -s cmd/benchtool/manyclients.lua "http://127.0.0.1:8180/v/$CERT" |
  awk '/Requests\/sec/{r=$2} / 99%/{p99=$2} /Non-2xx/{e=$NF} END{printf "%8.0f req/s  p99 %-8s %s", r, p99, (e?"non-2xx "e:"")}'; }
for round in $(seq "$ROUNDS"); do
  echo "== round $round (RSS before: $(rss) MB)"
  printf '%-28s %s\n' "page, cached, no attack" "$(page)"
  first=$((300001 + (round - 1) * 20000))
  /tmp/benchtool attack -url http://127.0.0.1:8180 -rate "$RATE" -d "$T" -first "$first" > /tmp/attack.out & ATT=$!
  max=0
  ( while kill -0 $ATT 2>/dev/null; do r=$(rss); [ "$r" -gt "$max" ] && max=$r && echo "$max" > /tmp/attack.rss; sleep 0.5; done ) & MON=$!
  printf '%-28s %s\n' "page, cached, under attack" "$(page)"
  wait $ATT; wait $MON 2>/dev/null || true
  sed 's/^/  /' /tmp/attack.out
  echo "  certd peak RSS during the attack: $(cat /tmp/attack.rss) MB"
done
