#!/usr/bin/env bash
# Registers the real v1-logreg Adult-income model as adult-income@1.0.0 and pulls it back, verified.
# Needs a running server: MODELGATE_URL (default http://localhost:5180) and MODELGATE_TOKEN (a trainer or admin key).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
mg() { dotnet "$root/src/ModelGate/bin/Release/net10.0/modelgate.dll" "$@"; }
[ -f "$root/src/ModelGate/bin/Release/net10.0/modelgate.dll" ] || dotnet build "$root/src/ModelGate" -c Release -nologo -v quiet

model=adult-income
onnx="$root/fixtures/models/adult-income/v1-logreg.onnx"

echo "== model create $model"
mg model show "$model" 2>/dev/null || \
  mg model create "$model" --owner risk-team --risk-tier medium --task classification \
     --license CC-BY-4.0 --description "Predicts income >50K from census data (UCI Adult)" --tag census --tag tabular

echo "== version create $model 1.0.0 (uploads v1-logreg.onnx, verified by SHA-256)"
mg version show "$model@1.0.0" 2>/dev/null || \
  mg version create "$model" 1.0.0 --artifact "$onnx" --attestation "$root/examples/adult-income/attestation-v1.json"

sha=$(mg version show "$model@1.0.0" --output json | sed -n 's/.*"sha256": "\([0-9a-f]\{64\}\)".*/\1/p' | head -n 1)
echo "== artifact pull $sha"
out="$(mktemp -d)/v1-logreg.onnx"
mg artifact pull "$sha" --out "$out"
expected=$(sed -n '/"v1-logreg"/,/sha256/s/.*"sha256": "\([0-9a-f]*\)".*/\1/p' "$root/fixtures/models/adult-income/reference-metrics.json")
if [ "$sha" = "$expected" ]; then echo "digest matches reference-metrics.json: $expected"; else echo "digest MISMATCH: $sha vs $expected"; exit 1; fi

echo "== lineage and provenance"
mg version lineage "$model@1.0.0"
mg version attestation "$model@1.0.0" --format in-toto | head -n 12

echo "== audit log"
mg audit log --subject "models/$model*"
mg audit verify

echo "== eval run $model@1.0.0 (the default classification suite on the 16,281-row test set)"
mg eval run "$model@1.0.0" --suite "$root/fixtures/suites/adult-classification.json" \
   --dataset "$root/fixtures/datasets/adult/test.csv"

echo "== lifecycle gate (dry run): the same admin key trained and evaluated it, so the independence check fails"
mg promote "$model@1.0.0" --to evaluated --dry-run || true

echo "== deployment and inference: OIP v2 on ONNX Runtime, the first rows of test.csv"
mg deployment show adult-dev >/dev/null 2>&1 || mg deployment create adult-dev --model "$model" --stable 1.0.0
mg infer adult-dev --csv "$root/fixtures/datasets/adult/test.csv" --rows 5
mg metrics adult-dev --window 5m
