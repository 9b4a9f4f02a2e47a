#!/usr/bin/env bash
# Regenerates the README's pictures of the web console's dashboards (docs/images/dashboard-*.png): a test seeds a store
# with a day of traffic and takes them in Debian's Chromium (MODELGATE_TEST_CHROMIUM, default /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export MODELGATE_README_SCREENSHOTS="$PWD/docs/images"
dotnet test tests/ModelGate.Tests --filter "FullyQualifiedName~ReadmeScreenshotTests"
ls -l docs/images/dashboard-*.png
