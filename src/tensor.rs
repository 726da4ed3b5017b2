//! The tensor type used throughout: `ndarray` (the version tract uses, so tensors pass to and from
//! tract unconverted), f32, dynamic rank.
pub use ndarray;

/// A dense f32 tensor of any rank (row-major / C order).
pub type Tensor = ndarray::ArrayD<f32>;
/// A borrowed [`Tensor`] (e.g. an activation the forward pass keeps in tract's own storage).
pub type TensorView<'a> = ndarray::ArrayViewD<'a, f32>;

/// What read-only functions take: a [`Tensor`] and a [`TensorView`] both dereference to it.
pub type TensorRef = ndarray::ArrayRef<f32, ndarray::IxDyn>;
