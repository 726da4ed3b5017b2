//! Every linear-layer rule of [`rlrp::relevance::rules::propagate`] against an independent dense-matrix
//! reference, the way Zennit tests its own rules.
//!
//! Each layer under test (Dense, Conv, AvgPool, GlobalAvgPool, Affine) is turned into an explicit matrix
//! `W` (n_out × n_in, f64) and bias `b` (n_out): Dense and Affine from their documented parameter layout,
//! Conv and pooling by probing the layer's forward map with unit vectors (column i = f(e_i) − f(0), bias
//! zeroed). Every rule is then re-implemented on that matrix straight from its definition (Zennit 0.5.1's
//! rules; R-LRP from RLRP.md) and compared with the crate by `max |crate − ref| / max |ref|` in f64.
//!
//! Layer parameters, inputs and relevances are dyadic rationals `k/64` with |k| ≤ 64 (the positive
//! inputs `k/64` with 1 ≤ k ≤ 64). Products of two of them are multiples of 1/4096 and every forward sum
//! of this file's sizes is exact in f32 as in f64, so the sign of each z, and the z that are exactly
//! zero, agree between the crate and the reference: the comparison measures the rules, not f32
//! cancellation. Pooling weights (1/k) are the crate's own f32 values, probed.
//!
//! Besides the comparisons, the conservation facts: LRP-0 on a bias-free layer with no zero z and z⁺ on
//! positive inputs with zero bias conserve ΣR; R-LRP conserves ‖R‖₁ and stays finite where some z_j is
//! 1e-7 with inputs of 1e4.
//!
//! `cargo test --test rules_reference -- --nocapture` prints the largest relative error seen per rule.

use crate::common;
use common::rng::Rng;
use rlrp::kernels::conv::Conv2dGeometry;
use rlrp::kernels::pool::Pool2dGeometry;
use rlrp::model::graph::{Affine, Conv, Dense, Linear};
use rlrp::relevance::rules::{propagate, LayerContext, LinearRule};
use rlrp::tensor::{ndarray, Tensor};
use std::collections::BTreeMap;

/// Agreement required between the crate and the reference: max abs error / max abs reference.
const TOL: f64 = 1e-4;

// ---------------------------------------------------------------------------------------------------------
// Deterministic PRNG (xorshift64*) and dyadic test data.

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        (self.next_u64() >> 11) % n
    }

    /// `k/64`, k uniform in −64..=64 (both signs, sometimes exactly 0).
    fn q(&mut self) -> f32 {
        (self.below(129) as i64 - 64) as f32 / 64.0
    }

    /// `k/64`, k uniform in 1..=64 (strictly positive).
    fn q_pos(&mut self) -> f32 {
        (self.below(64) + 1) as f32 / 64.0
    }

    /// `k/64` of both signs, not all zero.
    fn q_vec(&mut self, n: usize) -> Vec<f32> {
        not_all_zero((0..n).map(|_| self.q()).collect())
    }

    fn q_pos_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.q_pos()).collect()
    }

    /// Like a post-ReLU activation: non-negative, with exact zeros.
    fn relu_vec(&mut self, n: usize) -> Vec<f32> {
        not_all_zero((0..n).map(|_| self.q().max(0.0)).collect())
    }
}

/// An all-zero random vector (likely only for tiny sizes) gets a first entry 1/2.
fn not_all_zero(mut v: Vec<f32>) -> Vec<f32> {
    if !v.is_empty() && v.iter().all(|&a| a == 0.0) {
        v[0] = 0.5;
    }
    v
}

// ---------------------------------------------------------------------------------------------------------
// f64 vector and matrix helpers of the reference.

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| a as f64).collect()
}

fn map(v: &[f64], f: impl Fn(f64) -> f64) -> Vec<f64> {
    v.iter().map(|&a| f(a)).collect()
}

fn zip(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
}

fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    zip(a, b, |x, y| x + y)
}

fn sub(a: &[f64], b: &[f64]) -> Vec<f64> {
    zip(a, b, |x, y| x - y)
}

fn mul(a: &[f64], b: &[f64]) -> Vec<f64> {
    zip(a, b, |x, y| x * y)
}

fn l1(v: &[f64]) -> f64 {
    v.iter().map(|a| a.abs()).sum()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, a| m.max(a.abs()))
}

/// Zennit's stabiliser `z + ε·(sign(z) + [z = 0])`.
fn stab(z: f64, eps: f64) -> f64 {
    if z > 0.0 {
        z + eps
    } else if z < 0.0 {
        z - eps
    } else {
        eps
    }
}

/// `r / stab_ε(z)`, 0 where the stabilised denominator is exactly 0 (only z = 0 with ε = 0).
fn div(r: &[f64], z: &[f64], eps: f64) -> Vec<f64> {
    zip(r, z, |r, z| {
        let d = stab(z, eps);
        if d == 0.0 {
            0.0
        } else {
            r / d
        }
    })
}

/// A dense matrix, row-major `n_out × n_in`.
#[derive(Clone, Debug, PartialEq)]
struct Mat {
    n_out: usize,
    n_in: usize,
    a: Vec<f64>,
}

impl Mat {
    fn zeros(n_out: usize, n_in: usize) -> Self {
        Mat { n_out, n_in, a: vec![0.0; n_out * n_in] }
    }

    fn set(&mut self, j: usize, i: usize, v: f64) {
        self.a[j * self.n_in + i] = v;
    }

    fn map(&self, f: impl Fn(f64) -> f64) -> Mat {
        Mat { n_out: self.n_out, n_in: self.n_in, a: self.a.iter().map(|&v| f(v)).collect() }
    }

    /// `W x`
    fn mv(&self, x: &[f64]) -> Vec<f64> {
        assert_eq!(x.len(), self.n_in);
        self.a.chunks_exact(self.n_in).map(|row| row.iter().zip(x).map(|(w, x)| w * x).sum()).collect()
    }

