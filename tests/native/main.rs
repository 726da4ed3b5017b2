//! Every native integration test, as one test binary: one module per area (golden, zoo, kernels,
//! rules, properties, bad and hostile input, the CLI, evaluation, the app session). One binary
//! links the engine once instead of eighteen times (their builds were a tenth of the native build).
//! Run one area with `cargo test --test native golden::`, one test by its full name.
//! `tests/wasm_golden.rs` stays its own binary: it is also built for wasm32.

#[path = "../common/mod.rs"]
mod common;

mod app_session;
mod bad_input;
mod cli;
mod diagnose;
mod eval_batched;
mod eval_cli;
mod eval_metrics;
mod external_data;
mod fuzz_regressions;
mod golden;
mod heatmap_npy;
mod hostile;
mod incremental;
mod kernels;
mod models;
mod patterns;
mod preprocess;
mod properties;
mod rules_reference;
mod zoo;
