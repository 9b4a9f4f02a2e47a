#!/usr/bin/env bash
# Gateway overhead benchmark (issue 3, "bench/gateway"): one script, one run, all on loopback.
#
#   bench/gateway/run.sh            # full run (about 10 minutes with --paths all,nomon: a 30 s warm-up per path)
#   bench/gateway/run.sh --quick    # smoke run (about 1 minute)
#   bench/gateway/run.sh --help     # every option (the gateway ones are under "gateway:")
#
# Builds ModelGate and the benchmark in Release, then runs the `gateway` suite of bench/ModelGate.Benchmarks: a static
# OpenAI-compatible upstream reached directly, through `modelgate serve` (bare and full path), a minimal YARP proxy and
# Portkey's gateway (npx), each its own process, loaded with wrk; streaming time to first byte; OIP v2 infer against
# ONNX Runtime in-process. The report goes to stdout and bench/results/gateway-<UTC timestamp>.md. It reports; it never
# fails on speed. Needs wrk (Debian: apt-get install -y wrk; installed here when run as root), and node/npx for Portkey
# (without them Portkey is reported as not run).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "wrk not found; installing Debian's wrk" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; }
  else
    echo "wrk not found: install it (Debian: apt-get install -y wrk)" >&2
    exit 2
  fi
fi

echo "building (Release) ..." >&2
dotnet build -c Release -nologo -v q src/ModelGate/ModelGate.csproj >&2
dotnet build -c Release -nologo -v q bench/ModelGate.Benchmarks/ModelGate.Benchmarks.csproj >&2

exec bench/ModelGate.Benchmarks/bin/Release/net10.0/ModelGate.Benchmarks --suite gateway \
  --modelgate "$PWD/src/ModelGate/bin/Release/net10.0/modelgate" "$@"