    /// `Wᵀ s`
    fn tv(&self, s: &[f64]) -> Vec<f64> {
        assert_eq!(s.len(), self.n_out);
        let mut out = vec![0.0; self.n_in];
        for (row, &sj) in self.a.chunks_exact(self.n_in).zip(s) {
            for (o, w) in out.iter_mut().zip(row) {
                *o += w * sj;
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------------------
// The reference rules, on an explicit matrix.

/// A layer as an explicit affine map, plus the matrix of ones with W's sparsity pattern (the Flat rule's
/// weights; None for layers Flat is never applied to).
struct Reference {
    w: Mat,
    b: Vec<f64>,
    ones: Option<Mat>,
}

impl Reference {
    /// `z = W x + b`
    fn z(&self, x: &[f64]) -> Vec<f64> {
        add(&self.w.mv(x), &self.b)
    }

    /// `z⁺ = W⁺x⁺ + b⁺ + W⁻x⁻` (the z⁺ rule's denominator before stabilising).
    fn z_plus(&self, x: &[f64]) -> Vec<f64> {
        let (wp, wn) = (self.w.map(|v| v.max(0.0)), self.w.map(|v| v.min(0.0)));
        let bp = map(&self.b, |v| v.max(0.0));
        add(&add(&wp.mv(&map(x, |v| v.max(0.0))), &bp), &wn.mv(&map(x, |v| v.min(0.0))))
    }
}

/// Relevance at the layer input under `rule`, computed from the definitions on the explicit matrix.
fn reference(rule: &LinearRule, layer: &Reference, x: &[f64], r: &[f64]) -> Vec<f64> {
    let (w, b) = (&layer.w, &layer.b);
    assert_eq!(x.len(), w.n_in);
    assert_eq!(r.len(), w.n_out);
    let xp = map(x, |v| v.max(0.0));
    let xn = map(x, |v| v.min(0.0));
    let wp = w.map(|v| v.max(0.0));
    let wn = w.map(|v| v.min(0.0));
    let bp = map(b, |v| v.max(0.0));
    let bn = map(b, |v| v.min(0.0));
    match *rule {
        LinearRule::Epsilon { epsilon: eps } | LinearRule::Norm { stabilizer: eps } => {
            let s = div(r, &layer.z(x), eps as f64);
            mul(x, &w.tv(&s))
        }
        LinearRule::ZPlus { stabilizer } => {
            let z = add(&add(&wp.mv(&xp), &bp), &wn.mv(&xn));
            let s = div(r, &z, stabilizer as f64);
            add(&mul(&xp, &wp.tv(&s)), &mul(&xn, &wn.tv(&s)))
        }
        LinearRule::AlphaBeta { alpha, beta, stabilizer } => {
            let eps = stabilizer as f64;
            let pos = add(&add(&wp.mv(&xp), &bp), &wn.mv(&xn));
            let neg = add(&add(&wn.mv(&xp), &bn), &wp.mv(&xn));
            let s_pos = div(r, &pos, eps);
            let s_neg = div(r, &neg, eps);
            let r_pos = add(&mul(&xp, &wp.tv(&s_pos)), &mul(&xn, &wn.tv(&s_pos)));
            let r_neg = add(&mul(&xp, &wn.tv(&s_neg)), &mul(&xn, &wp.tv(&s_neg)));
            zip(&r_pos, &r_neg, |p, n| alpha as f64 * p - beta as f64 * n)
        }
        LinearRule::Gamma { gamma, stabilizer } => {
            let (g, eps) = (gamma as f64, stabilizer as f64);
            let wpg = w.map(|v| v + g * v.max(0.0));
            let wng = w.map(|v| v + g * v.min(0.0));
            let bpg = map(b, |v| v + g * v.max(0.0));
            let bng = map(b, |v| v + g * v.min(0.0));
            let o0 = add(&wpg.mv(&xp), &bpg);
            let o1 = wng.mv(&xn);
            let o2 = add(&wng.mv(&xp), &bng);
            let o3 = wpg.mv(&xn);
            let z = layer.z(x);
            let r_pos = zip(r, &z, |r, z| if z > 0.0 { r } else { 0.0 });
            let r_neg = zip(r, &z, |r, z| if z < 0.0 { r } else { 0.0 });
            let s_pos = div(&r_pos, &add(&o0, &o1), eps);
            let s_neg = div(&r_neg, &add(&o2, &o3), eps);
            let a = add(&mul(&xp, &wpg.tv(&s_pos)), &mul(&xn, &wng.tv(&s_pos)));
            let c = add(&mul(&xp, &wng.tv(&s_neg)), &mul(&xn, &wpg.tv(&s_neg)));
            add(&a, &c)
        }
        LinearRule::Flat { stabilizer } => {
            let ones = layer.ones.as_ref().expect("Flat needs the layer's sparsity pattern");
            let z = ones.mv(&vec![1.0; w.n_in]);
            ones.tv(&div(r, &z, stabilizer as f64))
        }
        LinearRule::WSquare { stabilizer } => {
            let w2 = w.map(|v| v * v);
            let z = add(&w2.mv(&vec![1.0; w.n_in]), &map(b, |v| v * v));
            w2.tv(&div(r, &z, stabilizer as f64))
        }
        LinearRule::ZBox { low, high, stabilizer } => {
            let lo = vec![low as f64; w.n_in];
            let hi = vec![high as f64; w.n_in];
            let z = sub(&sub(&layer.z(x), &add(&wp.mv(&lo), &bp)), &add(&wn.mv(&hi), &bn));
            let s = div(r, &z, stabilizer as f64);
            sub(&sub(&mul(x, &w.tv(&s)), &mul(&lo, &wp.tv(&s))), &mul(&hi, &wn.tv(&s)))
        }
        LinearRule::Rlrp => {
            let u = mul(x, &w.tv(r));
            let norm = l1(&u);
            let lambda = if norm > 0.0 { l1(r) / norm } else { 0.0 };
            map(&u, |v| lambda * v)
        }
        LinearRule::Gradient => w.tv(r),
        LinearRule::Pass => r.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Layers under test.

fn tensor(shape: &[usize], data: Vec<f32>) -> Tensor {
    Tensor::from_shape_vec(ndarray::IxDyn(shape), data).expect("data has the shape's size")
}

/// The dense matrix of `x ↦ layer(x; weight, bias) − layer(0; weight, bias)`, probed with unit vectors.
fn probe(layer: &Linear, in_shape: &[usize], out_shape: &[usize], weight: Option<&[f32]>, bias: Option<&[f32]>) -> Mat {
    let zero = Tensor::zeros(ndarray::IxDyn(in_shape));
    let f0 = layer.forward_with(&zero, weight, bias, out_shape);
    let n_in = zero.len();
    let mut m = Mat::zeros(f0.len(), n_in);
    for i in 0..n_in {
        let mut e = zero.clone();
        e.as_slice_mut().expect("standard layout")[i] = 1.0;
        let fi = layer.forward_with(&e, weight, bias, out_shape);
        for (j, (a, b)) in fi.iter().zip(f0.iter()).enumerate() {
            m.set(j, i, *a as f64 - *b as f64);
        }
    }
    m
}

struct Case {
    name: String,
    layer: Linear,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    reference: Reference,
}

impl Case {
    fn n_in(&self) -> usize {
        self.in_shape.iter().product()
    }

    fn n_out(&self) -> usize {
        self.out_shape.iter().product()
    }

    /// The crate's `propagate`, flattened. It runs twice: computing the layer's output itself, and
    /// given it as the forward pass keeps it (here the reference's `z = W x + b`); the two agree.
    fn run(&self, rule: &LinearRule, x: &[f32], r: &[f32]) -> Vec<f32> {
        let xt = tensor(&self.in_shape, x.to_vec());
        let rt = tensor(&self.out_shape, r.to_vec());
        let ctx = LayerContext { layer: &self.layer, x: xt.view(), out_shape: &self.out_shape, z: None, r_l1: None };
        let out = propagate(rule, &ctx, &rt);
        assert_eq!(out.shape(), &self.in_shape[..], "{}: {rule:?} must return the input's shape", self.name);
        let z: Vec<f32> =
            self.reference.z(&x.iter().map(|&v| v as f64).collect::<Vec<_>>()).iter().map(|&v| v as f32).collect();
        let zt = tensor(&self.out_shape, z);
        // The second run is also given ‖r‖₁, as the walk gives it.
        let r_l1 = r.iter().map(|v| v.abs() as f64).sum::<f64>();
        let given = LayerContext {
            layer: &self.layer,
            x: xt.view(),
            out_shape: &self.out_shape,
            z: Some(zt.view()),
            r_l1: Some(r_l1),
        };
        let with_z = propagate(rule, &given, &rt);
        let scale = out.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
        for (a, b) in out.iter().zip(with_z.iter()) {
            assert!((a - b).abs() <= 1e-4 * scale, "{}: {rule:?} with the kept z: {b} vs {a}", self.name);
        }
        out.iter().copied().collect()
    }
}

/// A dense layer `y = x·W + b` over the last axis (x [rows, k], W [k, n] row-major, b [n]): the explicit
/// matrix is block diagonal, one block `Wᵀ` per row.
fn dense_case(rng: &mut Rng, rows: usize, k: usize, n: usize, with_bias: bool) -> Case {
    let weight = rng.q_vec(k * n);
    let bias = if with_bias { rng.q_vec(n) } else { vec![0.0; n] };
    let mut w = Mat::zeros(rows * n, rows * k);
    let mut ones = Mat::zeros(rows * n, rows * k);
    for row in 0..rows {
        for j in 0..n {
            for i in 0..k {
                w.set(row * n + j, row * k + i, weight[i * n + j] as f64);
                ones.set(row * n + j, row * k + i, 1.0);
            }
        }
    }
    let b = (0..rows).flat_map(|_| f64s(&bias)).collect();
    let layer = Linear::Dense(Dense { rows, k, n, weight, bias });
    let (in_shape, out_shape) = (vec![rows, k], vec![rows, n]);
    // The probe helper (used for the layers below) must agree with the documented layout.
    let probed = probe(&layer, &in_shape, &out_shape, None, Some(&vec![0.0; n]));
    assert_eq!(probed, w, "probing a Dense layer must give its documented matrix");
    let name = format!("Dense rows={rows} k={k} n={n} bias={with_bias}");
    Case { name, layer, in_shape, out_shape, reference: Reference { w, b, ones: Some(ones) } }
}

/// `Conv2dGeometry::new` arguments: in_c, h, w, out_c, kh, kw, stride, dilation, pads [t, l, b, r], groups.
type ConvSpec = (usize, usize, usize, usize, usize, usize, (usize, usize), (usize, usize), [usize; 4], usize);

fn conv_case(rng: &mut Rng, spec: ConvSpec, with_bias: bool) -> Case {
    let (ci, h, wd, co, kh, kw, stride, dilation, pads, groups) = spec;
    let g = Conv2dGeometry::new(ci, h, wd, co, kh, kw, stride, dilation, pads, groups).expect("valid conv");
    let n_w = co * (ci / groups) * kh * kw;
    let weight = rng.q_vec(n_w);
    let bias = if with_bias { rng.q_vec(co) } else { vec![0.0; co] };
    let in_shape = vec![1, ci, h, wd];
    let out_shape = vec![1, co, g.out_h, g.out_w];
    let p = g.out_h * g.out_w;
    let name = format!(
        "Conv {ci}x{h}x{wd}->{co}x{}x{} k={kh}x{kw} s={stride:?} d={dilation:?} pads={pads:?} groups={groups}",
        g.out_h, g.out_w
    );
    let layer = Linear::Conv(Conv { geometry: g, weight, bias: bias.clone() });
    let zero_bias = vec![0.0; co];
    let w = probe(&layer, &in_shape, &out_shape, None, Some(&zero_bias));
    let ones = probe(&layer, &in_shape, &out_shape, Some(&vec![1.0; n_w]), Some(&zero_bias));
    // Sanity of the probed matrices: the pattern is 0/1, W lives on it, and every W entry is a kernel weight.
    let Linear::Conv(c) = &layer else { unreachable!() };
    for (&wv, &ov) in w.a.iter().zip(&ones.a) {
        assert!(ov == 0.0 || ov == 1.0, "{name}: the ones pattern has an entry {ov}");
        assert!(wv == 0.0 || (ov == 1.0 && c.weight.contains(&(wv as f32))), "{name}: stray W entry {wv}");
    }
    let b = (0..co).flat_map(|o| std::iter::repeat_n(bias[o] as f64, p)).collect();
    Case { name, layer, in_shape, out_shape, reference: Reference { w, b, ones: Some(ones) } }
}

/// `Pool2dGeometry::new` arguments: channels, h, w, kernel, stride, dilation, pads, ceil_mode,
/// count_include_pad.
type PoolSpec = (usize, usize, usize, (usize, usize), (usize, usize), (usize, usize), [usize; 4], bool, bool);

fn avgpool_case(spec: PoolSpec) -> Case {
    let (c, h, wd, kernel, stride, dilation, pads, ceil, include_pad) = spec;
    let g = Pool2dGeometry::new(c, h, wd, kernel, stride, dilation, pads, ceil, include_pad).expect("valid pool");
    let in_shape = vec![1, c, h, wd];
    let out_shape = vec![1, c, g.out_h, g.out_w];
    let name = format!(
        "AvgPool {c}x{h}x{wd}->{c}x{}x{} k={kernel:?} s={stride:?} d={dilation:?} pads={pads:?} ceil={ceil} \
         count_include_pad={include_pad}",
        g.out_h, g.out_w
    );
    let layer = Linear::AvgPool(g);
    let w = probe(&layer, &in_shape, &out_shape, None, None);
    // Sanity: without count_include_pad every window averages its in-bounds taps (rows sum to 1); with it
    // and no ceil-mode clipping, every tap weighs 1/(kh·kw).
    for row in w.a.chunks_exact(w.n_in) {
        let sum: f64 = row.iter().sum();
        if !include_pad {
            assert!((sum - 1.0).abs() < 1e-6, "{name}: a window's weights sum to {sum}");
        } else if !ceil {
            let k = 1.0 / (kernel.0 * kernel.1) as f64;
            assert!(row.iter().all(|&v| v == 0.0 || (v - k).abs() < 1e-7), "{name}: a tap weight is not 1/k");
        }
    }
    let b = vec![0.0; w.n_out];
    Case { name, layer, in_shape, out_shape, reference: Reference { w, b, ones: None } }
}

fn global_avgpool_case(c: usize, h: usize, wd: usize) -> Case {
    let in_shape = vec![1, c, h, wd];
    let out_shape = vec![1, c, 1, 1];
    let layer = Linear::GlobalAvgPool { channels: c, hw: h * wd };
    let w = probe(&layer, &in_shape, &out_shape, None, None);
    for (j, row) in w.a.chunks_exact(w.n_in).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            let want = if i / (h * wd) == j { 1.0 / (h * wd) as f64 } else { 0.0 };
            assert!((v - want).abs() < 1e-7, "GlobalAvgPool weight ({j}, {i}) = {v}, want {want}");
        }
    }
    let b = vec![0.0; c];
    Case {
        name: format!("GlobalAvgPool {c}x{h}x{wd}"),
        layer,
        in_shape,
        out_shape,
        reference: Reference { w, b, ones: None },
    }
}

/// `y = x ⊙ scale + bias` (scale and bias already broadcast to the input shape): a diagonal matrix.
fn affine_case(rng: &mut Rng, shape: &[usize]) -> Case {
    let n: usize = shape.iter().product();
    let scale = rng.q_vec(n);
    let bias = rng.q_vec(n);
    let mut w = Mat::zeros(n, n);
    for (i, &s) in scale.iter().enumerate() {
        w.set(i, i, s as f64);
    }
    let b = f64s(&bias);
    let layer = Linear::Affine(Affine { scale: tensor(shape, scale), bias: tensor(shape, bias) });
    let name = format!("Affine {shape:?}");
    Case { name, layer, in_shape: shape.to_vec(), out_shape: shape.to_vec(), reference: Reference { w, b, ones: None } }
}

// ---------------------------------------------------------------------------------------------------------
// Comparison and bookkeeping.

/// Per rule: largest relative error, number of comparisons with a non-zero reference, and number with an
/// all-zero reference (legitimate in degenerate cases, e.g. z⁺ on a 1×1 layer whose only product is
/// negative; the crate must then return exact zeros too).
#[derive(Default)]
struct Log(BTreeMap<String, (f64, usize, usize)>);

impl Log {
    /// Runs `rule` in the crate and in the reference; asserts a finite result that agrees to [`TOL`].
    /// Returns the crate's output.
    fn check(&mut self, case: &Case, rule: &LinearRule, x: &[f32], r: &[f32], inputs: &str) -> Vec<f32> {
        let got = case.run(rule, x, r);
        let want = reference(rule, &case.reference, &f64s(x), &f64s(r));
        let scale = max_abs(&want);
        let at = format!("{rule:?} on {} ({inputs} inputs)", case.name);
        assert!(want.iter().all(|v| v.is_finite()), "{at}: the reference is not finite");
        assert!(got.iter().all(|v| v.is_finite()), "{at}: non-finite relevance {got:?}");
        let e = self.0.entry(format!("{rule:?}")).or_insert((0.0, 0, 0));
        if scale == 0.0 {
            assert!(got.iter().all(|&v| v == 0.0), "{at}: the reference is exactly zero, the crate gives {got:?}");
            e.2 += 1;
            return got;
        }
        let err = got.iter().zip(&want).fold(0.0f64, |m, (&g, &w)| m.max((g as f64 - w).abs())) / scale;
        assert!(err <= TOL, "{at}: max relative error {err:.3e} > {TOL:e}\n crate: {got:?}\n reference: {want:?}");
        e.0 = e.0.max(err);
        e.1 += 1;
        got
    }

    /// Prints the table and asserts that no rule was compared (mostly) on all-zero references only.
    fn finish(&self, title: &str) {
        println!("{title}: largest relative error per rule (max |crate − ref| / max |ref|)");
        for (rule, (err, n, zero)) in &self.0 {
            println!("  {rule:<60} {err:.3e}  ({n} comparisons, {zero} with an all-zero reference)");
        }
        for (rule, (_, n, zero)) in &self.0 {
            assert!(*n > 0 && *zero * 5 <= *n, "{title}: {rule} was compared on too few non-zero references");
        }
    }
}

/// Every rule that applies to a weighted (Conv/Dense) layer.
fn weighted_rules() -> Vec<LinearRule> {
    vec![
        LinearRule::Epsilon { epsilon: 0.0 },
        LinearRule::Epsilon { epsilon: 1e-6 },
        LinearRule::Epsilon { epsilon: 0.25 },
        LinearRule::ZPlus { stabilizer: 1e-6 },
        LinearRule::AlphaBeta { alpha: 2.0, beta: 1.0, stabilizer: 1e-6 },
        LinearRule::AlphaBeta { alpha: 1.0, beta: 0.0, stabilizer: 1e-6 },
        LinearRule::Gamma { gamma: 0.25, stabilizer: 1e-6 },
        LinearRule::Gamma { gamma: 1.0, stabilizer: 1e-6 },
        LinearRule::Flat { stabilizer: 1e-6 },
        LinearRule::WSquare { stabilizer: 1e-6 },
        LinearRule::ZBox { low: -1.0, high: 1.0, stabilizer: 1e-6 },
        LinearRule::ZBox { low: -1.5, high: 2.0, stabilizer: 1e-6 },
        LinearRule::Norm { stabilizer: 1e-6 },
        LinearRule::Rlrp,
        LinearRule::Gradient,
    ]
}

/// All rules on a case, with inputs of both signs and with post-ReLU inputs (all in [−1, 1], inside every
/// z^B box above), each with a fresh relevance of both signs.
fn check_all(log: &mut Log, rng: &mut Rng, case: &Case, rules: &[LinearRule]) {
    let inputs = [("mixed-sign", rng.q_vec(case.n_in())), ("post-ReLU", rng.relu_vec(case.n_in()))];
    for (what, x) in &inputs {
        let r = rng.q_vec(case.n_out());
        for rule in rules {
            log.check(case, rule, x, &r, what);
        }
    }
}

fn conv_specs() -> Vec<ConvSpec> {
    vec![
        // in_c, h, w, out_c, kh, kw, stride, dilation, pads [t, l, b, r], groups
        (3, 6, 6, 4, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 1), // plain 3x3, same padding
        (2, 7, 6, 3, 3, 3, (2, 2), (1, 1), [1, 0, 0, 1], 1), // stride 2, asymmetric pads
        (3, 7, 7, 4, 3, 3, (1, 1), (2, 2), [2, 2, 2, 2], 1), // dilation 2
        (2, 8, 7, 3, 3, 2, (2, 1), (2, 1), [0, 2, 1, 0], 1), // mixed stride/dilation, odd pads
        (4, 5, 6, 6, 3, 2, (1, 2), (1, 1), [0, 1, 2, 0], 2), // groups 2
        (4, 6, 6, 4, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 4), // depthwise
        (3, 6, 5, 6, 3, 3, (2, 1), (1, 1), [1, 2, 0, 1], 3), // depthwise, channel multiplier 2
        (3, 8, 8, 3, 3, 3, (2, 2), (2, 2), [2, 1, 1, 2], 3), // depthwise, stride 2, dilation 2
        (4, 5, 5, 3, 1, 1, (1, 1), (1, 1), [0, 0, 0, 0], 1), // pointwise
        (4, 6, 6, 4, 1, 1, (2, 2), (1, 1), [0, 0, 0, 0], 2), // strided grouped 1x1
        (2, 5, 5, 3, 5, 5, (1, 1), (1, 1), [0, 0, 0, 0], 1), // kernel = input: a dense layer in disguise
    ]
}

fn pool_specs() -> Vec<PoolSpec> {
    vec![
        // channels, h, w, kernel, stride, dilation, pads [t, l, b, r], ceil_mode, count_include_pad
        (2, 6, 6, (2, 2), (2, 2), (1, 1), [0, 0, 0, 0], false, false),
        (2, 5, 5, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1], false, true),
        (2, 5, 5, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1], false, false),
        (3, 7, 6, (3, 2), (2, 2), (1, 1), [1, 0, 1, 1], false, true),
        (3, 7, 6, (3, 2), (2, 2), (1, 1), [1, 0, 1, 1], false, false),
        (2, 7, 6, (3, 3), (2, 2), (1, 1), [1, 1, 0, 0], true, true),
        (2, 7, 6, (3, 3), (2, 2), (1, 1), [1, 1, 0, 0], true, false),
        (2, 7, 7, (2, 2), (1, 1), (2, 2), [1, 1, 1, 1], false, false),
    ]
}

// ---------------------------------------------------------------------------------------------------------
// Every rule against the reference.

#[test]
fn dense_layers_match_reference() {
    let mut rng = Rng::new(1);
    let mut log = Log::default();
    let shapes = [(1, 1, 1), (1, 5, 3), (1, 12, 7), (1, 3, 10), (1, 32, 9), (3, 6, 4)];
    for (rows, k, n) in shapes {
        for with_bias in [true, false] {
            let case = dense_case(&mut rng, rows, k, n, with_bias);
            check_all(&mut log, &mut rng, &case, &weighted_rules());
        }
    }
    log.finish("Dense");
}

#[test]
fn conv_layers_match_reference() {
    let mut rng = Rng::new(2);
    let mut log = Log::default();
    for spec in conv_specs() {
        for with_bias in [true, false] {
            let case = conv_case(&mut rng, spec, with_bias);
            check_all(&mut log, &mut rng, &case, &weighted_rules());
        }
    }
    log.finish("Conv");
}

#[test]
fn pooling_layers_match_reference() {
    let mut rng = Rng::new(3);
    let mut log = Log::default();
    let rules = [LinearRule::Norm { stabilizer: 1e-6 }, LinearRule::Rlrp, LinearRule::Gradient];
    let mut cases: Vec<Case> = pool_specs().into_iter().map(avgpool_case).collect();
    cases.extend([global_avgpool_case(3, 4, 5), global_avgpool_case(1, 1, 1), global_avgpool_case(4, 7, 7)]);
    for case in &cases {
        check_all(&mut log, &mut rng, case, &rules);
        // Strictly positive inputs, as after a ReLU with no dead unit.
        let x = rng.q_pos_vec(case.n_in());
        let r = rng.q_vec(case.n_out());
        for rule in &rules {
            log.check(case, rule, &x, &r, "positive");
        }
    }
    log.finish("AvgPool / GlobalAvgPool");
}

#[test]
fn affine_layers_match_reference() {
    let mut rng = Rng::new(4);
    let mut log = Log::default();
    let rules = [LinearRule::Rlrp, LinearRule::Gradient, LinearRule::Pass];
    for shape in [vec![1, 3, 4, 4], vec![1, 7], vec![1, 1, 1, 1]] {
        let case = affine_case(&mut rng, &shape);
        check_all(&mut log, &mut rng, &case, &rules);
    }
    log.finish("Affine");
}

// ---------------------------------------------------------------------------------------------------------
// LRP-0's zero guard.

/// LRP-0 where some z_j is exactly 0 although its inputs and weights are not: the crate must drop those
/// messages (s_j = 0) instead of producing ±inf/NaN, exactly as the reference does.
#[test]
fn epsilon_zero_guard_on_exact_zero_z() {
    let mut rng = Rng::new(5);
    let mut log = Log::default();
    let lrp0 = LinearRule::Epsilon { epsilon: 0.0 };

    // Dense: biases chosen so that z_0 = z_2 = 0 exactly (dyadic data: exact in f32 and f64).
    let (k, n) = (6, 5);
    let x = rng.q_pos_vec(k).iter().zip([1.0f32, -1.0, 1.0, 1.0, -1.0, 1.0]).map(|(a, s)| a * s).collect::<Vec<_>>();
    let mut weight = rng.q_pos_vec(k * n);
    for (idx, w) in weight.iter_mut().enumerate() {
        if idx % 3 == 1 {
            *w = -*w;
        }
    }
    let mut case = dense_case(&mut Rng::new(0), 1, k, n, true);
    let mut bias = rng.q_vec(n);
    for j in [0, 2] {
        bias[j] = -(0..k).map(|i| x[i] * weight[i * n + j]).sum::<f32>();
    }
    case.layer = Linear::Dense(Dense { rows: 1, k, n, weight: weight.clone(), bias: bias.clone() });
    case.reference.w = probe(&case.layer, &case.in_shape, &case.out_shape, None, Some(&vec![0.0; n]));
    case.reference.b = f64s(&bias);
    let z = case.reference.z(&f64s(&x));
    let r = vec![0.5f32, -0.75, 1.0, 0.25, -0.5];
    assert!(z[0] == 0.0 && z[2] == 0.0, "the construction must give exact zeros: z = {z:?}");
    assert!(z.iter().enumerate().all(|(j, &v)| v != 0.0 || j == 0 || j == 2), "z = {z:?}");
    let crate_z = case.layer.forward_with(&tensor(&[1, k], x.clone()), None, Some(&bias), &[1, n]);
    assert!(crate_z[[0, 0]] == 0.0 && crate_z[[0, 2]] == 0.0, "the crate's z must be exactly 0 too: {crate_z:?}");
    // The guard matters: these outputs carry relevance and have non-zero messages x_i w_ij.
    for j in [0, 2] {
        assert!(r[j] != 0.0 && (0..k).any(|i| x[i] * weight[i * n + j] != 0.0));
    }
    log.check(&case, &lrp0, &x, &r, "exact-zero-z");
    // The guard drops exactly those messages: same as LRP-0 with R_0 = R_2 = 0.
    let mut r_dropped = r.clone();
    r_dropped[0] = 0.0;
    r_dropped[2] = 0.0;
    let a = case.run(&lrp0, &x, &r);
    let b = case.run(&lrp0, &x, &r_dropped);
    let diff = a.iter().zip(&b).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(diff <= 1e-6 * b.iter().fold(0.0f32, |m, v| m.max(v.abs())), "{a:?} vs {b:?}");
    // Gamma masks z = 0 out of both branches.
    log.check(&case, &LinearRule::Gamma { gamma: 0.25, stabilizer: 1e-6 }, &x, &r, "exact-zero-z");
    // With ε > 0, z = 0 is stabilised to +ε (Zennit: sign(0) + [z = 0] = +1): messages are kept, scaled by
    // R/ε. ε = 0.25 tells +ε from −ε; ε = 1e-6 makes those messages dominate the output.
    for rule in [LinearRule::Epsilon { epsilon: 0.25 }, LinearRule::Epsilon { epsilon: 1e-6 }] {
        log.check(&case, &rule, &x, &r, "exact-zero-z");
    }

    // Conv on post-ReLU input that is zero on its left half, zero bias: z = 0 wherever the receptive field
    // only sees zeros (0·(R/0) would be NaN without the guard); z = 0 also occurs by cancellation.
    let mut case = conv_case(&mut rng, (2, 6, 6, 3, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 1), false);
    case.name.push_str(" zero bias, left half dead");
    let mut x = rng.relu_vec(case.n_in());
    for (idx, v) in x.iter_mut().enumerate() {
        if idx % 6 < 3 {
            *v = 0.0;
        }
    }
    let z = case.reference.z(&f64s(&x));
    let r = rng.q_pos_vec(case.n_out());
    let zeros = z.iter().filter(|&&v| v == 0.0).count();
    assert!(zeros >= 6, "the construction must give exact zeros (got {zeros})");
    for rule in [lrp0.clone(), LinearRule::Gamma { gamma: 0.25, stabilizer: 0.0 }] {
        log.check(&case, &rule, &x, &r, "exact-zero-z");
    }
    log.finish("LRP-0 zero guard");
}

/// αβ and z⁺ at Conv and Dense layers take their denominators from z and |W||x|
/// (`src/relevance/rules/alpha_beta.rs`), which cancels where nearly all of an output's terms have one
/// sign; those outputs are summed term by term. Here, on float (not dyadic) data, outputs range from
/// balanced to one-signed, with one tiny opposite term (1e-4 of the others) or none, with and without
/// bias, on inputs of both signs (signs fixed per input channel, so that the terms' signs are the
/// weights' choosing) and after a ReLU, with magnitudes spread over four decades: the crate must agree
/// with the f64 reference as it does on the dyadic data.
#[test]
fn alpha_beta_on_lopsided_outputs_matches_reference() {
    let mut rng = Rng::new(11);
    let mut log = Log::default();
    let rules = [
        LinearRule::AlphaBeta { alpha: 2.0, beta: 1.0, stabilizer: 1e-6 },
        LinearRule::AlphaBeta { alpha: 1.0, beta: 0.0, stabilizer: 1e-6 },
        LinearRule::ZPlus { stabilizer: 1e-6 },
    ];
    let uniform = |rng: &mut Rng| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
    // the sign of term i of output j (before the input's sign): balanced but for one output in
    // `period`, which is in turn one-signed, one-signed but for one tiny term, or the same negated
    let weight = |rng: &mut Rng, period: usize, j: usize, i: usize| {
        let magnitude = 0.05 + uniform(rng);
        if j % period != 1 {
            return magnitude * if rng.next_u64().is_multiple_of(2) { 1.0 } else { -1.0 };
        }
        match j / period % 4 {
            0 => magnitude,
            1 => -magnitude,
            2 => magnitude * if i == 0 { -1e-4 } else { 1.0 },
            _ => -magnitude * if i == 0 { -1e-4 } else { 1.0 },
        }
    };
    let input = |rng: &mut Rng, channel_sign: &dyn Fn(usize) -> f32, n: usize| -> Vec<f32> {
        (0..n).map(|i| channel_sign(i) * uniform(rng) * 10f32.powf(4.0 * uniform(rng) - 2.0)).collect()
    };
    // one lopsided output in 20 (the three-product form, these outputs summed term by term) and one
    // in 2 (more than `alpha_beta.rs` takes: the four-term form)
    for (period, with_bias) in [(20, false), (20, true), (2, false), (2, true)] {
        let bias_of = |rng: &mut Rng, j: usize| {
            if with_bias && j.is_multiple_of(2) {
                0.01 * (2.0 * uniform(rng) - 1.0)
            } else {
                0.0
            }
        };

        // Dense, one row: input i has sign (−1)^i in the mixed-sign case
        let (k, n) = (40, 4 * period);
        let sign = |i: usize| if i.is_multiple_of(2) { 1.0 } else { -1.0 };
        let mut case = dense_case(&mut Rng::new(0), 1, k, n, true);
        let w: Vec<f32> = (0..k * n).map(|idx| sign(idx / n) * weight(&mut rng, period, idx % n, idx / n)).collect();
        let bias: Vec<f32> = (0..n).map(|j| bias_of(&mut rng, j)).collect();
        case.layer = Linear::Dense(Dense { rows: 1, k, n, weight: w, bias: bias.clone() });
        case.reference.w = probe(&case.layer, &case.in_shape, &case.out_shape, None, Some(&vec![0.0; n]));
        case.reference.b = f64s(&bias);
        case.name = format!("Dense k={k} n={n}, one lopsided output in {period}, bias={with_bias}");
        for (what, x) in [("mixed-sign", input(&mut rng, &sign, k)), ("post-ReLU", input(&mut rng, &|_| 1.0, k))] {
            let x = if what == "mixed-sign" { x } else { x.iter().map(|v| v.abs()).collect() };
            let r: Vec<f32> = (0..n).map(|_| 2.0 * uniform(&mut rng) - 1.0).collect();
            for rule in &rules {
                log.check(&case, rule, &x, &r, what);
            }
        }

        // Conv 3×3 with padding: input channel c has sign (−1)^c in the mixed-sign case
        let (ci, h, wd, co) = (4, 6, 5, 4 * period);
        let spec = (ci, h, wd, co, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 1);
        let mut case = conv_case(&mut Rng::new(0), spec, true);
        let Linear::Conv(conv) = &case.layer else { unreachable!() };
        let g = conv.geometry.clone();
        let w: Vec<f32> = (0..co * ci * 9)
            .map(|idx| sign(idx / 9 % ci) * weight(&mut rng, period, idx / (ci * 9), idx % (ci * 9)))
            .collect();
        let bias: Vec<f32> = (0..co).map(|j| bias_of(&mut rng, j)).collect();
        case.layer = Linear::Conv(Conv { geometry: g.clone(), weight: w, bias: bias.clone() });
        case.reference.w = probe(&case.layer, &case.in_shape, &case.out_shape, None, Some(&vec![0.0; co]));
        case.reference.b = (0..co).flat_map(|o| std::iter::repeat_n(bias[o] as f64, g.out_h * g.out_w)).collect();
        case.name = format!("Conv {ci}x{h}x{wd}->{co} 3x3, one lopsided channel in {period}, bias={with_bias}");
        let plane = h * wd;
        let channel_sign = |i: usize| sign(i / plane);
        for (what, x) in [
            ("mixed-sign", input(&mut rng, &channel_sign, ci * plane)),
            ("post-ReLU", input(&mut rng, &|_| 1.0, ci * plane)),
        ] {
            let r: Vec<f32> = (0..case.n_out()).map(|_| 2.0 * uniform(&mut rng) - 1.0).collect();
            for rule in &rules {
                let got = log.check(&case, rule, &x, &r, what);
                // A kept z that is not this layer's Wx + b (here rounded to a grid of 0.05, as a
                // quantising forward pass might keep it) is noticed and not used.
                let coarse: Vec<f32> =
                    case.reference.z(&f64s(&x)).iter().map(|&v| ((v / 0.05).round() * 0.05) as f32).collect();
                let (xt, rt, zt) = (
                    tensor(&case.in_shape, x.clone()),
                    tensor(&case.out_shape, r.clone()),
                    tensor(&case.out_shape, coarse),
                );
                let ctx = LayerContext {
                    layer: &case.layer,
                    x: xt.view(),
                    out_shape: &case.out_shape,
                    z: Some(zt.view()),
                    r_l1: None,
                };
                let with_coarse_z = propagate(rule, &ctx, &rt);
                let scale = got.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (a, b) in got.iter().zip(with_coarse_z.iter()) {
                    assert!((a - b).abs() <= 1e-5 * scale, "{}: {rule:?} with a coarse kept z: {b} vs {a}", case.name);
                }
            }
        }
    }
    log.finish("αβ and z⁺, lopsided outputs");
}

// ---------------------------------------------------------------------------------------------------------
// Conservation.

/// LRP-0 on a bias-free layer where no z is 0: ΣR_in = ΣR. Tolerance: 1e-5·Σ|R| plus f32 rounding of the
/// messages, 1e-6·Σ_ij |x_i w_ij R_j / z_j| (large only where some z_j is small compared with its terms).
#[test]
fn epsilon_zero_conserves_without_bias() {
    let mut rng = Rng::new(6);
    let lrp0 = LinearRule::Epsilon { epsilon: 0.0 };
    let mut cases = vec![
        dense_case(&mut rng, 1, 12, 7, false),
        dense_case(&mut rng, 3, 6, 4, false),
        dense_case(&mut rng, 1, 40, 3, false),
    ];
    for spec in [conv_specs()[1], conv_specs()[4], conv_specs()[5], conv_specs()[7]] {
        cases.push(conv_case(&mut rng, spec, false));
    }
    let mut worst = 0.0f64;
    for case in &cases {
        assert!(case.reference.b.iter().all(|&b| b == 0.0));
        let mut tries = 0;
        let x = loop {
            let x = rng.q_vec(case.n_in());
            if case.reference.z(&f64s(&x)).iter().all(|&z| z != 0.0) {
                break x;
            }
            tries += 1;
            assert!(tries < 100, "{}: no input without a zero z", case.name);
        };
        let r = rng.q_vec(case.n_out());
        let got = case.run(&lrp0, &x, &r);
        let (xd, rd) = (f64s(&x), f64s(&r));
        let z = case.reference.z(&xd);
        let w = &case.reference.w;
        let mass: f64 = (0..w.n_out)
            .map(|j| {
                let row = &w.a[j * w.n_in..][..w.n_in];
                row.iter().zip(&xd).map(|(w, x)| (w * x).abs()).sum::<f64>() * (rd[j] / z[j]).abs()
            })
            .sum();
        let sum_in: f64 = got.iter().map(|&v| v as f64).sum();
        let sum_out: f64 = rd.iter().sum();
        let tol = 1e-5 * l1(&rd) + 1e-6 * mass;
        let err = (sum_in - sum_out).abs();
        assert!(err <= tol, "{}: ΣR_in = {sum_in}, ΣR = {sum_out} (tolerance {tol:.3e})", case.name);
        // The reference conserves too (a check of the reference), and the result is not trivial.
        let want = reference(&lrp0, &case.reference, &xd, &rd);
        assert!((want.iter().sum::<f64>() - sum_out).abs() <= 1e-9 * mass.max(1.0));
        assert!(max_abs(&want) > 0.0 && sum_out != 0.0);
        worst = worst.max(err / l1(&rd));
    }
    println!("LRP-0 conservation: largest |ΣR_in − ΣR| / ‖R‖₁ = {worst:.3e}");
}

/// z⁺ on strictly positive inputs with zero bias: ΣR_in = ΣR (over the outputs with z⁺ > 0), up to what
/// the stabiliser absorbs (Σ_j |R_j|·ε/(z⁺_j + ε), computed from the reference) and 1e-5·Σ|R|.
#[test]
fn zplus_conserves_on_positive_inputs() {
    let mut rng = Rng::new(7);
    let stabilizer = 1e-6f32;
    let rule = LinearRule::ZPlus { stabilizer };
    let mut cases = vec![dense_case(&mut rng, 1, 12, 7, false), dense_case(&mut rng, 2, 9, 5, false)];
    for spec in conv_specs() {
        cases.push(conv_case(&mut rng, spec, false));
    }
    let (mut worst, mut dead_total, eps) = (0.0f64, 0, stabilizer as f64);
    for case in &cases {
        let x = rng.q_pos_vec(case.n_in());
        let r = rng.q_vec(case.n_out());
        let (xd, rd) = (f64s(&x), f64s(&r));
        let zp = case.reference.z_plus(&xd);
        // An output whose in-bounds taps all have weights ≤ 0 (possible at padded borders) has z⁺ = 0 and no
        // message: its relevance is dropped, as in Zennit. Outputs with no in-bounds tap at all (a window
        // entirely in the padding) are structural; the others (e.g. an output channel with no positive weight)
        // must stay a minority for the check to bite.
        let dead: Vec<usize> = (0..zp.len()).filter(|&j| zp[j] == 0.0).collect();
        let ones = case.reference.ones.as_ref().expect("weighted layer");
        let empty = |j: usize| ones.a[j * ones.n_in..][..ones.n_in].iter().all(|&v| v == 0.0);
        let dead_with_taps = dead.iter().filter(|&&j| !empty(j)).count();
        assert!(zp.iter().all(|&z| z >= 0.0));
        assert!(dead_with_taps * 2 <= zp.len(), "{}: {dead_with_taps} of {} outputs have z⁺ = 0", case.name, zp.len());
        dead_total += dead.len();
        let absorbed: f64 = zp.iter().zip(&rd).filter(|(z, _)| **z > 0.0).map(|(z, r)| r.abs() * eps / (z + eps)).sum();
        let got = case.run(&rule, &x, &r);
        let sum_in: f64 = got.iter().map(|&v| v as f64).sum();
        let sum_out: f64 = rd.iter().sum::<f64>() - dead.iter().map(|&j| rd[j]).sum::<f64>();
        let err = (sum_in - sum_out).abs();
        let tol = 1e-5 * l1(&rd) + absorbed;
        assert!(err <= tol, "{}: ΣR_in = {sum_in}, ΣR = {sum_out} (tolerance {tol:.3e})", case.name);
        assert!(sum_out != 0.0 && got.iter().any(|&v| v != 0.0));
        worst = worst.max(err / l1(&rd));
    }
    println!("z+ conservation: largest |ΣR_in − ΣR| / ‖R‖₁ = {worst:.3e} ({dead_total} outputs with z⁺ = 0 excluded)");
}

/// R-LRP keeps the relevance mass: ‖R_in‖₁ = ‖R‖₁ to 1e-5 relative on every layer kind.
#[test]
fn rlrp_conserves_l1_norm() {
    let mut rng = Rng::new(8);
    let mut cases = vec![dense_case(&mut rng, 1, 12, 7, true), dense_case(&mut rng, 3, 6, 4, true)];
    for spec in conv_specs() {
        cases.push(conv_case(&mut rng, spec, true));
    }
    cases.extend(pool_specs().into_iter().map(avgpool_case));
    cases.push(global_avgpool_case(3, 4, 5));
    cases.push(affine_case(&mut rng, &[1, 3, 4, 4]));
    let mut worst = 0.0f64;
    for case in &cases {
        for x in [rng.q_vec(case.n_in()), rng.relu_vec(case.n_in())] {
            let r = rng.q_vec(case.n_out());
            let got = case.run(&LinearRule::Rlrp, &x, &r);
            let (n_in, n_out) = (l1(&f64s(&got)), l1(&f64s(&r)));
            assert!(n_out > 0.0);
            let err = (n_in - n_out).abs() / n_out;
            assert!(err <= 1e-5, "{}: ‖R_in‖₁ = {n_in}, ‖R‖₁ = {n_out}", case.name);
            worst = worst.max(err);
        }
    }
    println!("R-LRP ‖R‖₁ conservation: largest relative deviation = {worst:.3e}");
}

/// R-LRP where every z_j is about 1e-7 while the inputs are 1e4 (LRP-0 amplifies the relevance by ~1e11
/// there): finite, mass-preserving, and equal to the reference.
#[test]
fn rlrp_is_finite_when_z_is_tiny_and_inputs_large() {
    let mut rng = Rng::new(9);
    let (k, n) = (9, 4);
    // Pairs of equal large inputs with opposite weights cancel exactly; the last input adds 1e-7.
    let x: Vec<f32> = vec![1e4, 1e4, 2e4, 2e4, 3e4, 3e4, 5e4, 5e4, 1.0];
    let mut weight = vec![0f32; k * n];
    for j in 0..n {
        for p in 0..4 {
            let c = rng.q_pos();
            weight[2 * p * n + j] = c;
            weight[(2 * p + 1) * n + j] = -c;
        }
        weight[8 * n + j] = 1e-7 * (j + 1) as f32;
    }
    let mut case = dense_case(&mut Rng::new(0), 1, k, n, false);
    case.layer = Linear::Dense(Dense { rows: 1, k, n, weight, bias: vec![0.0; n] });
    case.reference.w = probe(&case.layer, &case.in_shape, &case.out_shape, None, Some(&vec![0.0; n]));
    case.name = "Dense 9->4, z_j ≈ 1e-7, inputs 1e4".into();
    let (xd, r) = (f64s(&x), vec![1.0f32, -0.5, 0.75, 0.25]);
    let rd = f64s(&r);
    let z = case.reference.z(&xd);
    assert!(z.iter().all(|&v| v > 0.0 && v < 5e-7), "the construction must give tiny z: {z:?}");
    // The case is hostile to classical LRP: LRP-0's relevance explodes.
    let lrp0 = reference(&LinearRule::Epsilon { epsilon: 0.0 }, &case.reference, &xd, &rd);
    assert!(max_abs(&lrp0) > 1e9 * l1(&rd), "LRP-0 max |R_in| = {:e}", max_abs(&lrp0));

    let mut log = Log::default();
    let got = log.check(&case, &LinearRule::Rlrp, &x, &r, "large");
    let (n_in, n_out) = (l1(&f64s(&got)), l1(&rd));
    assert!((n_in - n_out).abs() <= 1e-5 * n_out, "‖R_in‖₁ = {n_in}, ‖R‖₁ = {n_out}");
    assert!(max_abs(&f64s(&got)) <= n_out, "R-LRP must not amplify: {got:?}");
    log.finish("R-LRP, tiny z");
}
