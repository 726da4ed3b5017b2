//! Forward map and transpose of every linear layer (RLRP.md, "Notation"), with the weights and bias
//! optionally replaced (the parameter modifiers of the LRP rules). The transpose `Wᵀ r` excludes the bias:
//! it is the same kernel as a gradient backward pass (RLRP.md, "The R-LRP linear rule").
use crate::kernels::{conv, dense, pool, resample, taps};
use crate::model::graph::ResampledAxis;
use crate::model::graph::{Axes3, Linear};
use crate::tensor::{ndarray, Tensor, TensorRef};

/// The elements of `t` in row-major order, borrowed when it is contiguous.
pub(crate) fn slice(t: &TensorRef) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.iter().copied().collect()),
    }
}

/// A tensor of `shape` from row-major data of exactly that many elements.
pub(crate) fn tensor(shape: &[usize], data: Vec<f32>) -> Tensor {
    Tensor::from_shape_vec(ndarray::IxDyn(shape), data).expect("a kernel's output has its op's size")
}

impl Linear {
    /// The layer's weights (None for pooling, whose weights are implicit).
    pub fn weight(&self) -> Option<&[f32]> {
        match self {
            Linear::Conv(c) => Some(&c.weight),
            Linear::Dense(d) => Some(&d.weight),
            Linear::Affine(a) => a.scale.as_slice(),
            Linear::Mix { weights, .. } => Some(weights),
            Linear::AvgPool(_)
            | Linear::GlobalAvgPool { .. }
            | Linear::Reduce { .. }
            | Linear::Centre(_)
            | Linear::Resize(_) => None,
        }
    }

    /// The layer's bias (None for pooling).
    pub fn bias(&self) -> Option<&[f32]> {
        match self {
            Linear::Conv(c) => Some(&c.bias),
            Linear::Dense(d) => Some(&d.bias),
            Linear::Affine(a) => a.bias.as_slice(),
            Linear::AvgPool(_)
            | Linear::GlobalAvgPool { .. }
            | Linear::Reduce { .. }
            | Linear::Centre(_)
            | Linear::Mix { .. }
            | Linear::Resize(_) => None,
        }
    }

    /// Calls `f(input_index, weight_index)` for every tap of output `j` (flat), for the layers whose
    /// outputs are sums over explicit weights (Conv, Dense); false, with no call, for the others.
    pub fn for_each_tap(&self, j: usize, f: impl FnMut(usize, usize)) -> bool {
        match self {
            Linear::Conv(c) => taps::conv_taps(&c.geometry, j, f),
            Linear::Dense(d) => taps::dense_taps(d.rows, d.k, d.n, j, f),
            _ => return false,
        }
        true
    }

    /// The index into [`Linear::bias`] of output `j` (flat): its channel (Conv) or column (Dense).
    pub fn bias_index(&self, j: usize) -> Option<usize> {
        match self {
            Linear::Conv(c) => Some(j / (c.geometry.out_h * c.geometry.out_w)),
            Linear::Dense(d) => Some(j % d.n),
            _ => None,
        }
    }

