#!/usr/bin/env bash
# Builds the browser app with trunk and serves it on http://127.0.0.1:${PORT:-8080}/.
# Installs what is missing first (scripts/setup.sh --no-browser: Rust target, trunk, wasm-bindgen).
# The page opens on the bundled default model (EfficientNet-Lite0 int8) and explains a sample photo.
# dist/ is a plain static site: copy it to any static host, under any path.
set -euo pipefail
cd "$(dirname "$0")/.."
# The engine's wasm (the worker) compiles while the build tools install: on 2 cores each leaves
# the other's idle moments (single-crate stretches, links) to it; trunk then finds it compiled.
# Its errors, if any, are trunk's to report: its output goes to target/prebuild.log.
prebuild=""
if command -v cargo >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  mkdir -p target
  cargo build --profile web --target wasm32-unknown-unknown --bin rlrp-worker >target/prebuild.log 2>&1 &
  prebuild=$!
fi
scripts/setup.sh --no-browser
if [ -n "$prebuild" ] && ! wait "$prebuild"; then
  echo "(the early build of the worker failed, see target/prebuild.log; trunk builds it again below)"
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
trunk build --release --offline
echo "serving dist/ on http://127.0.0.1:${PORT:-8080}/ (Ctrl-C to stop)"
exec python3 -m http.server "${PORT:-8080}" --bind 127.0.0.1 --directory dist
