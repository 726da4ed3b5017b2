//! αβ at a Conv or Dense layer in three matrix products: one forward, `A = |W||x|`, and two
//! transposed, where Zennit's four terms take four after a ReLU and eight on a mixed-sign input
//! (RLRP.md, "Classical rules, for comparison": αβ as Zennit defines it).
//!
//! Zennit's denominators are `z₊ = W⁺x⁺ + W⁻x⁻ + b⁺` and `z₋ = W⁻x⁺ + W⁺x⁻ + b⁻`, and its result
//! `R_i = Σ_j α(x_i w_ij)⁺ R_j/z₊_j − β(x_i w_ij)⁻ R_j/z₋_j`. Since `(t)^± = ½(t ± |t|)`:
//!
//! - `z± = ½(Wx ± A) + b^±` with `Wx = z − b` (z as the forward pass kept it) and `A = |W||x|`;
//! - `R = ½[x ⊙ Wᵀu + |x| ⊙ |W|ᵀv]` with `u = αs₊ − βs₋`, `v = αs₊ + βs₋`, `s± = R/z±`.
//!
//! Both are exact in real arithmetic; in float32 each carries an error of a few ulps of
//! `A + |b|`. Where a denominator is much smaller than that (its output is *lopsided*: nearly all
//! of its terms have one sign), that error would be a large part of it, and αβ divides by it. So
//! every output whose smaller side is below [`LOPSIDED`] of `A + |b|` is taken out of the products
//! and done term by term from its taps (both sums in f64, then its relevance scattered to its
//! inputs): the error left is at most ~[`LOPSIDED`]⁻¹ ulps of each output's relevance.
//!
//! A depthwise convolution after a ReLU computes both sides exactly instead, in one convolution
//! of W⁺ and W⁻ side by side, and its transpose ([`depthwise`]): two products' worth where
//! Zennit's terms take four.
use super::{negative_part, positive_part, stabilised_divide, LayerContext, ModifiedWeights, ParamMod};
use crate::kernels::conv::{self, Conv2dGeometry};
use crate::kernels::elementwise;
use crate::model::graph::{Conv, Linear};
use crate::relevance::linear::{slice, tensor};
use crate::tensor::Tensor;
use std::borrow::Cow;

/// An output is summed exactly when `z₊ ≤ LOPSIDED · (A + |b|)` or (β ≠ 0) `−z₋ ≤ LOPSIDED · (A + |b|)`.
const LOPSIDED: f32 = 1.0 / 64.0;

/// Above one lopsided output in this many, the layer takes the four-term form.
const MOST_LOPSIDED: usize = 16;

/// Outputs per chunk of the pass that finds the lopsided outputs and makes the signals.
const CHUNK: usize = 128;

/// The kept z is checked against its terms on [`Z_RUNS`] runs of [`Z_RUN`] consecutive outputs
/// spread over the layer (consecutive outputs read neighbouring inputs or weights, which one run
/// then brings into cache once: 32 outputs spread one by one cost a cache miss a tap, ~4 ms of αβ
/// on Lite0 in Chromium), and the agreement asked: f32 sums of a thousand terms stay within ~1e-6
/// of their magnitude (Lite0: 4e-7 at worst).
const Z_RUNS: usize = 4;
const Z_RUN: usize = 8;
const Z_TOLERANCE: f64 = 1e-5;

