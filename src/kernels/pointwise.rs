//! A 1×1 convolution straight on NCHW tensors, its bias and a clamp (ReLU, ReLU6) applied while
//! each output block is in registers; and, on the same blocks, the relevance pass's matrix
//! products in the browser ([`matmul`]: `C (+)= A B`, A through strides, so the transposes of
//! RLRP.md's "Transpose kernels" cost no copy). RLRP.md has no section of its own here: this is
//! only how such a `Conv` or product is computed (the same values, to rounding;
//! `forward::pointwise` and `kernels::gemm` say where).
//!
//! The weights are packed by blocks of 4 rows ([`pack_rows`]; a convolution's once per plan, in
//! place of its constant: `forward::our_conv`). Each span of up to 252 positions (fewer for deep
//! inputs: [`SPAN_VALUES`]) is packed block by block while the kernel runs (its K × span inputs
//! stay in L2 for every block of output channels), and each 4 × 12 block of outputs is one call
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
/// Columns handled together at most: a whole number of blocks.
const MAX_SPAN: usize = 21 * COLUMNS;
/// Input values of one span (`K × span`) at most: 256 kB, half of a 512 kB L2 cache, so that they
/// stay there while every row block reads them. Deeper inputs take narrower spans: the 14×14
/// layers of 672 input channels read 527 kB of inputs once per block of 4 output channels with
/// spans of 252 positions (all 196 at once), from L3, which two workers side by side share.
const SPAN_VALUES: usize = 64 * 1024;

/// Columns handled together for `k` inputs each, on a map of `n` columns: as many whole blocks as
/// [`SPAN_VALUES`] holds (at least one, at most [`MAX_SPAN`] columns); or the whole map when its
/// inputs exceed that by a quarter at most. A second span reads every weight again for its few
/// columns: the 7×7 layers of 1152 input channels (spans of 48 of their 49 positions) computed a
/// block of 12 columns for the last one.
fn span_for(k: usize, n: usize) -> usize {
    let span = (SPAN_VALUES / (k * COLUMNS)).clamp(1, MAX_SPAN / COLUMNS) * COLUMNS;
    let whole = n.div_ceil(COLUMNS) * COLUMNS;
    if whole <= MAX_SPAN && whole * k <= SPAN_VALUES + SPAN_VALUES / 4 {
        span.max(whole)
    } else {
        span
    }
}

/// `y ← clamp(W x + b)` for one image (see the module doc). Panics on mismatched lengths.
pub fn pointwise(x: &[f32], w: &[f32], bias: &[f32], clamp: Option<Clamp>, y: &mut [f32]) {
    pointwise_packed(x, &pack_rows(w, bias.len()), bias, clamp, y)
}

/// [`pointwise`] with the weights as [`pack_rows`] laid them out (a convolution's weights are
/// constants: `forward::our_conv` packs them once, in place, for every pass).
pub fn pointwise_packed(x: &[f32], packed: &[f32], bias: &[f32], clamp: Option<Clamp>, y: &mut [f32]) {
    let m = bias.len();
    assert!(m > 0 && packed.len().is_multiple_of(m), "pointwise: {} weights for {m} rows", packed.len());
    let w = Packed { values: packed, rows: m, cols: packed.len() / m };
    product(w, x, Output { bias: Some(bias), clamp, accumulate: false }, y);
}

/// The weights `w` (`[rows, k]` row-major) laid out as the kernel's blocks read them: each block
/// of [`ROWS`] rows k-major (`[k][row]`), a short last block as it is; as many values. Panics if
/// `rows` is 0 or does not divide `w.len()`.
pub fn pack_rows(w: &[f32], rows: usize) -> Vec<f32> {
    assert!(rows > 0 && w.len().is_multiple_of(rows), "pointwise: {} weights for {rows} rows", w.len());
    let cols = w.len() / rows;
    pack(Matrix { values: w, rows, cols, strides: (cols, 1) })
}

/// `C ← A B` (`accumulate`: `C ← C + A B`) with `A` `[m, k]` read through its strides and `B`
/// `[k, n]`, `C` `[m, n]` row-major: the relevance pass's matrix products in the browser
/// ([`super::gemm::gemm`] says which), on the same blocks as [`pointwise`]. Panics on mismatched
/// lengths.
pub fn matmul(m: usize, k: usize, a: &[f32], strides: (usize, usize), b: &[f32], accumulate: bool, c: &mut [f32]) {
    let out = Output { bias: None, clamp: None, accumulate };
    let packed = pack(Matrix { values: a, rows: m, cols: k, strides });
    product(Packed { values: &packed, rows: m, cols: k }, b, out, c);
}

/// A matrix read through (row, column) strides.
#[derive(Clone, Copy)]
struct Matrix<'a> {
    values: &'a [f32],
    rows: usize,
    cols: usize,
    strides: (usize, usize),
}

