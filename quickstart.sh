#!/usr/bin/env bash
# Starts ModelGate on its embedded default (SQLite and local files under ./data), shows it working by
# registering a real model end to end, then keeps serving until Ctrl+C.
set -euo pipefail
cd "$(dirname "$0")"
export MODELGATE_URL="${MODELGATE_URL:-http://localhost:5180}"
data="${MODELGATE_DATA:-./data}"

echo "Building ModelGate (Release)…"
dotnet build src/ModelGate -c Release -nologo -v quiet
log="$(mktemp)"
# Upstreams, webhooks and hooks on this machine (a local LLM server, a test receiver) are reachable only because of
# Security:AllowedEgress; without it ModelGate connects to public addresses only.
dotnet src/ModelGate/bin/Release/net10.0/modelgate.dll serve --data "$data" --urls "$MODELGATE_URL" \
  --Security:AllowedEgress:0=127.0.0.0/8 --Security:AllowedEgress:1=::1/128 > >(tee "$log") 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 120); do
  grep -q "ModelGate listening" "$log" && break
  kill -0 $server 2>/dev/null || { echo "ModelGate did not start"; exit 1; }
  sleep 0.5
done

key=$(sed -n 's/^admin key: \(mg_[^ ]*\)$/\1/p' "$log" | head -n 1)
if [ -n "$key" ]; then
  export MODELGATE_TOKEN="$key"
elif [ -z "${MODELGATE_TOKEN:-}" ]; then
  echo
  echo "$data already holds a ModelGate store, so no new admin key was printed."
  echo "Set MODELGATE_TOKEN to the admin key printed on its first start (or remove $data) to run the walk-through."
  echo "Serving on $MODELGATE_URL; Ctrl+C stops it."
  wait $server
  exit 0
fi

echo
examples/adult-income/register.sh
echo
echo "ModelGate is serving on $MODELGATE_URL (data: $data). Try, in another terminal:"
echo "  export MODELGATE_URL=$MODELGATE_URL MODELGATE_TOKEN=$MODELGATE_TOKEN"
echo "  dotnet src/ModelGate/bin/Release/net10.0/modelgate.dll model list"
echo "Ctrl+C stops it."
wait $server
