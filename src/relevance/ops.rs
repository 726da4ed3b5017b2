//! The backward steps of the operators of RLRP.md's section "Gates, global reductions,
//! normalisations and attention", and of the routing operators (Slice, Gather, Expand): for the
//! relevance rules under conservative propagation (gates, standard deviations and attention
//! weights held constant), and for the gradient methods the exact vector-Jacobian product of the
//! whole operator.
use super::rules::{propagate, LayerContext, LinearRule};
use crate::kernels::dense::batched_matmul;
use crate::model::graph::{Affine, Axes3, AxisRange, LayerNorm, Linear, Lrn};
use crate::tensor::{ndarray, Tensor};

use super::linear::{slice as contiguous, tensor};

/// Sums `t` over the axes along which `shape` was broadcast to `t`'s shape (numpy rules): the
/// transpose of a broadcast.
pub fn unbroadcast(mut t: Tensor, shape: &[usize]) -> Tensor {
    let pad = t.ndim() - shape.len();
    for ax in 0..t.ndim() {
        let want = if ax < pad { 1 } else { shape[ax - pad] };
        if want == 1 && t.shape()[ax] != 1 {
            t = t.sum_axis(ndarray::Axis(ax)).insert_axis(ndarray::Axis(ax));
        }
    }
    let t = if t.is_standard_layout() { t } else { t.as_standard_layout().into_owned() };
    t.into_shape_with_order(ndarray::IxDyn(shape)).expect("unbroadcast keeps the element count")
}

/// Sums `t` (the output of a Tile) over its tiles, back to `shape`.
pub fn untile(t: Tensor, shape: &[usize]) -> Tensor {
    // Along each axis, output index k = tile · d + i: view [tiles₀, d₀, tiles₁, d₁, ...] and sum the tiles.
    let split: Vec<usize> = t.shape().iter().zip(shape).flat_map(|(&o, &d)| [o / d, d]).collect();
    let t = if t.is_standard_layout() { t } else { t.as_standard_layout().into_owned() };
    let mut v = t.into_shape_with_order(ndarray::IxDyn(&split)).expect("checked at import");
    for ax in (0..shape.len()).rev() {
        v = v.sum_axis(ndarray::Axis(2 * ax));
    }
    v
}

/// The gradient of y = x ⊙ g (or x ⊘ g), g broadcast to x: (to x, to g).
pub fn gate_gradient(x: &Tensor, g: &Tensor, r: &Tensor, divide: bool) -> (Tensor, Tensor) {
    let gb = g.broadcast(x.raw_dim()).expect("checked at import");
    let mut rx = r.clone();
    let mut rg = r.clone();
    ndarray::Zip::from(&mut rx).and(&mut rg).and(x).and(&gb).for_each(|rx, rg, &xv, &gv| {
        let rv = *rx;
        if divide {
            *rx = rv / gv;
            *rg = -rv * xv / (gv * gv);
        } else {
            *rx = rv * gv;
            *rg = rv * xv;
        }
    });
    (rx, unbroadcast(rg, g.shape()))
}

/// Batch, rows and columns of a [..., rows, cols] tensor.
fn matrix_dims(shape: &[usize]) -> (usize, usize, usize) {
    let r = shape.len();
    (shape[..r - 2].iter().product(), shape[r - 2], shape[r - 1])
}

/// The gradient of y = a · b (batched): (r · bᵀ, aᵀ · r); of y = a · bᵀ: (r · b, rᵀ · a).
pub fn matmul_gradient(a: &Tensor, b: &Tensor, transpose_b: bool, r: &Tensor) -> (Tensor, Tensor) {
    let (batch, m, k) = matrix_dims(a.shape());
    let n = if transpose_b { b.shape()[b.ndim() - 2] } else { b.shape()[b.ndim() - 1] };
    let (a_s, b_s, r_s) = (contiguous(a), contiguous(b), contiguous(r));
    let mut da = vec![0f32; a.len()];
    let mut db = vec![0f32; b.len()];
    if transpose_b {
        batched_matmul(batch, m, n, k, &r_s, false, &b_s, false, &mut da);
        batched_matmul(batch, n, m, k, &r_s, true, &a_s, false, &mut db);
    } else {
        batched_matmul(batch, m, n, k, &r_s, false, &b_s, true, &mut da);
        batched_matmul(batch, k, m, n, &a_s, true, &r_s, false, &mut db);
    }
    (tensor(a.shape(), da), tensor(b.shape(), db))
}

