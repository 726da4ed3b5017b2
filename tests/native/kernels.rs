//! Kernel tests: every forward kernel against a naive reference written from the definition
//! (nested loops in f64), every transpose against the dense Jacobian of its forward map, against
//! central finite differences of the f64 reference, and through the adjoint identity
//! `<f(x), r> = <x, fᵀ(r)>`.

use crate::common;
use common::rng::Rng;
use rlrp::kernels::conv::{conv2d_forward, conv2d_transpose, Conv2dGeometry};
use rlrp::kernels::dense::{dense_forward, dense_transpose, dense_transpose_sum};
use rlrp::kernels::elementwise;
use rlrp::kernels::pool::{
    avgpool_forward, avgpool_transpose, global_avgpool_forward, global_avgpool_transpose, maxpool_forward,
    maxpool_route, Pool2dGeometry,
};
use rlrp::kernels::taps::{conv_taps, dense_taps};

// ---------------------------------------------------------------------------------------------
// Deterministic PRNG (xorshift64*).

impl Rng {
    /// Uniform in [-1, 1).
    fn f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Generic checks of a linear map and its transpose.

/// A bias-free linear map `f: R^in -> R^out` under test, with its transpose and an independent
/// f64 reference of the forward map.
struct Linear<'a> {
    name: String,
    in_len: usize,
    out_len: usize,
    forward: &'a dyn Fn(&[f32]) -> Vec<f32>,
    transpose: &'a dyn Fn(&[f32]) -> Vec<f32>,
    reference: &'a dyn Fn(&[f64]) -> Vec<f64>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Checks, for a linear map:
/// 1. `transpose(r) == Jᵀ r` where column `i` of `J` is `forward(e_i)` (1e-5 relative to the
///    magnitude `Σ_j |J_ji r_j|` of each entry);
/// 2. finite differences of the f64 reference: `<r, (f(x + h e_i) − f(x − h e_i)) / 2h>` equals
///    `transpose(r)[i]` (1e-3 relative) for a sample of `i`;
/// 3. the adjoint identity `<forward(x), r> == <x, transpose(r)>` (1e-5 relative to
///    `Σ |x_i| |J_ji| |r_j|`).
fn check_linear(m: &Linear, rng: &mut Rng) {
    let name = &m.name;
    // Dense Jacobian, column by column (exact: forward of a unit vector only copies weights).
    let mut jac = vec![vec![0f64; m.in_len]; m.out_len]; // jac[j][i]
    let mut e = vec![0f32; m.in_len];
    for i in 0..m.in_len {
        e[i] = 1.0;
        let col = (m.forward)(&e);
        assert_eq!(col.len(), m.out_len, "{name}: forward output length");
        for (j, &v) in col.iter().enumerate() {
            jac[j][i] = v as f64;
        }
        e[i] = 0.0;
    }

    for trial in 0..2 {
        let r = rng.vec(m.out_len);
        let t = (m.transpose)(&r);
        assert_eq!(t.len(), m.in_len, "{name}: transpose output length");

        // 1. Jᵀ r.
        for i in 0..m.in_len {
            let (mut expect, mut mag) = (0f64, 0f64);
            for j in 0..m.out_len {
                let term = jac[j][i] * r[j] as f64;
                expect += term;
                mag += term.abs();
            }
            let got = t[i] as f64;
            assert!(
                (got - expect).abs() <= 1e-5 * mag + 1e-7,
                "{name} trial {trial}: transpose[{i}] = {got}, Jᵀr = {expect} (magnitude {mag})"
            );
        }

        // 2. Finite differences of the f64 reference.
        let x: Vec<f64> = rng.vec(m.in_len).iter().map(|&v| v as f64).collect();
        let r64 = to64(&r);
        let h = 1e-3;
        let sample: Vec<usize> = if m.in_len <= 64 {
            (0..m.in_len).collect()
        } else {
            (0..48).map(|_| rng.range(0, m.in_len - 1)).collect()
        };
        let mut xp = x.clone();
        for &i in &sample {
            xp[i] = x[i] + h;
            let fp = (m.reference)(&xp);
            xp[i] = x[i] - h;
            let fm = (m.reference)(&xp);
            xp[i] = x[i];
            let fd: f64 = r64.iter().zip(fp.iter().zip(&fm)).map(|(rv, (a, b))| rv * (a - b) / (2.0 * h)).sum();
            let mag: f64 = (0..m.out_len).map(|j| (jac[j][i] * r64[j]).abs()).sum();
            let got = t[i] as f64;
            assert!(
                (got - fd).abs() <= 1e-3 * (mag + got.abs()) + 1e-6,
                "{name} trial {trial}: transpose[{i}] = {got}, finite difference = {fd}"
            );
        }

        // 3. Adjoint identity.
        let xf = rng.vec(m.in_len);
        let y = (m.forward)(&xf);
        let lhs = dot(&to64(&y), &r64);
        let rhs = dot(&to64(&xf), &to64(&t));
        let mut mag = 0f64;
        for (j, row) in jac.iter().enumerate() {
            for (i, &jv) in row.iter().enumerate() {
                mag += (xf[i] as f64 * jv * r64[j]).abs();
            }
        }
        assert!(
            (lhs - rhs).abs() <= 1e-5 * mag + 1e-7,
            "{name} trial {trial}: <f(x), r> = {lhs} but <x, fᵀ(r)> = {rhs} (magnitude {mag})"
        );
    }
}

/// `|got − expect| <= tol · magnitude` entrywise.
fn assert_close(name: &str, got: &[f32], expect: &[f64], magnitude: &[f64], tol: f64) {
    assert_eq!(got.len(), expect.len(), "{name}: length");
    for (i, ((&g, &e), &m)) in got.iter().zip(expect).zip(magnitude).enumerate() {
        assert!((g as f64 - e).abs() <= tol * m + 1e-7, "{name}: element {i} = {g}, expected {e} (magnitude {m})");
    }
}

// ---------------------------------------------------------------------------------------------
// Convolution.

/// Naive convolution from the definition, in f64: returns values and per-entry magnitudes
/// `|b| + Σ |w·x|`.
fn conv_ref(g: &Conv2dGeometry, x: &[f64], w: &[f32], bias: Option<&[f32]>) -> (Vec<f64>, Vec<f64>) {
    let cig = g.in_channels / g.groups;
    let cog = g.out_channels / g.groups;
    let mut y = Vec::with_capacity(g.output_len());
    let mut mag = Vec::with_capacity(g.output_len());
    for co in 0..g.out_channels {
        let group = co / cog;
        for oh in 0..g.out_h {
            for ow in 0..g.out_w {
                let b = bias.map_or(0.0, |b| b[co] as f64);
                let (mut acc, mut m) = (b, b.abs());
                for cl in 0..cig {
                    let ci = group * cig + cl;
                    for ki in 0..g.kernel_h {
                        for kj in 0..g.kernel_w {
                            let ih = (oh * g.stride_h + ki * g.dilation_h) as isize - g.pad_top as isize;
                            let iw = (ow * g.stride_w + kj * g.dilation_w) as isize - g.pad_left as isize;
                            if ih < 0 || iw < 0 || ih >= g.in_h as isize || iw >= g.in_w as isize {
                                continue;
                            }
                            let wv = w[((co * cig + cl) * g.kernel_h + ki) * g.kernel_w + kj] as f64;
                            let xv = x[(ci * g.in_h + ih as usize) * g.in_w + iw as usize];
                            acc += wv * xv;
                            m += (wv * xv).abs();
                        }
                    }
                }
                y.push(acc);
                mag.push(m);
            }
        }
    }
    (y, mag)
}

type ConvSpec = (usize, usize, usize, usize, usize, usize, (usize, usize), (usize, usize), [usize; 4], usize);

/// Hand-picked geometries: strides 1/2/3, dilations 1/2, asymmetric pads, groups 1/2,
/// depthwise (multiplier 1 and 2), 1x1 (pointwise gemm path and strided/padded im2col path),
/// non-square inputs, kernels larger than the stride, a single input channel.
const CONV_SPECS: &[ConvSpec] = &[
    // (Cin, H, W, Cout, kh, kw, stride, dilation, pads [t, l, b, r], groups)
    (3, 7, 9, 4, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 1),
    (4, 8, 6, 6, 3, 2, (2, 1), (1, 2), [0, 1, 2, 0], 2),
    (3, 10, 7, 5, 4, 3, (3, 2), (2, 1), [2, 0, 1, 1], 1),
    (4, 9, 8, 4, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 4),
    (3, 11, 10, 3, 5, 5, (2, 2), (1, 1), [2, 2, 2, 2], 3),
    (3, 7, 8, 6, 3, 3, (2, 1), (2, 1), [0, 1, 2, 0], 3),
    (2, 12, 13, 4, 3, 2, (3, 3), (2, 2), [1, 2, 0, 1], 2),
    (2, 6, 21, 2, 3, 3, (1, 2), (1, 1), [1, 1, 1, 1], 2),
    (5, 6, 7, 4, 1, 1, (1, 1), (1, 1), [0, 0, 0, 0], 1),
    (6, 5, 3, 4, 1, 1, (1, 1), (2, 2), [0, 0, 0, 0], 2),
    (4, 7, 6, 3, 1, 1, (2, 2), (1, 1), [0, 0, 0, 0], 1),
    (3, 4, 5, 2, 1, 1, (1, 1), (1, 1), [1, 0, 0, 1], 1),
    (1, 6, 7, 3, 3, 3, (2, 2), (1, 1), [1, 1, 1, 1], 1),
    (2, 5, 4, 3, 5, 4, (1, 1), (1, 1), [0, 0, 0, 0], 1),
    (4, 5, 6, 6, 3, 3, (1, 1), (1, 1), [0, 2, 1, 0], 2),
];

fn geometry(s: &ConvSpec) -> Conv2dGeometry {
    let &(cin, h, w, cout, kh, kw, stride, dil, pads, groups) = s;
    Conv2dGeometry::new(cin, h, w, cout, kh, kw, stride, dil, pads, groups)
        .unwrap_or_else(|e| panic!("valid geometry {s:?} rejected: {e}"))
}

/// Random valid geometries (groups 1..3, depthwise roughly one time in three).
fn random_conv_geometries(rng: &mut Rng, count: usize) -> Vec<Conv2dGeometry> {
    let mut out = Vec::new();
    while out.len() < count {
        let groups = rng.range(1, 3);
        let cin_per = if rng.range(0, 2) == 0 { 1 } else { rng.range(1, 3) };
        let cout_per = rng.range(1, 3);
        let (kh, kw) = (rng.range(1, 4), rng.range(1, 4));
        let stride = (rng.range(1, 3), rng.range(1, 3));
        let dil = (rng.range(1, 2), rng.range(1, 2));
        let pads = [rng.range(0, 2), rng.range(0, 2), rng.range(0, 2), rng.range(0, 2)];
        let (h, w) = (rng.range(1, 9), rng.range(1, 9));
        let fits = dil.0 * (kh - 1) < h + pads[0] + pads[2] && dil.1 * (kw - 1) < w + pads[1] + pads[3];
        let g = Conv2dGeometry::new(groups * cin_per, h, w, groups * cout_per, kh, kw, stride, dil, pads, groups);
        assert_eq!(g.is_ok(), fits, "Conv2dGeometry::new acceptance for a random geometry: {g:?}");
        if let Ok(g) = g {
            out.push(g);
        }
    }
    out
}

fn all_conv_geometries() -> Vec<Conv2dGeometry> {
    let mut rng = Rng::new(7);
    let mut v: Vec<_> = CONV_SPECS.iter().map(geometry).collect();
    v.extend(random_conv_geometries(&mut rng, 40));
    v
}

#[test]
fn conv_geometry_output_size_and_lengths() {
    for g in all_conv_geometries() {
        let expect =
            |i: usize, pa: usize, pb: usize, k: usize, s: usize, d: usize| (i + pa + pb - d * (k - 1) - 1) / s + 1;
        assert_eq!(g.out_h, expect(g.in_h, g.pad_top, g.pad_bottom, g.kernel_h, g.stride_h, g.dilation_h));
        assert_eq!(g.out_w, expect(g.in_w, g.pad_left, g.pad_right, g.kernel_w, g.stride_w, g.dilation_w));
        assert_eq!(g.input_len(), g.in_channels * g.in_h * g.in_w);
        assert_eq!(g.output_len(), g.out_channels * g.out_h * g.out_w);
        assert_eq!(g.weight_len(), g.out_channels * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w);
    }
    // A classic: 224x224, 3x3 stride 2, pads [0, 0, 1, 1] -> 112x112.
    let g = Conv2dGeometry::new(3, 224, 224, 32, 3, 3, (2, 2), (1, 1), [0, 0, 1, 1], 1).unwrap();
    assert_eq!((g.out_h, g.out_w), (112, 112));
}

#[test]
fn conv_geometry_rejects_invalid() {
    let ok = |cin, h, w, cout, k, groups, pads: [usize; 4]| {
        Conv2dGeometry::new(cin, h, w, cout, k, k, (1, 1), (1, 1), pads, groups)
    };
    assert!(ok(4, 5, 5, 4, 3, 1, [0; 4]).is_ok());
    assert!(ok(0, 5, 5, 4, 3, 1, [0; 4]).is_err());
    assert!(ok(4, 0, 5, 4, 3, 1, [0; 4]).is_err());
    assert!(ok(4, 5, 5, 0, 3, 1, [0; 4]).is_err());
    assert!(ok(4, 5, 5, 4, 0, 1, [0; 4]).is_err());
    assert!(ok(4, 5, 5, 4, 3, 0, [0; 4]).is_err());
    assert!(ok(4, 5, 5, 6, 3, 4, [0; 4]).is_err(), "groups must divide out_channels");
    assert!(ok(6, 5, 5, 4, 3, 4, [0; 4]).is_err(), "groups must divide in_channels");
    assert!(ok(4, 2, 2, 4, 3, 1, [0; 4]).is_err(), "empty output");
    assert!(ok(4, 2, 2, 4, 3, 1, [1, 1, 0, 0]).is_ok(), "padding makes it fit");
    assert!(Conv2dGeometry::new(1, 5, 5, 1, 3, 3, (0, 1), (1, 1), [0; 4], 1).is_err());
    assert!(Conv2dGeometry::new(1, 5, 5, 1, 3, 3, (1, 1), (1, 0), [0; 4], 1).is_err());
    assert!(Conv2dGeometry::new(1, 5, 5, 1, 3, 3, (1, 1), (3, 1), [0; 4], 1).is_err(), "dilated kernel too big");
    let msg = ok(4, 5, 5, 6, 3, 4, [0; 4]).unwrap_err();
    assert!(msg.contains("groups"), "message should name the problem: {msg}");
}

#[test]
fn conv_forward_matches_naive_reference() {
    let mut rng = Rng::new(1);
    for g in all_conv_geometries() {
        let x = rng.vec(g.input_len());
        let w = rng.vec(g.weight_len());
        let b = rng.vec(g.out_channels);
        for bias in [Some(b.as_slice()), None] {
            let mut y = vec![f32::NAN; g.output_len()];
            conv2d_forward(&g, &x, &w, bias, &mut y);
            let (expect, mag) = conv_ref(&g, &to64(&x), &w, bias);
            assert_close(&format!("conv forward {g:?} bias={}", bias.is_some()), &y, &expect, &mag, 1e-5);
        }
    }
}

#[test]
fn conv_transpose_is_exact_vjp() {
    let mut rng = Rng::new(2);
    for g in all_conv_geometries() {
        let w = rng.vec(g.weight_len());
        let forward = |x: &[f32]| {
            let mut y = vec![f32::NAN; g.output_len()];
            conv2d_forward(&g, x, &w, None, &mut y);
            y
        };
        let transpose = |r: &[f32]| {
            let mut out = vec![f32::NAN; g.input_len()];
            conv2d_transpose(&g, r, &w, &mut out);
            out
        };
        let reference = |x: &[f64]| conv_ref(&g, x, &w, None).0;
        check_linear(
            &Linear {
                name: format!("conv {g:?}"),
                in_len: g.input_len(),
                out_len: g.output_len(),
                forward: &forward,
                transpose: &transpose,
                reference: &reference,
            },
            &mut rng,
        );
    }
}

/// Wider rows than the hand-picked cases (exercises the vector bodies, not only the tails, of the
/// direct loops), checked through the adjoint identity and the reference only.
#[test]
fn conv_wide_rows_adjoint_and_reference() {
    let mut rng = Rng::new(3);
    let specs: &[ConvSpec] = &[
        (4, 9, 37, 4, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 4),
        (4, 9, 38, 8, 5, 5, (2, 2), (1, 1), [2, 2, 2, 2], 4),
        (3, 8, 41, 3, 3, 3, (3, 2), (1, 2), [0, 1, 2, 0], 3),
        (4, 9, 33, 6, 3, 3, (2, 2), (1, 1), [1, 1, 1, 1], 2),
        (8, 6, 35, 5, 1, 1, (1, 1), (1, 1), [0, 0, 0, 0], 1),
        (2, 7, 60, 4, 3, 2, (1, 3), (2, 1), [1, 0, 2, 1], 2),
        (3, 9, 53, 3, 5, 5, (2, 2), (2, 2), [2, 1, 0, 2], 3),
        (2, 5, 70, 2, 1, 7, (1, 1), (1, 3), [0, 9, 0, 0], 2),
        (2, 4, 23, 6, 3, 3, (2, 3), (1, 1), [1, 1, 1, 1], 2),
        // Output rows of 64 or more: direct kernels handle border columns without padding.
        (3, 5, 70, 3, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 3),
        (2, 6, 140, 4, 5, 5, (2, 2), (1, 1), [2, 2, 2, 2], 2),
        (2, 5, 200, 2, 3, 3, (1, 3), (2, 2), [0, 2, 1, 1], 2),
        (2, 4, 131, 2, 4, 3, (1, 2), (1, 1), [1, 0, 2, 2], 2),
        (2, 4, 66, 2, 3, 5, (1, 1), (1, 2), [1, 3, 1, 1], 2),
    ];
    for s in specs {
        let g = geometry(s);
        let x = rng.vec(g.input_len());
        let w = rng.vec(g.weight_len());
        let r = rng.vec(g.output_len());
        let mut y = vec![f32::NAN; g.output_len()];
        conv2d_forward(&g, &x, &w, None, &mut y);
        let (expect, mag) = conv_ref(&g, &to64(&x), &w, None);
        assert_close(&format!("conv forward {g:?}"), &y, &expect, &mag, 1e-5);
        let mut t = vec![f32::NAN; g.input_len()];
        conv2d_transpose(&g, &r, &w, &mut t);
        let lhs = dot(&to64(&y), &to64(&r));
        let rhs = dot(&to64(&x), &to64(&t));
        let scale: f64 = mag.iter().zip(&r).map(|(m, &rv)| m * (rv as f64).abs()).sum();
        assert!((lhs - rhs).abs() <= 1e-5 * scale, "conv adjoint {g:?}: {lhs} vs {rhs}");
        // Entrywise transpose against an f64 transpose written from the definition.
        let mut expect_t = vec![0f64; g.input_len()];
        let mut mag_t = vec![0f64; g.input_len()];
        let (cig, cog) = (g.in_channels / g.groups, g.out_channels / g.groups);
        for co in 0..g.out_channels {
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    let rv = r[(co * g.out_h + oh) * g.out_w + ow] as f64;
                    for cl in 0..cig {
                        let ci = co / cog * cig + cl;
                        for ki in 0..g.kernel_h {
                            for kj in 0..g.kernel_w {
                                let ih = (oh * g.stride_h + ki * g.dilation_h) as isize - g.pad_top as isize;
                                let iw = (ow * g.stride_w + kj * g.dilation_w) as isize - g.pad_left as isize;
                                if ih < 0 || iw < 0 || ih >= g.in_h as isize || iw >= g.in_w as isize {
                                    continue;
                                }
                                let idx = (ci * g.in_h + ih as usize) * g.in_w + iw as usize;
                                let term = rv * w[((co * cig + cl) * g.kernel_h + ki) * g.kernel_w + kj] as f64;
                                expect_t[idx] += term;
                                mag_t[idx] += term.abs();
                            }
                        }
                    }
                }
            }
        }
        assert_close(&format!("conv transpose {g:?}"), &t, &expect_t, &mag_t, 1e-5);
    }
}