/// αβ's relevance at the layer's input (z⁺ is α = 1, β = 0), or None for the layers this form
/// does not cover: those without explicit taps (pooling, diagonal and attention layers), layers
/// with more than one lopsided output in [`MOST_LOPSIDED`] (Lite0's: 3.3 % at most, the stem),
/// and depthwise convolutions on a mixed-sign input. Depthwise convolutions, whose outputs sum a
/// few terms (5–45 % of Lite0's are lopsided), take [`depthwise`]'s exact sides instead.
pub(super) fn propagate(
    ctx: &LayerContext,
    r: &Tensor,
    alpha: f32,
    beta: f32,
    stabilizer: f32,
    weights: &ModifiedWeights,
) -> Option<Tensor> {
    let layer = ctx.layer;
    match layer {
        Linear::Conv(c) if c.geometry.in_channels == c.geometry.groups => {
            return depthwise(ctx, c, r, alpha, beta, stabilizer);
        }
        Linear::Conv(_) | Linear::Dense(_) => {}
        _ => return None,
    }
    let w = layer.weight()?;
    let bias = layer.bias().filter(|b| !b.is_empty());
    let x = slice(&ctx.x);
    let x_abs: Option<Tensor> =
        elementwise::any_negative(&x).then(|| tensor(ctx.x.shape(), x.iter().map(|v| v.abs()).collect()));
    let w_abs = weights.get(ctx, ParamMod::Abs)?;
    let a = layer.forward_with(x_abs.as_ref().map_or(&*ctx.x, |t| &**t), Some(&w_abs), None, ctx.out_shape);
    let mut a = a.into_raw_vec_and_offset().0;
    let kept = ctx.output();
    let bias_at = |j: usize| bias.zip(layer.bias_index(j)).map_or(0.0, |(b, k)| b[k]);
    // z must be this layer's Wx + b for the identities to hold: checked on a few outputs, term by
    // term (a forward pass that rounds z differently, e.g. to a quantised grid, fails the check
    // and z is computed here)
    let kept = slice(&kept);
    let consistent = z_samples(a.len()).all(|j| {
        let b = bias_at(j);
        ((exact_sum(layer, &x, w, j) + b as f64) - kept[j] as f64).abs() <= Z_TOLERANCE * (a[j] + b.abs()) as f64
    });
    let z: Cow<[f32]> = if consistent {
        kept
    } else {
        let own = layer.forward_with(&ctx.x, None, bias, ctx.out_shape);
        Cow::Owned(own.into_raw_vec_and_offset().0)
    };
    let r = slice(r);
    // Each output's bias is constant over runs of `run` outputs: a channel's plane (Conv), one
    // output (Dense, whose bias cycles over the columns).
    let run_len = match layer {
        Linear::Conv(c) => c.geometry.out_h * c.geometry.out_w,
        _ => 1,
    }
    .max(1);
    let bias_of_run = |k: usize| bias.map_or(0.0, |b| b[k % b.len()]);

    // One pass over the outputs, in chunks that stay in cache: which are lopsided (a branch-free
    // test over the chunk, then the rare chunk that has one looked at output by output), and
    // u = αs₊ − βs₋ (over A, in place) and v = αs₊ + βs₋, branch-free so that it vectorises.
    // Each lopsided output costs about twenty times its share of a product, term by term: where
    // many are (a layer whose weights or inputs nearly all have one sign), the four-term form is
    // cheaper, and the pass stops there.
    let most = a.len() / MOST_LOPSIDED;
    let check_negative = beta != 0.0; // with β = 0 (z⁺) the negative side is never divided by
    let mut lopsided_outputs: Vec<usize> = Vec::new();
    let mut v = vec![0f32; a.len()];
    for (k, start) in (0..a.len()).step_by(run_len).enumerate() {
        let run = RunOfOutputs::new(bias_of_run(k), alpha, beta, stabilizer, check_negative);
        let end = (start + run_len).min(a.len());
        for c0 in (start..end).step_by(CHUNK) {
            let c1 = (c0 + CHUNK).min(end);
            let (z, r) = (&z[c0..c1], &r[c0..c1]);
            // A's chunk as it was, for the rare chunk with a lopsided output
            let mut a_chunk = [0f32; CHUNK];
            a_chunk[..c1 - c0].copy_from_slice(&a[c0..c1]);
            if run.signals(z, &mut a[c0..c1], &mut v[c0..c1], r) {
                for (j, ((&zj, &aj), &rj)) in z.iter().zip(&a_chunk).zip(r).enumerate() {
                    if run.is_lopsided(zj, aj, rj) {
                        lopsided_outputs.push(c0 + j);
                    }
                }
                if lopsided_outputs.len() > most {
                    return None;
                }
            }
        }
    }
    // (output, αs₊, βs₋) of the lopsided outputs, summed term by term
    let lopsided: Vec<(usize, f32, f32)> = lopsided_outputs
        .into_iter()
        .map(|j| {
            let b = bias_at(j);
            let (p, n) = exact_sides(layer, &x, w, j);
            let pos = (p + positive_part(b) as f64) as f32;
            let neg = (n + negative_part(b) as f64) as f32;
            (j, alpha * stabilised_divide(r[j], pos, stabilizer), beta * stabilised_divide(r[j], neg, stabilizer))
        })
        .collect();
    for &(j, _, _) in &lopsided {
        (a[j], v[j]) = (0.0, 0.0);
    }
    let u = a;

    let in_shape = ctx.x.shape();
    let (u, v) = (tensor(ctx.out_shape, u), tensor(ctx.out_shape, v));
    let mut out = if x_abs.is_none() {
        // x ≥ 0: R = ½ x ⊙ (Wᵀu + |W|ᵀv), the two products summed as they are made
        let mut out = layer.transpose_sum(&[(&u, None), (&v, Some(&w_abs))], in_shape).into_raw_vec_and_offset().0;
        for (o, &xv) in out.iter_mut().zip(x.iter()) {
            *o *= 0.5 * xv;
        }
        out
    } else {
        let g = layer.transpose_with(&u, None, in_shape);
        let h = layer.transpose_with(&v, Some(&w_abs), in_shape);
        // R = ½[x ⊙ g + |x| ⊙ h]: g and h are fresh, contiguous tensors
        let mut out = g.into_raw_vec_and_offset().0;
        let h = h.as_slice().expect("a kernel's output is contiguous");
        for ((o, &xv), &hv) in out.iter_mut().zip(x.iter()).zip(h) {
            *o = 0.5 * (xv * *o + xv.abs() * hv);
        }
        out
    };
    for (j, sp, sn) in lopsided {
        layer.for_each_tap(j, |i, k| {
            let t = w[k] * x[i];
            out[i] += if t > 0.0 { sp * t } else { -sn * t };
        });
    }
    Some(tensor(in_shape, out))
}

