#!/usr/bin/env bash
# Installs what the build and the tests need, skipping what is already there. Safe to re-run.
#   scripts/setup.sh            Rust pieces for the native build and the wasm32 check
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust with rustup first (https://rustup.rs)" >&2
  exit 1
fi

# wasm32 target (the core must also compile for the browser, with simd128: see .cargo/config.toml).
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "wasm32-unknown-unknown target: present"
else
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

for c in rustfmt clippy; do
  if rustup component list --installed 2>/dev/null | grep -q "^$c"; then
    say "$c: present"
  else
    say "adding $c"
    rustup component add "$c"
  fi
done
