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
pub mod app;
pub mod error;
pub mod eval;
pub mod explain;
pub mod forward;
pub mod heatmap;
pub mod kernels;
pub mod model;
pub mod npy;
pub mod preprocess;
pub mod relevance;
pub mod sidecar;
pub mod tensor;

pub use error::{Error, Result};