/// Quick sanity run of a ResNet-sized layer (no timing assertion): 1x64x56x56 -> 64, 3x3,
/// pad 1, forward and transpose, checked through the adjoint identity.
#[test]
fn conv_64x56x56_3x3_runs() {
    let g = Conv2dGeometry::new(64, 56, 56, 64, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 1).unwrap();
    let mut rng = Rng::new(4);
    let x = rng.vec(g.input_len());
    let w: Vec<f32> = rng.vec(g.weight_len()).iter().map(|v| v * 0.05).collect();
    let b = rng.vec(64);
    let r = rng.vec(g.output_len());
    let mut y = vec![0f32; g.output_len()];
    conv2d_forward(&g, &x, &w, Some(&b), &mut y);
    let mut t = vec![0f32; g.input_len()];
    conv2d_transpose(&g, &r, &w, &mut t);
    assert_eq!(elementwise::count_non_finite(&y), 0);
    assert_eq!(elementwise::count_non_finite(&t), 0);
    // Spot-check a few outputs against the definition, then the adjoint identity.
    for &(co, oh, ow) in &[(0usize, 0usize, 0usize), (5, 17, 55), (63, 55, 31)] {
        let mut acc = b[co] as f64;
        for ci in 0..64 {
            for ki in 0..3 {
                for kj in 0..3 {
                    let (ih, iw) = (oh as isize + ki as isize - 1, ow as isize + kj as isize - 1);
                    if (0..56).contains(&ih) && (0..56).contains(&iw) {
                        acc += w[((co * 64 + ci) * 3 + ki) * 3 + kj] as f64
                            * x[(ci * 56 + ih as usize) * 56 + iw as usize] as f64;
                    }
                }
            }
        }
        let got = y[(co * 56 + oh) * 56 + ow] as f64;
        assert!((got - acc).abs() < 1e-3, "({co},{oh},{ow}): {got} vs {acc}");
    }
    let bias_part: f64 =
        (0..64).map(|co| b[co] as f64 * r[co * 3136..(co + 1) * 3136].iter().map(|&v| v as f64).sum::<f64>()).sum();
    let lhs = dot(&to64(&y), &to64(&r)) - bias_part;
    let rhs = dot(&to64(&x), &to64(&t));
    let scale = elementwise::l1_norm(&y) + elementwise::l1_norm(&t) + elementwise::l1_norm(&r);
    assert!((lhs - rhs).abs() <= 1e-4 * scale, "adjoint: {lhs} vs {rhs}");
}

