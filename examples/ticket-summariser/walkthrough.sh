#!/usr/bin/env bash
# Seed 000's ticket summariser through every gate under the default policy (no policy is written):
#   prompt 1.0.0 → evaluation (ROUGE against human references, an LLM judge, latency and cost per 1,000 requests)
#   → card → staging verification → approvals by an ml-lead and a product owner → production;
#   prompt 1.1.0 → evaluation compared with production → the same gates → a 10 % canary judged on feedback, a business
#   metric and cost → promotion; then 1.0.0 is retired and its archive verified.
# tests/ModelGate.Tests/Lifecycle/TicketSummariserWalkthroughTests.cs walks the same path on the same files.
#
# Needs a running server that may reach the upstream; for the local stand-in (the default):
#   modelgate serve --data ./data --Security:AllowedEgress:0=127.0.0.1/32
# MODELGATE_URL (default http://localhost:5180) and MODELGATE_TOKEN: an admin key (it creates the people below).
# UPSTREAM_URL, UPSTREAM_MODEL, UPSTREAM_KEY: an OpenAI-compatible server (default: the stand-in, started here);
# JUDGE_URL, JUDGE_MODEL, JUDGE_KEY: the judge (default: the upstream). Needs curl for the application's traffic.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/examples/ticket-summariser"
dll="$root/src/ModelGate/bin/Release/net10.0/modelgate.dll"
[ -f "$dll" ] || dotnet build "$root/src/ModelGate" -c Release -nologo -v quiet
export MODELGATE_URL="${MODELGATE_URL:-http://localhost:5180}"
admin="${MODELGATE_TOKEN:?set MODELGATE_TOKEN to an admin key}"
model="${MODEL:-ticket-summariser}"
staging="$model-staging"
production="$model-prod"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

mg() { dotnet "$dll" "$@"; }
declare -A keys
# as PERSON modelgate-arguments…: the command as that person types it, with their own key.
as() { local who=$1; shift; echo "+ [$who] modelgate $*" >&2; MODELGATE_TOKEN="${keys[$who]}" dotnet "$dll" "$@"; }
# A top-level string member of a command's -o json output.
member() { sed -n "s/^  \"$1\": \"\([^\"]*\)\".*/\1/p" | head -n 1; }
step() { printf '\n== %s\n' "$*"; }

if [ -z "${UPSTREAM_URL:-}" ]; then
  step "the stand-in upstream (examples/ticket-summariser/stand-in-upstream.cs)"
  dotnet run "$here/stand-in-upstream.cs" & pids+=($!)
  UPSTREAM_URL=http://127.0.0.1:5199/v1 UPSTREAM_MODEL=stand-in
  for _ in $(seq 120); do curl -s -o /dev/null -X POST "$UPSTREAM_URL/chat/completions" && break; sleep 1; done
fi
export UPSTREAM_KEY="${UPSTREAM_KEY:-none}" JUDGE_KEY="${JUDGE_KEY:-${UPSTREAM_KEY:-none}}"
upstream=(--upstream-url "$UPSTREAM_URL" --upstream-model "${UPSTREAM_MODEL:?set UPSTREAM_MODEL}" --api-key-env UPSTREAM_KEY
  --input-price 0.00015 --output-price 0.0006)
sed -e "s#JUDGE_URL#${JUDGE_URL:-$UPSTREAM_URL}#" -e "s#JUDGE_MODEL#${JUDGE_MODEL:-$UPSTREAM_MODEL}#" "$here/suite.json" > "$work/suite.json"
evaluate=(--suite "$work/suite.json" --dataset "$here/tickets.jsonl" --upstream "$UPSTREAM_URL" --upstream-model "$UPSTREAM_MODEL"
  --upstream-key-env UPSTREAM_KEY --input-price 0.00015 --output-price 0.0006 --judge-key-env JUDGE_KEY)
