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
use super::{negative_part, positive_part, stabilised_divide, LayerContext, ModifiedWeights, ParamMod};
use crate::kernels::elementwise;
use crate::model::graph::Linear;
use crate::relevance::linear::{slice, tensor};
use crate::tensor::Tensor;
use std::borrow::Cow;

/// An output is summed exactly when `z₊ ≤ LOPSIDED · (A + |b|)` or (β ≠ 0) `−z₋ ≤ LOPSIDED · (A + |b|)`.
const LOPSIDED: f32 = 1.0 / 64.0;

/// Above one lopsided output in this many, the layer takes the four-term form.
const MOST_LOPSIDED: usize = 16;

/// Outputs per chunk of the pass that finds the lopsided outputs and makes the signals.
const CHUNK: usize = 128;

/// Outputs on which the kept z is checked against its terms, and the agreement asked: f32 sums of
/// a thousand terms stay within ~1e-6 of their magnitude (Lite0: 4e-7 at worst).
const Z_SAMPLES: usize = 32;
const Z_TOLERANCE: f64 = 1e-5;

/// αβ's relevance at the layer's input (z⁺ is α = 1, β = 0), or None for the layers this form
/// does not cover: those without explicit taps (pooling, diagonal and attention layers),
/// depthwise convolutions, whose outputs sum a few terms (5–45 % of Lite0's are lopsided) and
/// whose four products are cheap, and layers with more than one lopsided output in
/// [`MOST_LOPSIDED`] (Lite0's other layers: 3.3 % at most, the stem).
pub(super) fn propagate(
    ctx: &LayerContext,
    r: &Tensor,
    alpha: f32,
    beta: f32,
    stabilizer: f32,
    weights: &ModifiedWeights,
) -> Option<Tensor> {
    let layer = ctx.layer;
    let depthwise = matches!(layer, Linear::Conv(c) if c.geometry.in_channels == c.geometry.groups);
    if depthwise || !matches!(layer, Linear::Conv(_) | Linear::Dense(_)) {
        return None;
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
    let consistent = (0..a.len()).step_by(a.len().div_ceil(Z_SAMPLES).max(1)).all(|j| {
        let (p, n) = exact_sides(layer, &x, w, j);
        let b = bias_at(j);
        ((p + n + b as f64) - kept[j] as f64).abs() <= Z_TOLERANCE * (a[j] + b.abs()) as f64
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
    let run = match layer {
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
    for (k, start) in (0..a.len()).step_by(run).enumerate() {
        let b = bias_of_run(k);
        let (b_pos, b_neg, small_b) = (positive_part(b), negative_part(b), LOPSIDED * b.abs());
        let sides = |zj: f32, aj: f32| {
            let wx = zj - b;
            (0.5 * (wx + aj) + b_pos, 0.5 * (wx - aj) + b_neg, LOPSIDED * aj + small_b)
        };
        let is_lopsided = |zj: f32, aj: f32, rj: f32| {
            let (pos, neg, small) = sides(zj, aj);
            ((pos <= small) | (check_negative & (-neg <= small))) & (rj != 0.0)
        };
        let end = (start + run).min(a.len());
        for c0 in (start..end).step_by(CHUNK) {
            let c1 = (c0 + CHUNK).min(end);
            let (z, r) = (&z[c0..c1], &r[c0..c1]);
            let any =
                z.iter().zip(&a[c0..c1]).zip(r).fold(false, |any, ((&zj, &aj), &rj)| any | is_lopsided(zj, aj, rj));
            if any {
                for (j, ((&zj, &aj), &rj)) in z.iter().zip(&a[c0..c1]).zip(r).enumerate() {
                    if is_lopsided(zj, aj, rj) {
                        lopsided_outputs.push(c0 + j);
                    }
                }
                if lopsided_outputs.len() > most {
                    return None;
                }
            }
            for (((u, v), &zj), &rj) in a[c0..c1].iter_mut().zip(&mut v[c0..c1]).zip(z).zip(r) {
                let (pos, neg, _) = sides(zj, *u);
                let sp = alpha * divide_stabilised(rj, pos, stabilizer);
                let sn = beta * divide_stabilised(rj, neg, stabilizer);
                *u = sp - sn;
                *v = sp + sn;
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

/// [`stabilised_divide`] without branches (the same values): `r / (z + ε·(sign(z) + [z = 0]))`, 0
/// where that denominator is 0 (ε = 0).
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