impl Matrix<'_> {
    #[inline(always)]
    fn at(&self, r: usize, c: usize) -> f32 {
        self.values[r * self.strides.0 + c * self.strides.1]
    }
}

/// `w` packed for the blocks (see [`pack_rows`]). Packing is a pass over `W` with a gather; on
/// 7×7 maps each weight then serves only 49 positions, and packing at every call took a tenth of
/// the page's pixel-flipping passes.
fn pack(w: Matrix) -> Vec<f32> {
    let (m, k) = (w.rows, w.cols);
    assert!(m > 0 && k > 0, "pointwise: an empty {m}×{k} operand");
    let last = (m - 1) * w.strides.0 + (k - 1) * w.strides.1;
    assert!(last < w.values.len(), "pointwise: {} weights for {m}×{k}", w.values.len());
    // A transposed operand (the relevance pass's Wᵀ: rows one value apart) gives each k's rows as
    // one contiguous run.
    let mut values = Vec::with_capacity(m * k);
    for co in (0..m).step_by(ROWS) {
        let rows = ROWS.min(m - co);
        for kk in 0..k {
            if w.strides.0 == 1 {
                values.extend_from_slice(&w.values[co + kk * w.strides.1..][..rows]);
            } else {
                values.extend((co..co + rows).map(|r| w.at(r, kk)));
            }
        }
    }
    values
}

/// A packed `[rows, cols]` operand ([`pack`]).
#[derive(Clone, Copy)]
struct Packed<'a> {
    values: &'a [f32],
    rows: usize,
    cols: usize,
}

impl Packed<'_> {
    /// The block of rows from `co` (a multiple of [`ROWS`]): `[k][row]`.
    #[inline(always)]
    fn block(&self, co: usize) -> &[f32] {
        &self.values[co * self.cols..][..ROWS.min(self.rows - co) * self.cols]
    }

    /// `W[co, kk]`.
    #[inline(always)]
    fn at(&self, co: usize, kk: usize) -> f32 {
        let first = co - co % ROWS;
        self.block(first)[kk * ROWS.min(self.rows - first) + co % ROWS]
    }
}

/// What each output value becomes from its sum `s` over `k`: `clamp(bias + s)`, or `y + s` when
/// accumulating.
#[derive(Clone, Copy)]
struct Output<'a> {
    bias: Option<&'a [f32]>,
    clamp: Option<Clamp>,
    accumulate: bool,
}

impl Output<'_> {
    #[inline(always)]
    fn base(&self, row: usize, old: f32) -> f32 {
        match self.bias {
            Some(b) => b[row],
            None if self.accumulate => old,
            None => 0.0,
        }
    }
}

/// `y ← out(W x)`: W `[m, k]` (packed), x `[k, n]` and y `[m, n]` row-major (see the module doc).
fn product(w: Packed, x: &[f32], out: Output, y: &mut [f32]) {
    let (m, k) = (w.rows, w.cols);
    assert_eq!(w.values.len(), m * k, "pointwise: {} packed weights for {m}×{k}", w.values.len());
    assert!(x.len().is_multiple_of(k), "pointwise: {} inputs for {k} channels", x.len());
    assert!(out.bias.is_none_or(|b| b.len() == m) && !(out.accumulate && out.bias.is_some()));
    let n = x.len() / k;
    assert_eq!(y.len(), m * n, "pointwise: output length");
    if n < COLUMNS {
        for co in 0..m {
            for s in 0..n {
                let mut acc = 0f32;
                for kk in 0..k {
                    acc += w.at(co, kk) * x[kk * n + s];
                }
                let at = co * n + s;
                y[at] = finish(out.clamp, out.base(co, y[at]) + acc);
            }
        }
        return;
    }
    // The input of one span's column blocks, each k-major ([block][k][column]): every block then
    // reads its COLUMNS × k inputs in one run instead of k rows far apart.
    let span_max = span_for(k, n);
    let mut panel = vec![0f32; k * span_max];
    // Columns before `covered` are final: written by the previous spans.
    let mut covered = 0usize;
    for s0 in (0..n).step_by(span_max) {
        // Blocks of COLUMNS from s0, the last one shifted back to end at the span's end (it then
        // computes again a few columns of its predecessor, the same values); the last span shifted
        // back likewise when fewer than COLUMNS columns remain.
        let span = span_max.min(n - s0).max(COLUMNS);
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
            let wp = w.block(co);
            let mut next = covered;
            for (s, p) in starts.clone().zip(panel[..used].chunks_exact(k * COLUMNS)) {
                // When accumulating, the columns a predecessor already wrote are skipped (adding
                // twice would be wrong); otherwise they are written again, identically.
                let overlap = next.saturating_sub(s);
                let at = Block { co, s, n, skip: if out.accumulate { overlap } else { 0 } };
                // A block shifted back over all but its last vector computes that vector alone
                // (every map of 4·(3j + 1) positions, 7×7 and 14×14 among them, ends so).
                // (Full blocks of rows only: each variant is more code in the page's wasm.)
                if overlap >= COLUMNS - 4 && rows == ROWS {
                    block::<ROWS, 2>(p, wp, out, y, at);
                } else {
                    block_rows(rows, p, wp, out, y, at);
                }
                next = s + COLUMNS;
            }
        }
        covered = s0 + span;
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
    /// Leading columns of the block not to write (already final; `< COLUMNS`).
    skip: usize,
}

