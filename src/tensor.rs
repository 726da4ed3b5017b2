//! The tensor type used throughout: `ndarray` (the version tract uses, so tensors pass to and from
//! tract unconverted), f32, dynamic rank.
pub use ndarray;

/// A dense f32 tensor of any rank (row-major / C order).
pub type Tensor = ndarray::ArrayD<f32>;
