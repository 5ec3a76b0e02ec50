#!/usr/bin/env bash
# Validates docker/kubernetes/ (validate.mjs: the Kubernetes OpenAPI schema through the
# npm package kubernetes-models, unknown fields, the product facts, skewgate --check of
# the ConfigMap's file). Needs Node.js >= 18 with npm (the npm registry on the first run;
# packages pinned by package-lock.json) and build/skewgate (or $SKEWGATE_BIN).
# scripts/test.sh runs it as its "kubernetes" stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
started=$SECONDS
timeout 300 npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null
echo "kubernetes: npm ci took $((SECONDS - started)) s"
timeout 120 node validate.mjs