/// `(Σ w·x, Σ |w·x|)` in f64 over the (input, weight) pairs `visit` calls its argument with.
fn over_taps(x: &[f32], w: &[f32], visit: impl FnOnce(&mut dyn FnMut(usize, usize))) -> (f64, f64) {
    let (mut sum, mut abs) = (0f64, 0f64);
    visit(&mut |i, k| {
        let t = x[i] as f64 * w[k] as f64;
        sum += t;
        abs += t.abs();
    });
    (sum, abs)
}

/// The taps of one output (`kernels::taps`, αβ's exact path) are the terms the naive definition sums:
/// their products add up to its value and their magnitudes to its magnitude (so none is missing or
/// counted twice), for every geometry and output.
#[test]
fn conv_taps_are_the_terms_of_each_output() {
    let mut rng = Rng::new(14);
    for g in all_conv_geometries() {
        let x = rng.vec(g.input_len());
        let w = rng.vec(g.weight_len());
        let (expect, mag) = conv_ref(&g, &to64(&x), &w, None);
        for j in 0..g.output_len() {
            let (sum, abs) = over_taps(&x, &w, |f| conv_taps(&g, j, f));
            assert!((sum - expect[j]).abs() <= 1e-12 * mag[j].max(1.0), "{g:?} output {j}: {sum} vs {}", expect[j]);
            assert!((abs - mag[j]).abs() <= 1e-12 * mag[j].max(1.0), "{g:?} output {j}: magnitude {abs} vs {}", mag[j]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dense.

const DENSE_SHAPES: &[(usize, usize, usize)] = &[(1, 7, 5), (3, 4, 9), (2, 1, 3), (4, 17, 1), (1, 33, 20), (5, 8, 8)];

fn dense_ref(rows: usize, k: usize, n: usize, x: &[f64], w: &[f32], bias: Option<&[f32]>) -> (Vec<f64>, Vec<f64>) {
    let mut y = vec![0f64; rows * n];
    let mut mag = vec![0f64; rows * n];
    for i in 0..rows {
        for j in 0..n {
            let b = bias.map_or(0.0, |b| b[j] as f64);
            let (mut acc, mut m) = (b, b.abs());
            for l in 0..k {
                let t = x[i * k + l] * w[l * n + j] as f64;
                acc += t;
                m += t.abs();
            }
            y[i * n + j] = acc;
            mag[i * n + j] = m;
        }
    }
    (y, mag)
}

#[test]
fn dense_forward_matches_reference() {
    let mut rng = Rng::new(10);
    for &(rows, k, n) in DENSE_SHAPES {
        let x = rng.vec(rows * k);
        let w = rng.vec(k * n);
        let b = rng.vec(n);
        for bias in [Some(b.as_slice()), None] {
            let mut y = vec![f32::NAN; rows * n];
            dense_forward(rows, k, n, &x, &w, bias, &mut y);
            let (expect, mag) = dense_ref(rows, k, n, &to64(&x), &w, bias);
            assert_close(&format!("dense forward {rows}x{k}x{n}"), &y, &expect, &mag, 1e-5);
        }
    }
}

/// As [`conv_taps_are_the_terms_of_each_output`], for dense layers.
#[test]
fn dense_taps_are_the_terms_of_each_output() {
    let mut rng = Rng::new(15);
    for &(rows, k, n) in DENSE_SHAPES {
        let x = rng.vec(rows * k);
        let w = rng.vec(k * n);
        let (expect, mag) = dense_ref(rows, k, n, &to64(&x), &w, None);
        for j in 0..rows * n {
            let (sum, abs) = over_taps(&x, &w, |f| dense_taps(rows, k, n, j, f));
            assert!((sum - expect[j]).abs() <= 1e-12 * mag[j].max(1.0), "{rows}x{k}x{n} output {j}");
            assert!((abs - mag[j]).abs() <= 1e-12 * mag[j].max(1.0), "{rows}x{k}x{n} output {j}: magnitude");
        }
    }
}

#[test]
fn dense_transpose_is_exact_vjp() {
    let mut rng = Rng::new(11);
    for &(rows, k, n) in DENSE_SHAPES {
        let w = rng.vec(k * n);
        let forward = |x: &[f32]| {
            let mut y = vec![f32::NAN; rows * n];
            dense_forward(rows, k, n, x, &w, None, &mut y);
            y
        };
        let transpose = |r: &[f32]| {
            let mut out = vec![f32::NAN; rows * k];
            dense_transpose(rows, k, n, r, &w, &mut out);
            out
        };
        let reference = |x: &[f64]| dense_ref(rows, k, n, x, &w, None).0;
        check_linear(
            &Linear {
                name: format!("dense {rows}x{k}x{n}"),
                in_len: rows * k,
                out_len: rows * n,
                forward: &forward,
                transpose: &transpose,
                reference: &reference,
            },
            &mut rng,
        );
    }
}

/// The sum of two transposes in one call (β = 1 for the second product) equals the two transposes
/// made apart and added; no terms is zero.
#[test]
fn dense_transpose_sum_adds_its_terms() {
    let mut rng = Rng::new(12);
    for &(rows, k, n) in DENSE_SHAPES {
        let (r1, w1, r2, w2) = (rng.vec(rows * n), rng.vec(k * n), rng.vec(rows * n), rng.vec(k * n));
        let (mut t1, mut t2) = (vec![f32::NAN; rows * k], vec![f32::NAN; rows * k]);
        dense_transpose(rows, k, n, &r1, &w1, &mut t1);
        dense_transpose(rows, k, n, &r2, &w2, &mut t2);
        let mut sum = vec![f32::NAN; rows * k];
        dense_transpose_sum(rows, k, n, &[(&r1, &w1), (&r2, &w2)], &mut sum);
        for ((s, a), b) in sum.iter().zip(&t1).zip(&t2) {
            assert!((s - (a + b)).abs() <= 1e-5 * (1.0 + a.abs() + b.abs()), "{rows}x{k}x{n}: {s} vs {a} + {b}");
        }
        dense_transpose_sum(rows, k, n, &[], &mut sum);
        assert!(sum.iter().all(|&v| v == 0.0), "{rows}x{k}x{n}: no terms");
    }
}

// ---------------------------------------------------------------------------------------------
// Pooling.

type PoolSpec = (usize, usize, usize, (usize, usize), (usize, usize), (usize, usize), [usize; 4], bool);

/// (C, H, W, kernel, stride, dilation, pads, ceil_mode); each is tested with and without
/// count_include_pad.
const POOL_SPECS: &[PoolSpec] = &[
    (2, 7, 9, (3, 3), (2, 2), (1, 1), [1, 1, 1, 1], false),
    (2, 7, 9, (3, 3), (2, 2), (1, 1), [1, 1, 1, 1], true),
    (3, 8, 7, (2, 3), (2, 1), (1, 1), [0, 1, 1, 0], true),
    (2, 10, 11, (3, 2), (3, 3), (2, 1), [1, 0, 2, 1], true),
    (2, 10, 11, (3, 2), (3, 3), (2, 1), [1, 0, 2, 1], false),
    (1, 5, 5, (2, 2), (2, 2), (1, 1), [1, 1, 1, 1], true), // ceil adds a window starting in the pad: dropped
    (2, 6, 6, (3, 3), (2, 2), (1, 1), [0, 0, 0, 0], true), // ceil window reaches beyond the input
    (1, 5, 6, (5, 5), (1, 1), (1, 1), [2, 2, 2, 2], false),
    (2, 9, 4, (2, 2), (1, 1), (2, 2), [0, 1, 2, 0], true),
    (3, 6, 8, (1, 1), (2, 3), (1, 1), [0, 0, 0, 0], true),
    (2, 13, 12, (3, 3), (3, 2), (1, 1), [1, 1, 0, 0], true),
];

fn pool_geometry(s: &PoolSpec, count_include_pad: bool) -> Pool2dGeometry {
    let &(c, h, w, k, st, d, pads, ceil) = s;
    Pool2dGeometry::new(c, h, w, k, st, d, pads, ceil, count_include_pad)
        .unwrap_or_else(|e| panic!("valid pool geometry {s:?} rejected: {e}"))
}

fn all_pool_geometries() -> Vec<Pool2dGeometry> {
    POOL_SPECS.iter().flat_map(|s| [pool_geometry(s, true), pool_geometry(s, false)]).collect()
}

/// Taps of one pooling window in row-major order, as (ih, iw) signed positions.
fn window_taps(g: &Pool2dGeometry, oh: usize, ow: usize) -> Vec<(isize, isize)> {
    let mut taps = Vec::new();
    for ki in 0..g.kernel_h {
        for kj in 0..g.kernel_w {
            let ih = (oh * g.stride_h + ki * g.dilation_h) as isize - g.pad_top as isize;
            let iw = (ow * g.stride_w + kj * g.dilation_w) as isize - g.pad_left as isize;
            taps.push((ih, iw));
        }
    }
    taps
}

fn in_image(g: &Pool2dGeometry, (ih, iw): (isize, isize)) -> bool {
    ih >= 0 && iw >= 0 && ih < g.in_h as isize && iw < g.in_w as isize
}

fn in_padded(g: &Pool2dGeometry, (ih, iw): (isize, isize)) -> bool {
    ih >= -(g.pad_top as isize)
        && iw >= -(g.pad_left as isize)
        && ih < (g.in_h + g.pad_bottom) as isize
        && iw < (g.in_w + g.pad_right) as isize
}

/// ONNX AveragePool from the definition: sum of in-image taps divided by the number of taps in
/// the explicitly padded image (count_include_pad) or in the image.
fn avgpool_ref(g: &Pool2dGeometry, x: &[f64]) -> Vec<f64> {
    let mut y = Vec::new();
    for c in 0..g.channels {
        for oh in 0..g.out_h {
            for ow in 0..g.out_w {
                let taps = window_taps(g, oh, ow);
                let mut sum = 0f64;
                for &(ih, iw) in taps.iter().filter(|&&t| in_image(g, t)) {
                    sum += x[(c * g.in_h + ih as usize) * g.in_w + iw as usize];
                }
                let count = if g.count_include_pad {
                    taps.iter().filter(|&&t| in_padded(g, t)).count()
                } else {
                    taps.iter().filter(|&&t| in_image(g, t)).count()
                };
                y.push(if count == 0 { 0.0 } else { sum / count as f64 });
            }
        }
    }
    y
}

/// MaxPool from the definition: first maximum in row-major window order; pad taps are -inf.
fn maxpool_ref(g: &Pool2dGeometry, x: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let (mut y, mut arg) = (Vec::new(), Vec::new());
    for c in 0..g.channels {
        for oh in 0..g.out_h {
            for ow in 0..g.out_w {
                let mut best: Option<(f64, usize)> = None;
                for t in window_taps(g, oh, ow) {
                    if !in_image(g, t) {
                        continue;
                    }
                    let idx = (c * g.in_h + t.0 as usize) * g.in_w + t.1 as usize;
                    if best.is_none_or(|(b, _)| x[idx] > b) {
                        best = Some((x[idx], idx));
                    }
                }
                let (v, i) = best.expect("test geometries have no empty window");
                y.push(v);
                arg.push(i);
            }
        }
    }
    (y, arg)
}

#[test]
fn pool_geometry_output_size() {
    let size = |h: usize, k: usize, s: usize, p: usize, ceil: bool| {
        let g = Pool2dGeometry::new(1, h, h, (k, k), (s, s), (1, 1), [p; 4], ceil, false).unwrap();
        assert_eq!(g.out_h, g.out_w);
        g.out_h
    };
    // Values as computed by PyTorch's pooling output-size rule.
    assert_eq!(size(5, 2, 2, 1, false), 3);
    assert_eq!(size(5, 2, 2, 1, true), 3); // ceil would give 4, but that window starts in the pad
    assert_eq!(size(6, 3, 2, 0, false), 2);
    assert_eq!(size(6, 3, 2, 0, true), 3);
    assert_eq!(size(112, 3, 2, 0, true), 56);
    assert_eq!(size(112, 3, 2, 0, false), 55);
    assert_eq!(size(7, 3, 2, 1, true), 4);
    assert_eq!(size(8, 3, 3, 1, true), 3);
    assert_eq!(size(8, 3, 3, 1, false), 3);
    assert_eq!(size(9, 2, 3, 0, true), 3);
    let g = Pool2dGeometry::new(1, 4, 6, (2, 3), (2, 1), (1, 2), [0, 1, 1, 0], false, true).unwrap();
    assert_eq!((g.out_h, g.out_w), (2, 3));
    assert!(Pool2dGeometry::new(1, 2, 2, (3, 3), (1, 1), (1, 1), [0; 4], false, true).is_err());
    assert!(Pool2dGeometry::new(1, 4, 4, (0, 3), (1, 1), (1, 1), [0; 4], false, true).is_err());
    assert!(Pool2dGeometry::new(1, 4, 4, (2, 2), (0, 1), (1, 1), [0; 4], false, true).is_err());
    assert!(Pool2dGeometry::new(0, 4, 4, (2, 2), (1, 1), (1, 1), [0; 4], false, true).is_err());
    for g in all_pool_geometries() {
        // Every last window starts inside the image or the begin padding.
        assert!(((g.out_h - 1) * g.stride_h) < g.in_h + g.pad_top, "{g:?}");
        assert!(((g.out_w - 1) * g.stride_w) < g.in_w + g.pad_left, "{g:?}");
    }
}

#[test]
fn avgpool_forward_matches_reference() {
    let mut rng = Rng::new(20);
    for g in all_pool_geometries() {
        let x = rng.vec(g.channels * g.in_h * g.in_w);
        let mut y = vec![f32::NAN; g.channels * g.out_h * g.out_w];
        avgpool_forward(&g, &x, &mut y);
        let expect = avgpool_ref(&g, &to64(&x));
        let mag: Vec<f64> = vec![1.0; y.len()]; // |x| <= 1, so every mean is bounded by 1
        assert_close(&format!("avgpool {g:?}"), &y, &expect, &mag, 1e-6);
    }
    // Divisors spelled out: 1x3x3 ones, kernel 2, stride 2, pads 1, ceil -> 2x2 output.
    let g = Pool2dGeometry::new(1, 3, 3, (2, 2), (2, 2), (1, 1), [1, 1, 1, 1], true, true).unwrap();
    assert_eq!((g.out_h, g.out_w), (2, 2));
    let mut y = vec![0.0; 4];
    avgpool_forward(&g, &[1.0; 9], &mut y);
    assert_eq!(y, vec![0.25, 0.5, 0.5, 1.0]);
    let g = Pool2dGeometry::new(1, 3, 3, (2, 2), (2, 2), (1, 1), [1, 1, 1, 1], true, false).unwrap();
    avgpool_forward(&g, &[1.0; 9], &mut y);
    assert_eq!(y, vec![1.0; 4]);
    // ceil_mode positions beyond the explicit padding are never counted: 1x1x4 row, kernel 3,
    // stride 2, no pads, ceil -> windows [0,1,2] and [2,3,(4)] with divisors 3 and 2.
    let g = Pool2dGeometry::new(1, 1, 4, (1, 3), (1, 2), (1, 1), [0; 4], true, true).unwrap();
    let mut y = vec![0.0; 2];
    avgpool_forward(&g, &[1.0, 2.0, 3.0, 5.0], &mut y);
    assert_eq!(y, vec![2.0, 4.0]);
}

#[test]
fn avgpool_transpose_is_exact_vjp() {
    let mut rng = Rng::new(21);
    for g in all_pool_geometries() {
        let (in_len, out_len) = (g.channels * g.in_h * g.in_w, g.channels * g.out_h * g.out_w);
        let forward = |x: &[f32]| {
            let mut y = vec![f32::NAN; out_len];
            avgpool_forward(&g, x, &mut y);
            y
        };
        let transpose = |r: &[f32]| {
            let mut out = vec![f32::NAN; in_len];
            avgpool_transpose(&g, r, &mut out);
            out
        };
        let reference = |x: &[f64]| avgpool_ref(&g, x);
        check_linear(
            &Linear {
                name: format!("avgpool {g:?}"),
                in_len,
                out_len,
                forward: &forward,
                transpose: &transpose,
                reference: &reference,
            },
            &mut rng,
        );
    }
}

#[test]
fn maxpool_forward_matches_reference() {
    let mut rng = Rng::new(30);
    for g in all_pool_geometries() {
        let x = rng.vec(g.channels * g.in_h * g.in_w);
        let n = g.channels * g.out_h * g.out_w;
        let (mut y, mut arg) = (vec![f32::NAN; n], vec![u32::MAX; n]);
        maxpool_forward(&g, &x, &mut y, &mut arg);
        let (ey, earg) = maxpool_ref(&g, &to64(&x));
        for o in 0..n {
            assert_eq!(y[o] as f64, ey[o], "maxpool {g:?} value {o}");
            assert_eq!(arg[o] as usize, earg[o], "maxpool {g:?} argmax {o}");
        }
    }
}

#[test]
fn maxpool_route_is_gradient() {
    let mut rng = Rng::new(31);
    for g in all_pool_geometries() {
        let in_len = g.channels * g.in_h * g.in_w;
        let n = g.channels * g.out_h * g.out_w;
        // Distinct values (a random permutation of a grid), so no ties within a step of h.
        let mut x: Vec<f32> = (0..in_len).map(|i| i as f32 / in_len as f32 - 0.5).collect();
        for i in (1..in_len).rev() {
            x.swap(i, rng.range(0, i));
        }
        let (mut y, mut arg) = (vec![0f32; n], vec![0u32; n]);
        maxpool_forward(&g, &x, &mut y, &mut arg);
        let r = rng.vec(n);
        let mut routed = vec![f32::NAN; in_len];
        maxpool_route(in_len, &r, &arg, &mut routed);
        // Selection-matrix transpose, written from the reference arg-max.
        let (_, earg) = maxpool_ref(&g, &to64(&x));
        let mut expect = vec![0f64; in_len];
        let mut mag = vec![0f64; in_len];
        for (o, &i) in earg.iter().enumerate() {
            expect[i] += r[o] as f64;
            mag[i] += (r[o] as f64).abs();
        }
        assert_close(&format!("maxpool route {g:?}"), &routed, &expect, &mag, 1e-6);
        // Central finite differences of the f64 reference (step far below the value gaps).
        let h = 0.1 / in_len as f64;
        let x64 = to64(&x);
        let mut xp = x64.clone();
        for i in 0..in_len {
            xp[i] = x64[i] + h;
            let fp = maxpool_ref(&g, &xp).0;
            xp[i] = x64[i] - h;
            let fm = maxpool_ref(&g, &xp).0;
            xp[i] = x64[i];
            let fd: f64 = r.iter().zip(fp.iter().zip(&fm)).map(|(&rv, (a, b))| rv as f64 * (a - b) / (2.0 * h)).sum();
            assert!(
                (routed[i] as f64 - fd).abs() <= 1e-6 + 1e-6 * mag[i],
                "maxpool {g:?} FD at {i}: {} vs {fd}",
                routed[i]
            );
        }
    }
}

#[test]
fn maxpool_ties_overlap_and_padding() {
    // Ties go to the first maximum in row-major window order.
    let g = Pool2dGeometry::new(1, 2, 3, (2, 2), (1, 1), (1, 1), [0; 4], false, false).unwrap();
    let x = [1.0, 3.0, 3.0, 3.0, 3.0, 0.0];
    let (mut y, mut arg) = (vec![0.0; 2], vec![0u32; 2]);
    maxpool_forward(&g, &x, &mut y, &mut arg);
    assert_eq!(y, vec![3.0, 3.0]);
    assert_eq!(arg, vec![1, 1]); // window 0 = {0,1,3,4} -> 1; window 1 = {1,2,4,5} -> 1 (not 2)
                                 // Constant input: every window routes to its first in-bounds tap.
    let g = Pool2dGeometry::new(2, 4, 5, (3, 3), (2, 2), (1, 1), [1, 1, 1, 1], true, false).unwrap();
    let x = vec![0.5f32; 40];
    let n = 2 * g.out_h * g.out_w;
    let (mut y, mut arg) = (vec![0.0; n], vec![0u32; n]);
    maxpool_forward(&g, &x, &mut y, &mut arg);
    for c in 0..2 {
        for oh in 0..g.out_h {
            for ow in 0..g.out_w {
                let first = window_taps(&g, oh, ow).into_iter().find(|&t| in_image(&g, t)).unwrap();
                let expect = (c * 4 + first.0 as usize) * 5 + first.1 as usize;
                assert_eq!(arg[(c * g.out_h + oh) * g.out_w + ow] as usize, expect);
            }
        }
    }
    // Pad positions are -inf: an all-negative image never pools to 0.
    let g = Pool2dGeometry::new(1, 3, 3, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1], false, true).unwrap();
    let x: Vec<f32> = (0..9).map(|i| -1.0 - i as f32).collect();
    let (mut y, mut arg) = (vec![0.0; 9], vec![0u32; 9]);
    maxpool_forward(&g, &x, &mut y, &mut arg);
    assert!(y.iter().all(|&v| v < 0.0), "{y:?}");
    assert_eq!(y[0], -1.0);
    assert_eq!(y[8], -5.0);
    // Overlapping windows sharing a winner accumulate: a single peak in the middle of a 5x5
    // image wins all nine 3x3 stride-1 windows.
    let g = Pool2dGeometry::new(1, 5, 5, (3, 3), (1, 1), (1, 1), [0; 4], false, true).unwrap();
    let mut x = vec![0f32; 25];
    x[12] = 10.0;
    let (mut y, mut arg) = (vec![0.0; 9], vec![0u32; 9]);
    maxpool_forward(&g, &x, &mut y, &mut arg);
    assert!(arg.iter().all(|&a| a == 12));
    let r: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let mut out = vec![f32::NAN; 25];
    maxpool_route(25, &r, &arg, &mut out);
    assert_eq!(out[12], 45.0);
    assert_eq!(out.iter().filter(|&&v| v != 0.0).count(), 1);
}

#[test]
fn global_avgpool_forward_and_transpose() {
    let mut rng = Rng::new(40);
    for &(c, hw) in &[(1usize, 1usize), (3, 7), (4, 49), (2, 17)] {
        let x = rng.vec(c * hw);
        let mut y = vec![f32::NAN; c];
        global_avgpool_forward(c, hw, &x, &mut y);
        let expect: Vec<f64> = x.chunks(hw).map(|ch| ch.iter().map(|&v| v as f64).sum::<f64>() / hw as f64).collect();
        assert_close("global avgpool", &y, &expect, &vec![1.0; c], 1e-6);

        let forward = |x: &[f32]| {
            let mut y = vec![f32::NAN; c];
            global_avgpool_forward(c, hw, x, &mut y);
            y
        };
        let transpose = |r: &[f32]| {
            let mut out = vec![f32::NAN; c * hw];
            global_avgpool_transpose(c, hw, r, &mut out);
            out
        };
        let reference = |x: &[f64]| x.chunks(hw).map(|ch| ch.iter().sum::<f64>() / hw as f64).collect::<Vec<_>>();
        check_linear(
            &Linear {
                name: format!("global avgpool {c}x{hw}"),
                in_len: c * hw,
                out_len: c,
                forward: &forward,
                transpose: &transpose,
                reference: &reference,
            },
            &mut rng,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Elementwise helpers.

/// R-LRP's fused passes (`u ⊙ x` with its ‖·‖₁, the rescale with its mass) against the separate
/// passes, bit for bit (the wasm build checks its simd128 loops likewise, tests/wasm_golden.rs).
#[test]
fn fused_sums_match_separate_passes() {
    common::fused_sums::check_fused_sums_match_separate_passes();
}

#[test]
fn elementwise_helpers_match_plain_loops() {
    let mut rng = Rng::new(50);
    for n in [0usize, 1, 3, 4, 5, 17, 1000, 1003] {
        let a = rng.vec(n);
        let b = rng.vec(n);
        let s = rng.f32() * 3.0;

        let l1: f64 = a.iter().map(|v| v.abs() as f64).sum();
        assert!((elementwise::l1_norm(&a) - l1).abs() <= 1e-12 * (1.0 + l1), "l1_norm n={n}");
        let sum: f64 = a.iter().map(|&v| v as f64).sum();
        assert!((elementwise::sum(&a) - sum).abs() <= 1e-12 * (1.0 + l1), "sum n={n}");
        let (both_sum, both_l1) = elementwise::sum_and_l1(&a);
        assert!((both_sum - sum).abs() <= 1e-12 * (1.0 + l1), "sum_and_l1 (sum) n={n}");
        assert!((both_l1 - l1).abs() <= 1e-12 * (1.0 + l1), "sum_and_l1 (l1) n={n}");

        let mut out = vec![f32::NAN; n];
        elementwise::mul_into(&a, &b, &mut out);
        assert_eq!(out, a.iter().zip(&b).map(|(x, y)| x * y).collect::<Vec<_>>(), "mul_into n={n}");

        let mut m = a.clone();
        elementwise::mul_assign(&mut m, &b);
        assert_eq!(m, out, "mul_assign n={n}");

        let mut sc = a.clone();
        elementwise::scale(&mut sc, s);
        assert_eq!(sc, a.iter().map(|x| x * s).collect::<Vec<_>>(), "scale n={n}");

        let mut ad = a.clone();
        elementwise::add_assign(&mut ad, &b);
        assert_eq!(ad, a.iter().zip(&b).map(|(x, y)| x + y).collect::<Vec<_>>(), "add_assign n={n}");

        assert_eq!(elementwise::count_non_finite(&a), 0, "count_non_finite n={n}");
        let mut bad = a.clone();
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN];
        for (i, v) in bad.iter_mut().enumerate() {
            if i % 7 == 3 {
                *v = specials[i % 4];
            }
        }
        if n > 0 {
            bad[n - 1] = f32::MAX; // finite extremes are finite
        }
        let expect = bad.iter().filter(|v| !v.is_finite()).count();
        assert_eq!(elementwise::count_non_finite(&bad), expect, "count_non_finite n={n}");
        assert_eq!(expect, (0..n.saturating_sub(1)).filter(|i| i % 7 == 3).count());
    }
}