/// αβ at a depthwise convolution on a non-negative input (as after a ReLU; None otherwise, for
/// the four-term form): its outputs sum a few terms each and many are lopsided (5–45 % of
/// Lite0's), so both sides are computed exactly, `z₊ = W⁺x + b⁺` and `z₋ = W⁻x + b⁻`, as one
/// convolution with twice the channel multiplier (each output channel's W⁺ and W⁻ side by side:
/// the input's padded planes are laid out once for both); the signals `αs₊` and `−βs₋` replace
/// them in one pass; and `R = x ⊙ (W⁺ᵀαs₊ + W⁻ᵀ(−βs₋))` is that convolution's transpose (one
/// gather over both sides).
fn depthwise(ctx: &LayerContext, c: &Conv, r: &Tensor, alpha: f32, beta: f32, stabilizer: f32) -> Option<Tensor> {
    let x = slice(&ctx.x);
    if elementwise::any_negative(&x) {
        return None;
    }
    let taps = c.geometry.kernel_h * c.geometry.kernel_w;
    let both = Conv2dGeometry { out_channels: 2 * c.geometry.out_channels, ..c.geometry.clone() };
    let mut w = Vec::with_capacity(2 * c.weight.len());
    for channel in c.weight.chunks_exact(taps) {
        w.extend(channel.iter().map(|&v| positive_part(v)));
        w.extend(channel.iter().map(|&v| negative_part(v)));
    }
    let bias: Vec<f32> = c.bias.iter().flat_map(|&b| [positive_part(b), negative_part(b)]).collect();
    let plane = both.out_h * both.out_w;
    let mut sides = vec![0f32; both.output_len()];
    conv::conv2d_forward(&both, &x, &w, (!c.bias.is_empty()).then_some(&bias[..]), &mut sides);
    // planes 2c and 2c + 1: channel c's z₊ and z₋, then its αs₊ and −βs₋
    let r = slice(r);
    for (pair, r) in sides.chunks_exact_mut(2 * plane).zip(r.chunks_exact(plane)) {
        let (pos, neg) = pair.split_at_mut(plane);
        for ((p, n), &rv) in pos.iter_mut().zip(neg.iter_mut()).zip(r) {
            *p = alpha * divide_stabilised(rv, *p, stabilizer);
            *n = -beta * divide_stabilised(rv, *n, stabilizer);
        }
    }
    let mut out = vec![0f32; c.geometry.input_len()];
    conv::conv2d_transpose(&both, &sides, &w, &mut out);
    for (o, &xv) in out.iter_mut().zip(x.iter()) {
        *o *= xv;
    }
    Some(tensor(ctx.x.shape(), out))
}

