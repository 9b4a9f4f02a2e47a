#!/usr/bin/env bash
# Unknown-key flood (issue 15, item 9): valid-key p99 on /v1/chat/completions alone, then while a second wrk sends
# requests with random made-up keys, against the same `modelgate serve` process (one run, same conditions).
#
#   bench/gateway/flood.sh [path/to/modelgate] [seconds per phase]
#
# The static upstream is the benchmark program's (`serve upstream`); the server runs with its default logging (Information,
# console to a file) so that what a flood writes to the log is measured too. Needs wrk and a Release build of ModelGate and
# bench/ModelGate.Benchmarks. It reports; it never fails on speed.
set -euo pipefail
cd "$(dirname "$0")/../.."
MG=${1:-$PWD/src/ModelGate/bin/Release/net10.0/modelgate}
SECONDS_PER_PHASE=${2:-20}
BENCH=$PWD/bench/ModelGate.Benchmarks/bin/Release/net10.0/ModelGate.Benchmarks
UP_PORT=${UP_PORT:-18181}
MG_PORT=${MG_PORT:-18180}
ADMIN=mg_flood-bench-admin-key-0123456789abcdefghij
DATA=$(mktemp -d)
trap 'kill $UP_PID $MG_PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DATA"' EXIT

"$BENCH" serve upstream --port "$UP_PORT" >"$DATA/upstream.log" 2>&1 & UP_PID=$!
"$MG" serve --urls "http://127.0.0.1:$MG_PORT" --Data:Directory="$DATA/mg" --Security:BootstrapAdminKey="$ADMIN" \
  --Security:AllowedEgress:0=127.0.0.0/8 >"$DATA/server.log" 2>&1 & MG_PID=$!
BASE=http://127.0.0.1:$MG_PORT
for _ in $(seq 1 120); do curl -fs "$BASE/readyz" >/dev/null 2>&1 && curl -s -o /dev/null "http://127.0.0.1:$UP_PORT/" && break; sleep 0.5; done

api() { curl -fsS -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' "$@"; }
CONFIG='{"serving":"flood"}'
SHA=$(printf '%s' "$CONFIG" | sha256sum | cut -d' ' -f1)
api -X POST "$BASE/api/v1/models" -d '{"name":"flood-chat","owner":"bench","riskTier":"low","task":"llm-chat"}' >/dev/null
printf '%s' "$CONFIG" | curl -fsS -X PUT -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/octet-stream' --data-binary @- "$BASE/api/v1/artifacts/$SHA" >/dev/null
api -X POST "$BASE/api/v1/models/flood-chat/versions" \
  -d "{\"version\":\"1.0.0\",\"artifacts\":[{\"sha256\":\"$SHA\",\"fileName\":\"serving.json\"}],\"attestation\":{\"architecture\":\"upstream\",\"trainer\":\"bench\"}}" >/dev/null
api -X POST "$BASE/api/v1/deployments" -d "{\"name\":\"chat\",\"environment\":\"development\",\"model\":\"flood-chat\",\"routing\":{\"stable\":\"1.0.0\",\"backend\":\"upstream\",\"upstreams\":{\"1.0.0\":{\"url\":\"http://127.0.0.1:$UP_PORT/v1\",\"model\":\"bench-model\"}}}}" >/dev/null
KEY=$(api -X POST "$BASE/api/v1/keys" -d '{"name":"flood-valid","roles":["viewer"]}' | sed -E 's/.*"key":"([^"]+)".*/\1/')

cat >"$DATA/valid.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"chat","messages":[{"role":"user","content":"Say hello."}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
cat >"$DATA/flood.lua" <<'LUA'
local chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  local t = {}
  for i = 1, 43 do local n = math.random(1, #chars); t[i] = chars:sub(n, n) end
  return wrk.format("POST", "/v1/chat/completions", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer mg_" .. table.concat(t) },
    '{"model":"chat","messages":[{"role":"user","content":"Say hello."}]}')
end
LUA

p99() { grep -E '^ +99%' "$1" | awk '{print $2}'; }
rps() { grep -E '^Requests/sec' "$1" | awk '{print $2}'; }
wrk -t1 -c8 -d5s -s "$DATA/valid.lua" "$BASE/v1/chat/completions" >/dev/null # warm-up
LOG0=$(stat -c %s "$DATA/server.log")
read -r L1 _ < /proc/loadavg
wrk -t1 -c8 -d"${SECONDS_PER_PHASE}s" --latency -s "$DATA/valid.lua" "$BASE/v1/chat/completions" >"$DATA/alone.txt"
LOG1=$(stat -c %s "$DATA/server.log")
wrk -t1 -c32 -d"${SECONDS_PER_PHASE}s" --latency -s "$DATA/flood.lua" "$BASE/v1/chat/completions" >"$DATA/flood.txt" & FLOOD=$!
wrk -t1 -c8 -d"${SECONDS_PER_PHASE}s" --latency -s "$DATA/valid.lua" "$BASE/v1/chat/completions" >"$DATA/with.txt"
wait $FLOOD
LOG2=$(stat -c %s "$DATA/server.log")
read -r L2 _ < /proc/loadavg
echo "| phase | valid-key rps | valid-key p99 | flood rps (refused) | server log written |"
echo "|---|---|---|---|---|"
echo "| valid key alone | $(rps "$DATA/alone.txt") | $(p99 "$DATA/alone.txt") | – | $(( (LOG1 - LOG0) / 1024 )) KiB |"
echo "| valid key + unknown-key flood | $(rps "$DATA/with.txt") | $(p99 "$DATA/with.txt") | $(rps "$DATA/flood.txt") | $(( (LOG2 - LOG1) / 1024 )) KiB |"
echo
echo "binary: $MG; ${SECONDS_PER_PHASE} s per phase; 1-minute load average before/after: $L1 / $L2 on $(nproc) cores"
grep -c "Refused" "$DATA/server.log" | sed 's/^/refusal summary lines in the server log: /'
grep -E "non-2xx|Socket errors" "$DATA/with.txt" "$DATA/alone.txt" || true