    /// z = W x + b with the given weight and bias (None = the layer's own implicit pooling weights,
    /// or no bias). `out_shape` is the layer's output shape.
    pub fn forward_with(
        &self,
        x: &TensorRef,
        weight: Option<&[f32]>,
        bias: Option<&[f32]>,
        out_shape: &[usize],
    ) -> Tensor {
        let xs = slice(x);
        let mut y = vec![0f32; out_shape.iter().product()];
        match self {
            Linear::Conv(c) => {
                let w = weight.unwrap_or(&c.weight);
                conv::conv2d_forward(&c.geometry, &xs, w, bias, &mut y);
            }
            Linear::Dense(d) => {
                let w = weight.unwrap_or(&d.weight);
                dense::dense_forward(d.rows, d.k, d.n, &xs, w, bias, &mut y);
            }
            Linear::AvgPool(g) => pool::avgpool_forward(g, &xs, &mut y),
            Linear::GlobalAvgPool { channels, hw } => pool::global_avgpool_forward(*channels, *hw, &xs, &mut y),
            Linear::Affine(a) => {
                let s = weight.map(std::borrow::Cow::Borrowed).unwrap_or_else(|| slice(&a.scale));
                for ((o, xv), sv) in y.iter_mut().zip(xs.iter()).zip(s.iter()) {
                    *o = xv * sv;
                }
                if let Some(b) = bias {
                    y.iter_mut().zip(b).for_each(|(o, b)| *o += b);
                }
            }
            Linear::Reduce { axes, scale } => reduce_forward(axes, *scale, &xs, &mut y),
            Linear::Centre(axes) => centre(axes, &xs, &mut y),
            Linear::Resize(axes) => y = resampled(axes, xs.into_owned(), false),
            Linear::Mix { batch, m, k, n, weights: own, weights_left } => {
                let a = weight.unwrap_or(own);
                if *weights_left {
                    dense::batched_matmul(*batch, *m, *k, *n, a, false, &xs, false, &mut y);
                } else {
                    dense::batched_matmul(*batch, *m, *k, *n, &xs, false, a, false, &mut y);
                }
            }
        }
        if let (
            Some(b),
            Linear::AvgPool(_)
            | Linear::GlobalAvgPool { .. }
            | Linear::Reduce { .. }
            | Linear::Centre(_)
            | Linear::Mix { .. }
            | Linear::Resize(_),
        ) = (bias, self)
        {
            y.iter_mut().zip(b).for_each(|(o, b)| *o += b);
        }
        tensor(out_shape, y)
    }

    /// Wᵀ r with the given weight (None = the layer's own), shaped like the layer input.
    pub fn transpose_with(&self, r: &Tensor, weight: Option<&[f32]>, in_shape: &[usize]) -> Tensor {
        let rs = slice(r);
        let mut out = vec![0f32; in_shape.iter().product()];
        match self {
            Linear::Conv(c) => conv::conv2d_transpose(&c.geometry, &rs, weight.unwrap_or(&c.weight), &mut out),
            Linear::Dense(d) => dense::dense_transpose(d.rows, d.k, d.n, &rs, weight.unwrap_or(&d.weight), &mut out),
            Linear::AvgPool(g) => pool::avgpool_transpose(g, &rs, &mut out),
            Linear::GlobalAvgPool { channels, hw } => pool::global_avgpool_transpose(*channels, *hw, &rs, &mut out),
            Linear::Affine(a) => {
                let s = weight.map(std::borrow::Cow::Borrowed).unwrap_or_else(|| slice(&a.scale));
                for ((o, rv), sv) in out.iter_mut().zip(rs.iter()).zip(s.iter()) {
                    *o = rv * sv;
                }
            }
            Linear::Reduce { axes, scale } => {
                for o in 0..axes.outer {
                    for k in 0..axes.n {
                        let at = (o * axes.n + k) * axes.inner;
                        for (d, &rv) in
                            out[at..at + axes.inner].iter_mut().zip(&rs[o * axes.inner..(o + 1) * axes.inner])
                        {
                            *d = scale * rv;
                        }
                    }
                }
            }
            // I − J/n is symmetric: its transpose is the same centring.
            Linear::Centre(axes) => centre(axes, &rs, &mut out),
            Linear::Resize(axes) => out = resampled(axes, rs.into_owned(), true),
            Linear::Mix { batch, m, k, n, weights: own, weights_left } => {
                let a = weight.unwrap_or(own);
                if *weights_left {
                    dense::batched_matmul(*batch, *k, *m, *n, a, true, &rs, false, &mut out);
                } else {
                    dense::batched_matmul(*batch, *m, *n, *k, &rs, false, a, true, &mut out);
                }
            }
        }
        tensor(in_shape, out)
    }

