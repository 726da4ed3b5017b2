#!/bin/sh
# The compiler scripts/test.sh builds this crate's own targets with (RUSTC_WORKSPACE_WRAPPER;
# dependencies are compiled by plain rustc): clippy-driver, i.e. rustc with clippy's lints, and every
# warning an error. The tests then lint while they build, instead of a separate `cargo clippy` that
# type-checks every dependency again for each target (7 minutes on 2 cores). Cargo calls it as
# `lint-rustc.sh rustc ARGS…`.
exec clippy-driver "$@" -D warnings
