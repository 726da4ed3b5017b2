//! rlrp: Relative Layer-wise Relevance Propagation (R-LRP) and classical LRP rules for ONNX image
//! classifiers. The maths is specified in `RLRP.md` (shipped as `docs/RLRP.md`).
//!
//! Architecture:
//! - [`model`]: ONNX import into a small typed graph of explainable operations, and canonisation
//!   (BatchNorm folding, dequantisation, Softmax removal).
//! - [`forward`]: the forward pass, run by tract, keeping every activation the relevance pass needs.
//! - [`relevance`]: one reverse walk of the graph, parametrised by a method (R-LRP, LRP rules, gradient).
//! - [`kernels`]: the numeric kernels (convolution, dense, pooling, each forward and transposed).
//! - [`preprocess`], [`sidecar`], [`heatmap`], [`npy`]: image in, pictures and arrays out.
//! - [`method`], [`report`]: the vocabulary shared by the engine and the page.
//!
//! The `engine` feature (on by default) is everything that computes: tract, the graph, the kernels,
//! the relevance pass and the evaluation. The page (`rlrp-app`) is built without it, so its wasm holds
//! only the UI, the shared vocabulary and the painting code; the Web Worker holds the engine.
pub mod app;
pub mod budget;
pub mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod fsread;
pub mod fuzz;
pub mod heatmap;
pub mod method;
pub mod npy;
pub mod preprocess;
pub mod report;
pub mod sidecar;
pub mod tensor;

#[cfg(feature = "engine")]
pub mod eval;
#[cfg(feature = "engine")]
pub mod explain;
#[cfg(feature = "engine")]
pub mod forward;
#[cfg(feature = "engine")]
pub mod kernels;
#[cfg(feature = "engine")]
pub mod model;
#[cfg(feature = "engine")]
pub mod relevance;

pub use error::{Error, Result};
