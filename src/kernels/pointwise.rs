//! A 1×1 convolution straight on NCHW tensors, its bias and a clamp (ReLU, ReLU6) applied while
//! each output block is in registers. RLRP.md has no section here: this is only how the forward
//! pass computes such a `Conv` (the ONNX value, to rounding; `forward::pointwise` says where).
//!
//! Each span of 252 positions is packed block by block while the kernel runs (its K × 252 inputs
//! stay in cache for every block of output channels), and each 4 × 12 block of outputs is one call
//! of a small function whose 12 accumulators V8 keeps in registers: inlined into the loop, the
//! same code ran at less than half the speed (in a Chromium micro-benchmark, 5–7 GMAC/s against
//! 12–15). 4 × 12 leaves the accumulators, the three input vectors and the splatted weight in
//! x86-64's 16 vector registers (V8 keeps one for itself); 4 × 16 needs 21 and spilled: on
//! EfficientNet-Lite0's 1×1 layers of 196 positions and more (Chromium, median of 7 × 40 runs
//! each) 4 × 12 took 6.40–6.42 ms in all against 7.05–7.12 for 4 × 16 (6.70 for 6 × 8, 6.45 for
//! 3 × 16). Natively tract's AVX kernels are faster and the forward pass keeps them.
//!
//! `y[co, s] = clamp(b[co] + Σ_k w[co, k] · x[k, s])` for `co < M`, `s < N`, with `x` `[K, N]`,
//! `w` `[M, K]`, `y` `[M, N]`, all row-major; the sum runs over `k` in order.

use super::elementwise::Clamp;

/// Output columns a step: three `f32x4` per row.
const COLUMNS: usize = 12;
/// Output rows a step.
const ROWS: usize = 4;
/// Columns handled together so that their input (`K × SPAN` values) stays in cache while every
/// row block reads it: a whole number of blocks.
const SPAN: usize = 21 * COLUMNS;

/// `y ← clamp(W x + b)` for one image (see the module doc). Panics on mismatched lengths.
pub fn pointwise(x: &[f32], w: &[f32], bias: &[f32], clamp: Option<Clamp>, y: &mut [f32]) {
    let m = bias.len();
    assert!(m > 0 && w.len().is_multiple_of(m), "pointwise: {} weights for {m} rows", w.len());
    let k = w.len() / m;
    assert!(k > 0 && x.len().is_multiple_of(k), "pointwise: {} inputs for {k} channels", x.len());
    let n = x.len() / k;
    assert_eq!(y.len(), m * n, "pointwise: output length");
    // The weights of each block of ROWS rows, k-major ([k][row]); a short last block as it is.
    let mut packed_w = Vec::with_capacity(m * k);
    for co in (0..m).step_by(ROWS) {
        let rows = ROWS.min(m - co);
        for kk in 0..k {
            packed_w.extend((co..co + rows).map(|r| w[r * k + kk]));
        }
    }
    // The input of one span's column blocks, each k-major ([block][k][column]): every block then
    // reads its COLUMNS × k inputs in one run instead of k rows far apart.
    let mut panel = vec![0f32; k * SPAN];
    if n < COLUMNS {
        for co in 0..m {
            for s in 0..n {
                let mut acc = 0f32;
                for (kk, &wv) in w[co * k..][..k].iter().enumerate() {
                    acc += wv * x[kk * n + s];
                }
                y[co * n + s] = finish(clamp, bias[co] + acc);
            }
        }
        return;
    }
    for s0 in (0..n).step_by(SPAN) {
        // Blocks of COLUMNS from s0, the last one shifted back to end at the span's end (it then
        // computes again a few columns of its predecessor, the same values).
        let span = SPAN.min(n - s0).max(COLUMNS);
        let s0 = s0.min(n - span);
        let starts = (0..span.div_ceil(COLUMNS)).map(|j| s0 + (j * COLUMNS).min(span - COLUMNS));
        let used = span.div_ceil(COLUMNS) * COLUMNS * k;
        for (s, block_panel) in starts.clone().zip(panel[..used].chunks_exact_mut(k * COLUMNS)) {
            for (kk, dst) in block_panel.chunks_exact_mut(COLUMNS).enumerate() {
                copy_block(&x[kk * n + s..][..COLUMNS], dst);
            }
        }
        for co in (0..m).step_by(ROWS) {
            let rows = ROWS.min(m - co);
            let wp = &packed_w[co * k..][..rows * k];
            for (s, p) in starts.clone().zip(panel[..used].chunks_exact(k * COLUMNS)) {
                let at = Block { co, s, n };
                match rows {
                    4 => block::<4>(p, wp, bias, clamp, y, at),
                    3 => block::<3>(p, wp, bias, clamp, y, at),
                    2 => block::<2>(p, wp, bias, clamp, y, at),
                    _ => block::<1>(p, wp, bias, clamp, y, at),
                }
            }
        }
    }
}

