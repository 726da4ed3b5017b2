//! The tensor type used throughout: tract's re-exported `ndarray`, f32, dynamic rank.
pub use tract_onnx::prelude::tract_ndarray as ndarray;

/// A dense f32 tensor of any rank (row-major / C order).
pub type Tensor = ndarray::ArrayD<f32>;
