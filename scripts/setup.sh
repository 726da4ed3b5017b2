#!/usr/bin/env bash
# Installs what the build and the tests need, skipping what is already there. Safe to re-run.
#   scripts/setup.sh               everything (scripts/test.sh runs this)
#   scripts/setup.sh --no-browser  only what building the app needs: skips Chromium, chromedriver
#                                  and the end-to-end test packages (also RLRP_SETUP_NO_BROWSER=1)
#
# Installs, each only when missing:
#   - Rust: the wasm32-unknown-unknown target, rustfmt, clippy (default toolchain, which builds the project);
#     toolchain 1.96.1 (minimal, + wasm32) — only to BUILD trunk 0.22.1, which needs rustc >= 1.96.1;
#   - trunk 0.22.1 (cargo +1.96.1 install --locked), wasm-bindgen-cli at the exact version of
#     `wasm-bindgen` in Cargo.lock (wasm-bindgen, wasm-bindgen-test-runner; installs only without --locked);
#   - Debian packages: python3 (trunk's post-build hook), nodejs and npm when node is missing,
#     chromium and chromium-driver (wasm tests, end-to-end tests);
#   - tools/wasm-opt's npm package (binaryen: the post-build hook's wasm-opt);
#   - tests/e2e's npm packages (playwright-core only, which drives the Debian Chromium: no browser
#     is ever downloaded).
# Nothing is fetched from outside the package registries (crates.io, rustup, Debian, npm).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

browser=1
[ "${RLRP_SETUP_NO_BROWSER:-0}" = 1 ] && browser=0
for arg in "$@"; do
  case "$arg" in
    --no-browser) browser=0 ;;
    *) die "unknown option $arg (known: --no-browser)" ;;
  esac
done

# cargo-installed tools live here; make sure this script (and its callers' children) find them.
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac

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

# --- The app's build tools -------------------------------------------------------------------------

# Build tools need little speed of their own: install them with a lean release profile (no LTO,
# many codegen units, a low opt-level) instead of their own (trunk: fat LTO, one codegen unit).
# Environment overrides take precedence over a package's Cargo.toml profile. Measured on 2 cores
# (cargo install into an empty root, crates already downloaded): trunk 598 s with its own profile,
# 470 s at opt-level 1, 307 s at opt-level 0 (a no-op `trunk build` then takes 3.5 s instead of
# 2.3 s); wasm-bindgen-cli 152 s with its own profile, 134 s at opt-level 1, 87 s at opt-level 0,
# 110 s at opt-level 0 with its wasm crates (WASM_BINDGEN_HOT) at 1. It rewrites the 12 MB worker
# wasm on every build: 1.6 s at opt-level 1, 5.9 s at 0, 2.2 s with the hot crates at 1.
#   lean_install OPT_LEVEL cargo-arguments...
lean_install() {
  local opt=$1
  shift
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=64 CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" \
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_INCREMENTAL=false cargo "$@"
}
# The crates wasm-bindgen spends its time in (parsing, transforming and writing wasm).
WASM_BINDGEN_HOT=(walrus wasmparser wasm-encoder wasm-bindgen-cli-support wasm-bindgen-wasm-interpreter)
hot_configs=()
for crate in "${WASM_BINDGEN_HOT[@]}"; do hot_configs+=(--config "profile.release.package.$crate.opt-level=1"); done

# trunk 0.22.1 needs rustc >= 1.96.1 to build; the project itself builds with the default toolchain.
trunk_toolchain=1.96.1
trunk_version=0.22.1
if rustup toolchain list 2>/dev/null | grep -q "^$trunk_toolchain-"; then
  say "toolchain $trunk_toolchain: present"
else
  say "installing toolchain $trunk_toolchain (minimal; used only to build trunk)"
  rustup toolchain install "$trunk_toolchain" --profile minimal
fi
if rustup target list --toolchain "$trunk_toolchain" --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "wasm32-unknown-unknown target for $trunk_toolchain: present"
else
  say "adding the wasm32-unknown-unknown target to $trunk_toolchain"
  rustup target add wasm32-unknown-unknown --toolchain "$trunk_toolchain"
fi

if [ "$(trunk --version 2>/dev/null)" = "trunk $trunk_version" ]; then
  say "trunk $trunk_version: present"
else
  say "installing trunk $trunk_version (cargo +$trunk_toolchain install, lean profile)"
  lean_install 0 "+$trunk_toolchain" install trunk --locked --version "$trunk_version"
fi

# wasm-bindgen-cli must be exactly the version of the wasm-bindgen crate in Cargo.lock (trunk and the
# wasm test runner refuse, or try to download, anything else).
wb_version=$(awk '/^\[\[package\]\]/ { name = "" }
                  /^name = / { name = $3 }
                  /^version = / && name == "\"wasm-bindgen\"" { gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
[ -n "$wb_version" ] || die "no wasm-bindgen package in Cargo.lock"
if [ "$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $wb_version" ] \
  && [ "$(wasm-bindgen-test-runner --version 2>/dev/null)" = "wasm-bindgen-test-runner $wb_version" ]; then
  say "wasm-bindgen-cli $wb_version: present"
else
  say "installing wasm-bindgen-cli $wb_version (the Cargo.lock version, lean profile)"
  # Not --locked: its lockfile's webpki-roots pins conflict; the unlocked resolution builds.
  lean_install 0 install "${hot_configs[@]}" wasm-bindgen-cli --version "$wb_version"
fi

if [ "$browser" = 0 ]; then
  say "--no-browser: skipping Chromium, chromedriver and the end-to-end test packages"
fi

# --- Debian packages -------------------------------------------------------------------------------

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install Debian packages"
  sudo=sudo
fi
missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "$browser" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fi
if [ ${#missing[@]} -eq 0 ]; then
  say "Debian packages: present"
else
  say "installing Debian packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# --- npm packages ---------------------------------------------------------------------------------

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || die "Node.js $(node --version) is too old (needs >= 18)"
# Installs the npm packages of directory $1 (npm ci), unless those of its package-lock.json are there.
npm_packages() {
  if [ -f "$1/node_modules/.package-lock.json" ] \
    && node -e '
      const fs = require("fs");
      const want = JSON.parse(fs.readFileSync(process.argv[1] + "/package-lock.json")).packages;
      const have = JSON.parse(fs.readFileSync(process.argv[1] + "/node_modules/.package-lock.json")).packages;
      const stale = Object.keys(want).filter((k) => k !== "" && want[k].version !== (have[k] || {}).version);
      process.exit(stale.length ? 1 : 0);' "$1"; then
    say "$1 npm packages: present"
  else
    say "installing $1 npm packages (npm ci: $2)"
    (cd "$1" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
}
npm_packages tools/wasm-opt "binaryen, for the post-build hook's wasm-opt"
if [ "$browser" = 1 ]; then
  npm_packages tests/e2e "playwright-core; no browser download"
fi
say "done"