approval=(--risks "A summary can drop a secondary request." --monitoring-plan "Feedback score and error-rate alerts on $production."
  --rollback-plan "modelgate rollback $production" --next-review "$(date -u -d '+180 days' +%F 2>/dev/null || date -u -v+180d +%F)")

step "the people: each acts with their own key; the approving roles are held by people, granted by the admin"
for person in alice:trainer eve:evaluator lee:ml-lead mo:ml-lead pat:product-owner dan:deployer; do
  name=${person%%:*} role=${person#*:}
  MODELGATE_TOKEN=$admin mg principals show "$name@example.com" >/dev/null 2>&1 ||
    MODELGATE_TOKEN=$admin mg principals create --identity "$name@example.com" --display-name "$name" --role "$role" >/dev/null
  keys[$name]=$(MODELGATE_TOKEN=$admin mg key create --name "$name-walkthrough" --role "$role" --principal "$name@example.com" -o json | member key)
  echo "$name ($role)"
done

step "1.0.0: a prompt-only version; the server stores its template as a content-addressed artifact"
as alice model create "$model" --owner support-tools --risk-tier medium --task llm-chat --license proprietary \
   --description "One-line summaries of support tickets"
as alice version create "$model" 1.0.0 --attestation "$here/attestation-v1.json"

step "evaluated: ROUGE against the human references, the judge, latency p95 and cost per 1,000 requests"
v1_eval=$(as eve eval run "$model@1.0.0" "${evaluate[@]}" -o json | member id)
as eve eval show "$model@1.0.0" "$v1_eval"
as lee promote "$model@1.0.0" --to evaluated

step "registered: the model card"
as alice model card set "$model@1.0.0" "$here/card.yaml"
as lee promote "$model@1.0.0" --to registered

step "staging: a staging deployment on the upstream, then the verification through it"
as dan deployment create "$staging" --environment staging --model "$model" --stable 1.0.0 --backend upstream "${upstream[@]}"
as lee promote "$model@1.0.0" --to staging
v1_staging=$(as dan staging verify "$model@1.0.0" --requests 40 -o json | member id)

step "production: the gate lists what is missing; a medium-risk release needs an ml-lead and a product owner"
as lee promote "$model@1.0.0" --to production --dry-run || true
as mo approve "$model@1.0.0" --role ml-lead --evidence "$v1_eval" "$v1_staging" "${approval[@]}"
as pat approve "$model@1.0.0" --role product-owner --evidence "$v1_eval" "$v1_staging" "${approval[@]}"
as lee promote "$model@1.0.0" --to production
as dan deployment create "$production" --environment production --model "$model" --stable 1.0.0 --backend upstream "${upstream[@]}"

step "the application: any OpenAI client, the ticket passed as a prompt variable"
app=$(MODELGATE_TOKEN=$admin mg key create --name ticket-app --role viewer --deployments "$production" -o json | member key)
ticket=$(sed -n 1p "$here/tickets.jsonl" | sed 's/.*"ticket": \("[^"]*"\).*/\1/')
curl -s "$MODELGATE_URL/v1/chat/completions" -H "Authorization: Bearer $app" -H 'Content-Type: application/json' \
  -d "{\"model\": \"$production\", \"messages\": [], \"prompt_variables\": {\"ticket\": $ticket}}"
echo

step "1.1.0: a new prompt, and the diff the reviewers read"
as alice version create "$model" 1.1.0 --attestation "$here/attestation-v2.json"
as lee version diff "$model@1.0.0" "$model@1.1.0"

step "evaluated against production (1.0.0) on the same rows, its answers reused from its stored run"
v2_eval=$(as eve eval run "$model@1.1.0" "${evaluate[@]}" -o json | member id)
as lee promote "$model@1.1.0" --to evaluated
as alice model card set "$model@1.1.0" "$here/card.yaml"
as lee promote "$model@1.1.0" --to registered
as dan deployment set-upstream "$staging" 1.1.0 "${upstream[@]}"
as dan deployment set-route "$staging" --stable 1.1.0 --candidate 1.0.0=0
as lee promote "$model@1.1.0" --to staging
v2_staging=$(as dan staging verify "$model@1.1.0" --requests 40 -o json | member id)
as mo approve "$model@1.1.0" --role ml-lead --evidence "$v2_eval" "$v2_staging" "${approval[@]}"
as pat approve "$model@1.1.0" --role product-owner --evidence "$v2_eval" "$v2_staging" "${approval[@]}"
as lee promote "$model@1.1.0" --to production

step "the canary: 10 % of production to 1.1.0, judged every 60 s on errors, latency, cost, feedback and 'resolved'"
as dan deployment set-upstream "$production" 1.1.0 "${upstream[@]}"
as dan rollout start "$production" --candidate 1.1.0 --steps 10 --interval 60 --minimum-requests 20 \
   --metric resolved:decrease:critical
# The application's traffic, and what the support team reports back on each summary a little later (a score, and whether
# the ticket was resolved without being reopened: 1.1.0's do a little better), until the rollout ends.
traffic() {
  local i=0 headers id version pending=() good resolved
  mapfile -t tickets < <(sed 's/.*"ticket": \("[^"]*"\).*/\1/' "$here/tickets.jsonl")
  while :; do
    headers=$(curl -s -o /dev/null -D - "$MODELGATE_URL/v1/chat/completions" -H "Authorization: Bearer $app" -H 'Content-Type: application/json' \
      -d "{\"model\": \"$production\", \"messages\": [], \"prompt_variables\": {\"ticket\": ${tickets[$((i % ${#tickets[@]}))]}}}")
    id=$(printf '%s' "$headers" | sed -n 's/^x-modelgate-request-id: *\([^[:space:]]*\).*/\1/ip')
    version=$(printf '%s' "$headers" | sed -n 's/^x-modelgate-version: *\([^[:space:]]*\).*/\1/ip')
    [ -n "$id" ] && pending+=("$id $version $i")
    if [ ${#pending[@]} -gt 20 ]; then # feedback on the request sent 20 requests ago, which the request log has by now
      read -r id version k <<< "${pending[0]}"
      pending=("${pending[@]:1}")
      good=$(( k % 10 < 7 )) resolved=$(( k % 10 < 3 ))
      if [ "$version" = 1.1.0 ]; then good=$(( k % 10 < 8 )) resolved=$(( k % 10 < 4 )); fi
      curl -s -o /dev/null "$MODELGATE_URL/api/v1/feedback" -H "Authorization: Bearer $app" -H 'Content-Type: application/json' \
        -d "{\"requestId\": \"$id\", \"score\": $good, \"metric\": \"resolved\", \"value\": $resolved}"
    fi
    i=$((i + 1))
  done
}
traffic & pids+=($!)
status=
for _ in $(seq 60); do
  sleep 10
  status=$(as dan rollout status "$production" -o json 2>/dev/null | sed -n 's/^    "status": "\([a-z_]*\)".*/\1/p' | head -n 1)
  echo "rollout: ${status:-?}"
  case "$status" in promoted|rolled_back|aborted|failed) break ;; esac
done
kill "${pids[-1]}" 2>/dev/null || true
as dan rollout status "$production" --all
if [ "$status" != promoted ]; then
  echo "the canary was not promoted ($status): 1.0.0 stays in production" >&2
  exit 1
fi

step "retirement of 1.0.0: 1.1.0 takes what still routes it; the archive keeps prompts, evaluations, approvals and logs"
archive=$(as lee retire "$model@1.0.0" --trigger replaced --replacement 1.1.0 -o json | member archiveSha256)
as lee archive verify "$archive"
MODELGATE_TOKEN=$admin mg audit verify
MODELGATE_TOKEN=$admin mg policy show "$model" 2>/dev/null || echo "no policy of its own: the default policy was in force throughout"
