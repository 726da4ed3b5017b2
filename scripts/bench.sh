#!/usr/bin/env bash
# The benchmarks (not tests): the browser's (tests/e2e/bench.mjs: our load, forward and relevance of
# every method on the default model, and onnxruntime-web's forward on the same file in the same
# Chromium) and the native one (`cargo bench`: forward and every method, one thread).
#
#   scripts/bench.sh            both
#   scripts/bench.sh browser    the browser's only
#   scripts/bench.sh native     the native one only
#
# Installs what is missing first: the test tools (scripts/setup.sh) and the browser peer,
# onnxruntime-web, from the npm registry into tests/e2e/peer (pinned by its package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac
what=${1:-all}

scripts/setup.sh
if [ "$what" != native ]; then
  if [ -f tests/e2e/peer/node_modules/onnxruntime-web/package.json ]; then
    echo "[bench] onnxruntime-web: present"
  else
    echo "[bench] installing onnxruntime-web into tests/e2e/peer (npm ci)"
    (cd tests/e2e/peer && npm ci --no-audit --no-fund)
  fi
  trunk build --release --offline
  node tests/e2e/bench.mjs
fi
if [ "$what" != browser ]; then
  cargo bench --bench relevance -- "${RLRP_BENCH_FILTER:-}"
fi
