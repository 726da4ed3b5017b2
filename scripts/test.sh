#!/usr/bin/env bash
# Runs every test: formatting, lints, native unit/integration/golden tests (against ../shared), and the
# wasm32 + simd128 build of the core. Installs what is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

scripts/setup.sh

step() { printf '\n=== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --all-targets -- -D warnings

step "native tests (unit, kernels, rules, golden vs Zennit and the R-LRP oracle, properties, models, bad input)"
cargo test --lib --bins --tests

step "wasm32-unknown-unknown + simd128 check of the core"
cargo check --lib --target wasm32-unknown-unknown

step "all tests passed"