    /// `Σ_k W_kᵀ r_k` over terms `(r_k, weight_k)` (None = the layer's own weights), shaped like the
    /// layer input: at Conv and Dense layers summed inside the kernels, with no tensor per term.
    pub fn transpose_sum(&self, terms: &[(&Tensor, Option<&[f32]>)], in_shape: &[usize]) -> Tensor {
        match self {
            Linear::Conv(c) => {
                kernel_sum(terms, &c.weight, in_shape, |t, out| conv::conv2d_transpose_sum(&c.geometry, t, out))
            }
            Linear::Dense(d) => {
                kernel_sum(terms, &d.weight, in_shape, |t, out| dense::dense_transpose_sum(d.rows, d.k, d.n, t, out))
            }
            _ => {
                let mut sum: Option<Tensor> = None;
                for &(r, w) in terms {
                    let t = self.transpose_with(r, w, in_shape);
                    match sum.as_mut() {
                        None => sum = Some(t),
                        Some(acc) => *acc += &t,
                    }
                }
                sum.unwrap_or_else(|| Tensor::zeros(ndarray::IxDyn(in_shape)))
            }
        }
    }

    /// Implicit weights made explicit for rules that modify them (Flat on a pooling layer is never
    /// used, but a composite may still ask): None means "use the layer's own".
    pub fn has_explicit_weights(&self) -> bool {
        self.weight().is_some()
    }
}

/// A kernel's sum of transposes over `terms` (None = the layer's `own` weights), as a tensor of
/// `in_shape`.
fn kernel_sum(
    terms: &[(&Tensor, Option<&[f32]>)],
    own: &[f32],
    in_shape: &[usize],
    kernel: impl FnOnce(&[(&[f32], &[f32])], &mut [f32]),
) -> Tensor {
    let rs: Vec<_> = terms.iter().map(|(r, _)| slice(r)).collect();
    let kernel_terms: Vec<(&[f32], &[f32])> =
        rs.iter().zip(terms).map(|(r, (_, w))| (&r[..], w.unwrap_or(own))).collect();
    let mut out = vec![0f32; in_shape.iter().product()];
    kernel(&kernel_terms, &mut out);
    tensor(in_shape, out)
}

/// A Resize's axes applied in turn to `data` (forward), or their transposes in reverse order.
fn resampled(axes: &[ResampledAxis], mut data: Vec<f32>, transpose: bool) -> Vec<f32> {
    for k in 0..axes.len() {
        let a = &axes[if transpose { axes.len() - 1 - k } else { k }];
        let taps = resample::AxisTaps {
            outer: a.around.outer,
            inner: a.around.inner,
            len_in: a.around.n,
            len_out: a.len_out,
            window: a.window,
            indices: &a.indices,
            weights: &a.weights,
        };
        let mut out = vec![0f32; if transpose { a.around.len() } else { a.around.outer * a.len_out * a.around.inner }];
        resample::resample(&taps, &data, &mut out, transpose);
        data = out;
    }
    data
}

/// y[o, i] = scale · Σ_k x[o, k, i].
fn reduce_forward(axes: &Axes3, scale: f32, x: &[f32], y: &mut [f32]) {
    y.fill(0.0);
    for o in 0..axes.outer {
        let row = &mut y[o * axes.inner..(o + 1) * axes.inner];
        for k in 0..axes.n {
            let at = (o * axes.n + k) * axes.inner;
            row.iter_mut().zip(&x[at..at + axes.inner]).for_each(|(d, &v)| *d += v);
        }
        row.iter_mut().for_each(|d| *d *= scale);
    }
}

/// y = x − mean_k x over the middle axis of [outer, n, inner] (f64 means).
fn centre(axes: &Axes3, x: &[f32], y: &mut [f32]) {
    let mut mean = vec![0f64; axes.inner];
    for o in 0..axes.outer {
        mean.fill(0.0);
        for k in 0..axes.n {
            let at = (o * axes.n + k) * axes.inner;
            mean.iter_mut().zip(&x[at..at + axes.inner]).for_each(|(m, &v)| *m += v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= axes.n as f64);
        for k in 0..axes.n {
            let at = (o * axes.n + k) * axes.inner;
            for ((d, &v), &m) in y[at..at + axes.inner].iter_mut().zip(&x[at..at + axes.inner]).zip(&mean) {
                *d = (v as f64 - m) as f32;
            }
        }
    }
}