/// `dst ← src`, COLUMNS values: in the browser three `v128` loads and stores (a slice copy is a
/// `memory.copy`, which V8 runs as a call into its C library: one per 48 bytes here).
#[inline(always)]
fn copy_block(src: &[f32], dst: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use super::elementwise::simd::{load, store};
        for v in (0..COLUMNS).step_by(4) {
            store(dst, v, load(src, v));
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    dst.copy_from_slice(src);
}

/// An output value: the sum and bias `z`, clamped if asked.
#[inline(always)]
fn finish(clamp: Option<Clamp>, z: f32) -> f32 {
    clamp.map_or(z, |c| c.apply(z))
}

/// Where one block of `R` × [`COLUMNS`] outputs goes.
#[derive(Clone, Copy)]
struct Block {
    /// First output row (channel) and column (spatial position).
    co: usize,
    s: usize,
    /// Columns of y.
    n: usize,
}

/// One block, portable form (auto-vectorised natively): `p` is its inputs `[k][COLUMNS]`, `wp` its
/// rows' weights `[k][R]`; the accumulators are the sums over `k` in order, then the bias, then
/// the clamp, as in the `simd128` form.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn block<const R: usize>(p: &[f32], wp: &[f32], bias: &[f32], clamp: Option<Clamp>, y: &mut [f32], b: Block) {
    let mut acc = [[0f32; COLUMNS]; R];
    for (xs, ws) in p.chunks_exact(COLUMNS).zip(wp.chunks_exact(R)) {
        for (row, &wv) in acc.iter_mut().zip(ws) {
            for (a, &xv) in row.iter_mut().zip(xs) {
                *a += wv * xv;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        let out = &mut y[(b.co + r) * b.n + b.s..][..COLUMNS];
        for (o, &a) in out.iter_mut().zip(row) {
            *o = finish(clamp, bias[b.co + r] + a);
        }
    }
}

/// One block with explicit `simd128` vectors (same operands as the portable form): `R × 4`
/// accumulators, each k's three input vectors loaded once for every row. Never inlined: as a
/// function of its own its accumulators stay in registers (see the module doc).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(never)]
fn block<const R: usize>(p: &[f32], wp: &[f32], bias: &[f32], clamp: Option<Clamp>, y: &mut [f32], b: Block) {
    use super::elementwise::simd::store;
    use core::arch::wasm32::*;
    const V: usize = COLUMNS / 4;
    const _: () = assert!(V == 3, "the loop below loads three vectors a k");
    let k = p.len() / COLUMNS;
    assert!(p.len() == k * COLUMNS && wp.len() == k * R);
    let mut acc = [[f32x4_splat(0.0); V]; R];
    let (pp, wpp) = (p.as_ptr(), wp.as_ptr());
    for kk in 0..k {
        // SAFETY: `kk < k`, and the assertion above gives `p` k·COLUMNS values and `wp` k·R;
        // wasm loads need no alignment.
        unsafe {
            let xp = pp.add(kk * COLUMNS) as *const v128;
            let x0 = v128_load(xp);
            let x1 = v128_load(xp.add(1));
            let x2 = v128_load(xp.add(2));
            for (r, row) in acc.iter_mut().enumerate() {
                let wv = f32x4_splat(*wpp.add(kk * R + r));
                row[0] = f32x4_add(row[0], f32x4_mul(wv, x0));
                row[1] = f32x4_add(row[1], f32x4_mul(wv, x1));
                row[2] = f32x4_add(row[2], f32x4_mul(wv, x2));
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        let bv = f32x4_splat(bias[b.co + r]);
        let at = (b.co + r) * b.n + b.s;
        for (v, &a) in row.iter().enumerate() {
            let z = f32x4_add(bv, a);
            let z = match clamp {
                // max then min, as `Clamp::apply` (a NaN sum becomes lo, as there).
                Some(c) => {
                    let (lo, hi) = (f32x4_splat(c.lo), f32x4_splat(c.hi));
                    let z = v128_bitselect(z, lo, f32x4_gt(z, lo));
                    v128_bitselect(z, hi, f32x4_lt(z, hi))
                }
                None => z,
            };
            store(y, at + 4 * v, z);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against an f64 sum, on shapes with and without whole blocks of rows, columns and spans.
    #[test]
    fn matches_a_direct_sum() {
        for (m, k, n) in [(96, 16, 12544 / 16), (5, 3, 300), (4, 24, 16), (7, 1, 17), (1, 2, 3), (144, 24, 529)] {
            let x: Vec<f32> = (0..k * n).map(|i| ((i * 7919 % 1013) as f32 / 506.0) - 1.0).collect();
            let w: Vec<f32> = (0..m * k).map(|i| ((i * 104729 % 977) as f32 / 488.0) - 1.0).collect();
            let b: Vec<f32> = (0..m).map(|i| i as f32 * 0.125 - 0.5).collect();
            for clamp in [None, Some(Clamp { lo: 0.0, hi: 6.0 }), Some(Clamp { lo: -0.5, hi: 0.5 })] {
                let mut y = vec![f32::NAN; m * n];
                pointwise(&x, &w, &b, clamp, &mut y);
                for co in 0..m {
                    for s in 0..n {
                        let want =
                            b[co] as f64 + (0..k).map(|kk| w[co * k + kk] as f64 * x[kk * n + s] as f64).sum::<f64>();
                        let want = clamp.map_or(want, |c| want.max(c.lo as f64).min(c.hi as f64));
                        let got = y[co * n + s] as f64;
                        assert!(
                            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{m}×{k}×{n} {clamp:?} [{co}, {s}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