/// `(Σ(w x)⁺, Σ(w x)⁻)` over the taps of output `j`, in f64.
fn exact_sides(layer: &Linear, x: &[f32], w: &[f32], j: usize) -> (f64, f64) {
    let (mut pos, mut neg) = (0f64, 0f64);
    layer.for_each_tap(j, |i, k| {
        let t = w[k] as f64 * x[i] as f64;
        if t > 0.0 {
            pos += t;
        } else {
            neg += t;
        }
    });
    (pos, neg)
}

/// `Σ w x` over the taps of output `j`, in f64.
fn exact_sum(layer: &Linear, x: &[f32], w: &[f32], j: usize) -> f64 {
    let mut sum = 0f64;
    layer.for_each_tap(j, |i, k| sum += w[k] as f64 * x[i] as f64);
    sum
}

/// [`stabilised_divide`] without branches: `r / (z + ε·(sign(z) + [z = 0]))`, 0 where that
/// denominator is 0 (ε = 0). The same values for every z but NaN, which gives NaN here (and r/ε
/// there): the walk's finiteness check then names the layer instead of a NaN passing as r/ε.
#[inline(always)]
fn divide_stabilised(r: f32, z: f32, eps: f32) -> f32 {
    let d = if z < 0.0 { z - eps } else { z + eps };
    let q = r / d;
    if d == 0.0 {
        0.0
    } else {
        q
    }
}

/// The outputs of one run (one bias): the constants of their sides, signals and lopsided test.
struct RunOfOutputs {
    b: f32,
    b_pos: f32,
    b_neg: f32,
    /// [`LOPSIDED`] · |b|
    small_b: f32,
    alpha: f32,
    beta: f32,
    stabilizer: f32,
    /// β ≠ 0: the negative side is divided by too (with β = 0, z⁺, it never is)
    check_negative: bool,
}

impl RunOfOutputs {
    fn new(b: f32, alpha: f32, beta: f32, stabilizer: f32, check_negative: bool) -> Self {
        let (b_pos, b_neg, small_b) = (positive_part(b), negative_part(b), LOPSIDED * b.abs());
        Self { b, b_pos, b_neg, small_b, alpha, beta, stabilizer, check_negative }
    }

    /// `(z₊, z₋, LOPSIDED · (A + |b|))` of an output from its kept z and its A.
    #[inline(always)]
    fn sides(&self, z: f32, a: f32) -> (f32, f32, f32) {
        let wx = z - self.b;
        (0.5 * (wx + a) + self.b_pos, 0.5 * (wx - a) + self.b_neg, LOPSIDED * a + self.small_b)
    }

    #[inline(always)]
    fn is_lopsided(&self, z: f32, a: f32, r: f32) -> bool {
        let (pos, neg, small) = self.sides(z, a);
        ((pos <= small) | (self.check_negative & (-neg <= small))) & (r != 0.0)
    }

    /// Over one chunk of the run: A (in `a_u`) → `u = αs₊ − βs₋`, and `v = αs₊ + βs₋`, branch-free;
    /// true when some output of the chunk is lopsided (its u and v are then replaced).
    fn signals(&self, z: &[f32], a_u: &mut [f32], v: &mut [f32], r: &[f32]) -> bool {
        let n = z.len();
        assert!(a_u.len() == n && v.len() == n && r.len() == n, "signals: chunk lengths");
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let (mut any, done) = self.signals_simd(z, a_u, v, r);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let (mut any, done) = (false, 0);
        for j in done..n {
            let (pos, neg, _) = self.sides(z[j], a_u[j]);
            any |= self.is_lopsided(z[j], a_u[j], r[j]);
            let sp = self.alpha * divide_stabilised(r[j], pos, self.stabilizer);
            let sn = self.beta * divide_stabilised(r[j], neg, self.stabilizer);
            a_u[j] = sp - sn;
            v[j] = sp + sn;
        }
        any
    }

