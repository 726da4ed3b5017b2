//! The tensor type used throughout: `ndarray` (the version tract uses, so tensors pass to and from
//! tract unconverted), f32, dynamic rank.
pub use ndarray;

/// A dense f32 tensor of any rank (row-major / C order).
pub type Tensor = ndarray::ArrayD<f32>;
/// A borrowed [`Tensor`] (e.g. an activation the forward pass keeps in tract's own storage).
pub type TensorView<'a> = ndarray::ArrayViewD<'a, f32>;

/// What read-only functions take: a [`Tensor`] and a [`TensorView`] both dereference to it.
pub type TensorRef = ndarray::ArrayRef<f32, ndarray::IxDyn>;

/// The values of `t` in row-major order, as one vector: the tensor's own storage when it is
/// already row-major and starts at its first element (no copy), else a row-major copy.
pub fn into_row_major_vec(t: Tensor) -> Vec<f32> {
    let t = if t.is_standard_layout() { t } else { t.as_standard_layout().into_owned() };
    let len = t.len();
    match t.into_raw_vec_and_offset() {
        (v, Some(0) | None) if v.len() == len => v,
        (v, offset) => v[offset.unwrap_or(0)..][..len].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-major values whatever the storage: owned standard, transposed, sliced.
    #[test]
    fn row_major_vec_of_any_layout() {
        let t = Tensor::from_shape_vec(ndarray::IxDyn(&[2, 3]), (0..6).map(|v| v as f32).collect()).unwrap();
        assert_eq!(into_row_major_vec(t.clone()), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(into_row_major_vec(t.clone().reversed_axes()), [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let mut sliced = t.clone();
        sliced.slice_collapse(ndarray::s![1.., 1..]);
        assert_eq!(into_row_major_vec(sliced), [4.0, 5.0]);
        let mut tail = t;
        tail.slice_collapse(ndarray::s![1.., ..]);
        assert_eq!(into_row_major_vec(tail), [3.0, 4.0, 5.0]);
    }
}