/// Attention mixing with the weights held constant (RLRP.md): the linear layer `A·V` (or `V·A`)
/// as the method's rule sees it. Returns the relevance of the value input.
pub fn attention_relevance(
    weights: &Tensor,
    weights_left: bool,
    values: &Tensor,
    r: &Tensor,
    rule_for: &dyn Fn(&Linear) -> LinearRule,
) -> Tensor {
    let (batch, m, k, n) = if weights_left {
        let (batch, m, k) = matrix_dims(weights.shape());
        (batch, m, k, values.shape()[values.ndim() - 1])
    } else {
        let (batch, m, k) = matrix_dims(values.shape());
        (batch, m, k, weights.shape()[weights.ndim() - 1])
    };
    let layer = Linear::Mix { batch, m, k, n, weights: contiguous(weights).into_owned(), weights_left };
    let ctx = LayerContext { layer: &layer, x: values.view(), out_shape: r.shape(), z: None, r_l1: None };
    propagate(&rule_for(&layer), &ctx, r)
}

/// Applies `f(lane_in, lane_out)` to every lane along `axis`.
fn softmax_lanes(x: &Tensor, axis: usize) -> Tensor {
    let mut y = x.clone();
    for mut lane in y.lanes_mut(ndarray::Axis(axis)) {
        let max = lane.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f64;
        lane.mapv_inplace(|v| {
            let e = (v - max).exp();
            sum += e as f64;
            e
        });
        lane.mapv_inplace(|v| (v as f64 / sum) as f32);
    }
    y
}

/// The gradient of a Softmax along `axis`: y ⊙ (r − Σ r ⊙ y).
pub fn softmax_gradient(x: &Tensor, axis: usize, r: &Tensor) -> Tensor {
    let y = softmax_lanes(x, axis);
    let mut out = r.clone();
    for (mut o, yl) in out.lanes_mut(ndarray::Axis(axis)).into_iter().zip(y.lanes(ndarray::Axis(axis))) {
        let dot: f64 = o.iter().zip(yl.iter()).map(|(&rv, &yv)| rv as f64 * yv as f64).sum();
        o.zip_mut_with(&yl, |rv, &yv| *rv = yv * (*rv - dot as f32));
    }
    out
}

/// The gradient of LRN ([`Lrn`]) at x: with d_c = bias + α/size · Σ_{c' ∈ W(c)} x_{c'}²,
/// `∂L/∂x_j = r_j d_j^{−β} − (2αβ/size) x_j Σ_{c : j ∈ W(c)} r_c x_c d_c^{−β−1}` (f64 inside).
pub fn lrn_gradient(lrn: &Lrn, x: &Tensor, r: &Tensor) -> Tensor {
    let (xs, rs) = (contiguous(x), contiguous(r));
    let shape = x.shape();
    let (batch, channels) = (shape[0], shape[1]);
    let plane: usize = shape[2..].iter().product();
    let (before, after) = ((lrn.size - 1) / 2, lrn.size / 2);
    let window = |c: usize| c.saturating_sub(before)..(c + after + 1).min(channels);
    let (scale, beta) = (lrn.alpha as f64 / lrn.size as f64, lrn.beta as f64);
    let mut dx = vec![0f32; xs.len()];
    let mut d = vec![0f64; channels];
    let mut t = vec![0f64; channels];
    for n in 0..batch {
        for p in 0..plane {
            let at = |c: usize| (n * channels + c) * plane + p;
            for c in 0..channels {
                let sum: f64 = window(c).map(|k| (xs[at(k)] as f64).powi(2)).sum();
                d[c] = lrn.bias as f64 + scale * sum;
                // r_c x_c d_c^{−β−1}
                t[c] = rs[at(c)] as f64 * xs[at(c)] as f64 * d[c].powf(-beta - 1.0);
            }
            for j in 0..channels {
                // the outputs c whose window holds j: j − after ≤ c ≤ j + before
                let spread: f64 = (j.saturating_sub(after)..(j + before + 1).min(channels)).map(|c| t[c]).sum();
                let own = rs[at(j)] as f64 * d[j].powf(-beta);
                dx[at(j)] = (own - 2.0 * scale * beta * xs[at(j)] as f64 * spread) as f32;
            }
        }
    }
    tensor(shape, dx)
}

/// Per group of a LayerNorm: the normalised input x̂ and 1/σ.
fn normalise(ln: &LayerNorm, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let Axes3 { outer, n, inner } = ln.axes;
    let mut xhat = vec![0f32; x.len()];
    let mut inv_std = vec![0f32; outer * inner];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * n + k) * inner + i;
            let mean = (0..n).map(|k| x[at(k)] as f64).sum::<f64>() / n as f64;
            let var = (0..n).map(|k| (x[at(k)] as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            let s = 1.0 / (var + ln.epsilon as f64).sqrt();
            inv_std[o * inner + i] = s as f32;
            for k in 0..n {
                xhat[at(k)] = ((x[at(k)] as f64 - mean) * s) as f32;
            }
        }
    }
    (xhat, inv_std)
}