    /// [`Self::signals`] four outputs at a time, the same operations in the same order (so the
    /// same values); returns whether one was lopsided and how many outputs were done.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn signals_simd(&self, z: &[f32], a_u: &mut [f32], v: &mut [f32], r: &[f32]) -> (bool, usize) {
        use crate::kernels::elementwise::simd::{load, store};
        use core::arch::wasm32::*;
        let splat = f32x4_splat;
        let (b, b_pos, b_neg, small_b) = (splat(self.b), splat(self.b_pos), splat(self.b_neg), splat(self.small_b));
        let (alpha, beta, eps, half, lopsided) =
            (splat(self.alpha), splat(self.beta), splat(self.stabilizer), splat(0.5), splat(LOPSIDED));
        let check_negative = u32x4_splat(if self.check_negative { u32::MAX } else { 0 });
        let zero = splat(0.0);
        // divide_stabilised: r / (d ± ε), 0 where that is 0
        let divide = |r: v128, d: v128| {
            let d = f32x4_add(d, v128_bitselect(f32x4_neg(eps), eps, f32x4_lt(d, zero)));
            v128_andnot(f32x4_div(r, d), f32x4_eq(d, zero))
        };
        let mut any = u32x4_splat(0);
        let mut i = 0;
        while i + 4 <= z.len() {
            let (zv, av, rv) = (load(z, i), load(a_u, i), load(r, i));
            let wx = f32x4_sub(zv, b);
            let pos = f32x4_add(f32x4_mul(half, f32x4_add(wx, av)), b_pos);
            let neg = f32x4_add(f32x4_mul(half, f32x4_sub(wx, av)), b_neg);
            let small = f32x4_add(f32x4_mul(lopsided, av), small_b);
            let side = v128_or(f32x4_le(pos, small), v128_and(check_negative, f32x4_le(f32x4_neg(neg), small)));
            any = v128_or(any, v128_and(side, f32x4_ne(rv, zero)));
            let sp = f32x4_mul(alpha, divide(rv, pos));
            let sn = f32x4_mul(beta, divide(rv, neg));
            store(a_u, i, f32x4_sub(sp, sn));
            store(v, i, f32x4_add(sp, sn));
            i += 4;
        }
        (v128_any_true(any), i)
    }
}

/// The outputs of a layer of `len` outputs on which the kept z is checked: [`Z_RUNS`] runs of
/// [`Z_RUN`] consecutive ones, the first at output 0 and the others spread evenly (fewer, without
/// repeats, on a small layer).
fn z_samples(len: usize) -> impl Iterator<Item = usize> {
    let runs = Z_RUNS.min(len.div_ceil(Z_RUN));
    (0..runs).flat_map(move |k| {
        let start = k * len / runs.max(1);
        start..(start + Z_RUN).min(len).min(if k + 1 < runs { (k + 1) * len / runs } else { len })
    })
}

#[cfg(test)]
mod tests {
    use super::{z_samples, Z_RUN, Z_RUNS};

    /// The checked outputs: in range, increasing (no repeats), output 0 first, at most
    /// Z_RUNS · Z_RUN of them, every output of a small layer, and runs spread to the last quarter.
    #[test]
    fn z_samples_are_spread_runs_without_repeats() {
        for len in [0usize, 1, 7, 8, 9, 10, 31, 32, 33, 100, 12_544, 1_000_000] {
            let s: Vec<usize> = z_samples(len).collect();
            assert!(s.windows(2).all(|p| p[0] < p[1]) && s.iter().all(|&j| j < len), "len {len}: {s:?}");
            assert!(s.len() <= Z_RUNS * Z_RUN && s.first().is_none_or(|&j| j == 0), "len {len}: {s:?}");
            if len <= Z_RUNS * Z_RUN {
                assert_eq!(s.len(), len, "len {len}: {s:?}");
            } else {
                assert!(s.len() == Z_RUNS * Z_RUN && *s.last().unwrap() >= len * (Z_RUNS - 1) / Z_RUNS, "len {len}");
            }
        }
    }
}
