#!/usr/bin/env bash
# Runs every test, cheapest checks first: formatting, native unit/integration/golden tests (against
# ../shared), the golden tests again in headless Chromium (wasm32 + simd128), the release build of
# the app (trunk) and the end-to-end tests of that build in headless Chromium.
# Every build here lints as it compiles: this crate's targets are compiled by clippy-driver with
# warnings as errors (scripts/lint-rustc.sh), so the native build lints all targets, the wasm32
# builds lint the engine, the worker and the page as trunk builds it (without the engine), and no
# separate `cargo clippy` type-checks every dependency once more per target.
# Installs what is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# trunk, wasm-bindgen and wasm-bindgen-test-runner are installed by cargo install.
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac

started=$(date +%s)
step() { printf '\n=== [%s, %d s] %s\n' "$(date +%T)" "$(($(date +%s) - started))" "$*"; }

step "setup (installs only what is missing)"
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

# Lints and builds share one compilation (see the header). Cargo hashes the wrapper into this
# crate's artifacts, so every cargo and trunk command below must see the same one.
export RUSTC_WORKSPACE_WRAPPER="$PWD/scripts/lint-rustc.sh"

step "native build of every target, linted (clippy, warnings are errors)"
cargo test --workspace --no-run --lib --bins --tests
# The benchmark is built (so linted), not run: `cargo test --benches` would run it.
cargo build --benches

step "native tests (unit, kernels, rules, golden vs Zennit and the R-LRP oracle, properties, models, bad input)"
cargo test --workspace --lib --bins --tests

step "wasm32 golden tests in headless Chromium (every golden case, and the worker session)"
# Built with the app's own profile (web): what ships is what is tested, and trunk's build below
# reuses every compiled dependency (tract is compiled for wasm32 once).
# The runner's default limit for the whole suite (20 s) is too short for EfficientNet-Lite0.
# tests/wasm/runner.mjs drops the module's DWARF sections, then runs wasm-bindgen-test-runner.
WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-900} \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="node $PWD/tests/wasm/runner.mjs" \
  CHROMEDRIVER=${CHROMEDRIVER:-$(command -v chromedriver)} \
  cargo test --profile web --target wasm32-unknown-unknown --test wasm_golden

step "trunk build --release --offline (the app, into dist/; lints the page as built: wasm32 without the engine)"
trunk build --release --offline
if cargo tree --target wasm32-unknown-unknown --no-default-features -e normal -i tract-core >/dev/null 2>&1; then
  echo "the page (built without the engine feature) depends on tract" >&2
  exit 1
fi

step "native CLI for the end-to-end comparison (target/debug/rlrp)"
cargo build --bin rlrp

step "end-to-end tests of dist/ in headless Chromium (screenshots in target/e2e-artifacts/)"
node --test tests/e2e/*.test.mjs

step "all tests passed"