/// The relevance (RLRP.md: γ/β a diagonal linear layer with bias, the division by σ the identity,
/// the centring a linear layer, each through the method's rule) or, with `rule_for` = None, the
/// exact gradient of a LayerNorm.
pub fn layer_norm_backward(
    ln: &LayerNorm,
    x: &Tensor,
    r: &Tensor,
    rule_for: Option<&dyn Fn(&Linear) -> LinearRule>,
) -> Tensor {
    let xs = contiguous(x);
    let (xhat, inv_std) = normalise(ln, &xs);
    let Some(rule_for) = rule_for else {
        // dx = (1/σ) (g − mean(g) − x̂ · mean(g ⊙ x̂)), g = r ⊙ γ.
        let Axes3 { outer, n, inner } = ln.axes;
        let (rs, gamma) = (contiguous(r), contiguous(&ln.gamma));
        let mut dx = vec![0f32; xs.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * n + k) * inner + i;
                let g = |k: usize| rs[at(k)] as f64 * gamma[at(k)] as f64;
                let mean_g = (0..n).map(g).sum::<f64>() / n as f64;
                let mean_gx = (0..n).map(|k| g(k) * xhat[at(k)] as f64).sum::<f64>() / n as f64;
                let s = inv_std[o * inner + i] as f64;
                for k in 0..n {
                    dx[at(k)] = (s * (g(k) - mean_g - xhat[at(k)] as f64 * mean_gx)) as f32;
                }
            }
        }
        return tensor(x.shape(), dx);
    };
    let xhat = tensor(x.shape(), xhat);
    let affine = Linear::Affine(Affine { scale: ln.gamma.clone(), bias: ln.beta.clone() });
    let r_hat = propagate(
        &rule_for(&affine),
        &LayerContext { layer: &affine, x: xhat.view(), out_shape: x.shape(), z: None, r_l1: None },
        r,
    );
    let centre = Linear::Centre(ln.axes);
    propagate(
        &rule_for(&centre),
        &LayerContext { layer: &centre, x: x.view(), out_shape: x.shape(), z: None, r_l1: None },
        &r_hat,
    )
}

/// ReduceMax / GlobalMaxPool: each output's relevance (or gradient) to the first maximal input.
pub fn reduce_max_route(axes: &Axes3, x: &Tensor, r: &Tensor) -> Tensor {
    let xs = contiguous(x);
    let rs = contiguous(r);
    let mut out = vec![0f32; xs.len()];
    for (j, (start, stride)) in axes.lanes().enumerate() {
        if axes.n > 0 {
            let at = |k: usize| start + k * stride;
            let best = (0..axes.n).fold(0, |b, k| if xs[at(k)] > xs[at(b)] { k } else { b });
            out[at(best)] = rs[j];
        }
    }
    tensor(x.shape(), out)
}

/// The gradient of y = ‖x‖₂ over the middle axis of [outer, n, inner]: x ⊙ r / y, zero where
/// y = 0 (as PyTorch's norm backward; f64 norms).
pub fn reduce_l2_gradient(axes: &Axes3, x: &Tensor, r: &Tensor) -> Tensor {
    let xs = contiguous(x);
    let rs = contiguous(r);
    let mut out = vec![0f32; xs.len()];
    for (j, (start, stride)) in axes.lanes().enumerate() {
        let lane = (0..axes.n).map(|k| start + k * stride);
        let norm = lane.clone().map(|at| (xs[at] as f64).powi(2)).sum::<f64>().sqrt();
        if norm > 0.0 {
            let scale = rs[j] as f64 / norm;
            lane.for_each(|at| out[at] = (xs[at] as f64 * scale) as f32);
        }
    }
    tensor(x.shape(), out)
}

/// Slice / Split: the output's relevance put back where it was taken from, zero elsewhere.
pub fn slice_scatter(ranges: &[AxisRange], in_shape: &[usize], r: &Tensor) -> Tensor {
    let mut out = Tensor::zeros(ndarray::IxDyn(in_shape));
    let mut view = out.view_mut();
    for range in ranges {
        let len = r.shape()[range.axis];
        let end = if len == 0 { range.start } else { range.start + (len - 1) * range.step + 1 };
        view.slice_axis_inplace(
            ndarray::Axis(range.axis),
            ndarray::Slice::new(range.start as isize, Some(end as isize), range.step as isize),
        );
    }
    view.assign(r);
    out
}

/// Gather along `axis`: relevance summed back onto the gathered positions, zero elsewhere.
pub fn gather_scatter(axis: usize, indices: &[usize], in_shape: &[usize], r: &Tensor) -> Tensor {
    let outer: usize = in_shape[..axis].iter().product();
    let dim = in_shape[axis];
    let inner: usize = in_shape[axis + 1..].iter().product();
    let rs = contiguous(r);
    let mut out = vec![0f32; in_shape.iter().product()];
    for o in 0..outer {
        for (j, &ix) in indices.iter().enumerate() {
            let src = &rs[(o * indices.len() + j) * inner..][..inner];
            for (d, &v) in out[(o * dim + ix) * inner..][..inner].iter_mut().zip(src) {
                *d += v;
            }
        }
    }
    tensor(in_shape, out)
}