/// A whole [`block`] of `rows` (1 to [`ROWS`]) rows.
#[inline(always)]
fn block_rows(rows: usize, p: &[f32], wp: &[f32], out: Output, y: &mut [f32], at: Block) {
    match rows {
        4 => block::<4, 0>(p, wp, out, y, at),
        3 => block::<3, 0>(p, wp, out, y, at),
        2 => block::<2, 0>(p, wp, out, y, at),
        _ => block::<1, 0>(p, wp, out, y, at),
    }
}

/// One block, portable form (auto-vectorised natively): `p` is its inputs `[k][COLUMNS]`, `wp` its
/// rows' weights `[k][R]`; the accumulators are the sums over `k` in order, then the bias (or the
/// old value), then the clamp, as in the `simd128` form. Computes every column, and writes them
/// from `4·FIRST` (or `skip`) on.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn block<const R: usize, const FIRST: usize>(p: &[f32], wp: &[f32], out: Output, y: &mut [f32], b: Block) {
    let mut acc = [[0f32; COLUMNS]; R];
    for (xs, ws) in p.chunks_exact(COLUMNS).zip(wp.chunks_exact(R)) {
        for (row, &wv) in acc.iter_mut().zip(ws) {
            for (a, &xv) in row.iter_mut().zip(xs) {
                *a += wv * xv;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        let ys = &mut y[(b.co + r) * b.n + b.s..][..COLUMNS];
        for (o, &a) in ys.iter_mut().zip(row).skip(b.skip.max(4 * FIRST)) {
            *o = finish(out.clamp, out.base(b.co + r, *o) + a);
        }
    }
}

/// One block with explicit `simd128` vectors (same operands as the portable form): `R × 3`
/// accumulators, each k's three input vectors loaded once for every row; only the vectors from
/// `FIRST` on are computed and written (`FIRST` 2: the last one alone). Never inlined: as a
/// function of its own its accumulators stay in registers (see the module doc).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(never)]
fn block<const R: usize, const FIRST: usize>(p: &[f32], wp: &[f32], out: Output, y: &mut [f32], b: Block) {
    use core::arch::wasm32::*;
    const V: usize = COLUMNS / 4;
    const _: () = assert!(V == 3, "the loop below loads three vectors a k");
    assert!(FIRST == 0 || FIRST == 2);
    let k = p.len() / COLUMNS;
    assert!(p.len() == k * COLUMNS && wp.len() == k * R);
    let mut acc = [[f32x4_splat(0.0); V]; R];
    let (pp, wpp) = (p.as_ptr(), wp.as_ptr());
    for kk in 0..k {
        // SAFETY: `kk < k`, and the assertion above gives `p` k·COLUMNS values and `wp` k·R;
        // wasm loads need no alignment.
        unsafe {
            let xp = pp.add(kk * COLUMNS) as *const v128;
            let x2 = v128_load(xp.add(2));
            if FIRST == 0 {
                let x0 = v128_load(xp);
                let x1 = v128_load(xp.add(1));
                for (r, row) in acc.iter_mut().enumerate() {
                    let wv = f32x4_splat(*wpp.add(kk * R + r));
                    row[0] = f32x4_add(row[0], f32x4_mul(wv, x0));
                    row[1] = f32x4_add(row[1], f32x4_mul(wv, x1));
                    row[2] = f32x4_add(row[2], f32x4_mul(wv, x2));
                }
            } else {
                for (r, row) in acc.iter_mut().enumerate() {
                    let wv = f32x4_splat(*wpp.add(kk * R + r));
                    row[2] = f32x4_add(row[2], f32x4_mul(wv, x2));
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        write_row(row, FIRST, out, y, b.co + r, (b.co + r) * b.n + b.s, b.skip);
    }
}

/// Writes one row of a `simd128` block's sums from its vector `first` on, at `y[at..]`: `y + sum`
/// on the columns from `skip` when accumulating (the others are final already), else
/// `clamp(bias + sum)`. One function for every block shape (the blocks' code stays small).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(never)]
fn write_row(
    row: &[core::arch::wasm32::v128; 3],
    first: usize,
    out: Output,
    y: &mut [f32],
    co: usize,
    at: usize,
    skip: usize,
) {
    use super::elementwise::simd::{load, store};
    use core::arch::wasm32::*;
    if out.accumulate {
        for (v, &a) in row.iter().enumerate().skip(first) {
            if 4 * v >= skip {
                store(y, at + 4 * v, f32x4_add(load(y, at + 4 * v), a));
            } else if 4 * v + 4 > skip {
                let mut lanes = [0f32; 4];
                store(&mut lanes, 0, a);
                for (j, l) in lanes.iter().enumerate().skip(skip - 4 * v) {
                    y[at + 4 * v + j] += l;
                }
            }
        }
        return;
    }
    let bv = f32x4_splat(out.base(co, 0.0));
    for (v, &a) in row.iter().enumerate().skip(first) {
        let z = f32x4_add(bv, a);
        let z = match out.clamp {
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

/// Checks [`pointwise`] (with and without clamps) and [`matmul`] (A through transposing strides,
/// accumulated or not) against f64 sums, on shapes with and without whole blocks of rows, columns
/// and spans (the last block and span overlap their predecessors: an accumulated overlap must not
/// be added twice). The native unit tests call it, and so does the browser's suite
/// (tests/wasm_golden.rs), which runs the `simd128` blocks. Err names the first mismatch.
#[doc(hidden)]
pub fn check_against_direct_sums() -> Result<(), String> {
    let close = |got: f32, want: f64| (got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs());
    let shapes = [
        (96, 16, 784),
        (6, 24, 300),
        (3, 1, 16),
        (5, 48, 529),
        (2, 3, 17),
        (7, 2, 5),
        (9, 300, 196),
        (4, 24, 12),
        (9, 4, 2 * MAX_SPAN + 5),
        (3, 2, MAX_SPAN + 1),
        (10, 700, 3 * span_for(700, 1000) + 7),
        (20, 1152, 49),
        (13, 320, 49),
        (6, 1300, 49),
        (5, 6000, 40),
    ];
    for (m, k, n) in shapes {
        let x: Vec<f32> = (0..k * n).map(|i| ((i * 7919 % 1013) as f32 / 506.0) - 1.0).collect();
        let w: Vec<f32> = (0..m * k).map(|i| ((i * 104729 % 977) as f32 / 488.0) - 1.0).collect();
        let b: Vec<f32> = (0..m).map(|i| i as f32 * 0.125 - 0.5).collect();
        let sum = |co: usize, s: usize| (0..k).map(|kk| w[co * k + kk] as f64 * x[kk * n + s] as f64).sum::<f64>();
        // packed once for every clamp, as a convolution's weights are for every pass
        let packed = pack_rows(&w, m);
        for clamp in [None, Some(Clamp { lo: 0.0, hi: 6.0 }), Some(Clamp { lo: -0.25, hi: 0.25 })] {
            let mut y = vec![f32::NAN; m * n];
            match clamp {
                None => pointwise(&x, &w, &b, clamp, &mut y),
                Some(_) => pointwise_packed(&x, &packed, &b, clamp, &mut y),
            }
            for (co, s) in (0..m).flat_map(|co| (0..n).map(move |s| (co, s))) {
                let want = clamp.map_or(b[co] as f64 + sum(co, s), |c| {
                    (b[co] as f64 + sum(co, s)).max(c.lo as f64).min(c.hi as f64)
                });
                if !close(y[co * n + s], want) {
                    return Err(format!("pointwise {m}×{k}×{n} {clamp:?} [{co}, {s}]: {} vs {want}", y[co * n + s]));
                }
            }
        }
        // The transpose of the same W: out[K, N] = Wᵀ x', with x' [M, N].
        let xt: Vec<f32> = (0..m * n).map(|i| ((i * 7919 % 1013) as f32 / 506.0) - 1.0).collect();
        let old: Vec<f32> = (0..k * n).map(|i| (i % 11) as f32 * 0.5 - 2.0).collect();
        for accumulate in [false, true] {
            let mut c = if accumulate { old.clone() } else { vec![f32::NAN; k * n] };
            matmul(k, m, &w, (1, k), &xt, accumulate, &mut c);
            for (kk, s) in (0..k).flat_map(|kk| (0..n).map(move |s| (kk, s))) {
                let t: f64 = (0..m).map(|co| w[co * k + kk] as f64 * xt[co * n + s] as f64).sum();
                let want = t + if accumulate { old[kk * n + s] as f64 } else { 0.0 };
                if !close(c[kk * n + s], want) {
                    return Err(format!(
                        "matmul {k}×{m}×{n} accumulate {accumulate} [{kk}, {s}]: {} vs {want}",
                        c[kk * n + s]
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_direct_sums() {
        assert_eq!(super::check_against_direct_sums(), Ok(()));
    }
}
