#!/usr/bin/env bash
# Builds the browser app with trunk and serves it on http://127.0.0.1:${PORT:-8080}/.
# Installs what is missing first (scripts/setup.sh --no-browser: Rust target, trunk, wasm-bindgen).
# The page opens on the bundled default model (EfficientNet-Lite0 int8) and explains a sample photo.
# dist/ is a plain static site: copy it to any static host, under any path.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-browser
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
trunk build --release --offline
echo "serving dist/ on http://127.0.0.1:${PORT:-8080}/ (Ctrl-C to stop)"
exec python3 -m http.server "${PORT:-8080}" --bind 127.0.0.1 --directory dist
