//! 2-D convolution (ONNX `Conv`, batch 1) and its exact transpose.
//!
//! Forward: `y[co, oh, ow] = b[co] + Σ_{ci∈group(co), ki, kj} w[co, ci, ki, kj] · x[ci, ih, iw]`
//! with `ih = oh·stride_h + ki·dilation_h − pad_top`, `iw = ow·stride_w + kj·dilation_w − pad_left`,
//! taps falling in the padding contributing zero.
//!
//! Transpose: `out = Wᵀ r`, i.e. `out[ci, ih, iw] = Σ r[co, oh, ow] · w[co, ci, ki, kj]` over all
//! `(co, oh, ow, ki, kj)` that tap `(ci, ih, iw)`. This is the vector-Jacobian product of the
//! forward map with respect to `x` (bias excluded) — the transpose kernel of `RLRP.md`
//! (`U = x ⊙ Wᵀ R`), identical to the input-gradient step of a backward pass. Contributions that
//! would land in the padding are dropped.
//!
//! Strategies (chosen per call from the geometry):
//! - **direct** when each group has a single input channel (depthwise, with any channel
//!   multiplier): per output row, blocks of contiguous output columns accumulate all kernel taps
//!   in registers (explicit `simd128` vectors on wasm). Borders are handled by computing, per
//!   kernel column, the run of output columns whose tap is in bounds: columns inside every run
//!   take the branch-free blocked loop, only the few columns outside some run take a scalar
//!   path. The transpose is also a gather (each input written once), split into `stride_w`
//!   column phases when strided;
//! - **pointwise** (1x1, stride 1, no padding): one `sgemm` per group directly on the tensors,
//!   `y[Cout,P] = W[Cout,Cin]·x[Cin,P]` and `out[Cin,P] = Wᵀ[Cin,Cout]·r[Cout,P]` (the transpose
//!   is expressed through `sgemm` strides, no copy);
//! - **im2col** otherwise: forward = im2col + `sgemm`, transpose = `sgemm` into a column buffer +
//!   col2im scatter-add. Both work on chunks of output rows so that the column buffer stays
//!   around a megabyte and in cache.

use super::elementwise::axpy_scatter;
use super::valid_range;

/// Shape of a batch-1 2-D convolution. Construct with [`Conv2dGeometry::new`], which validates
/// the parameters and computes `out_h`/`out_w`.
///
/// Weights are laid out `[out_channels, in_channels / groups, kernel_h, kernel_w]`; output
/// channel `co` belongs to group `co / (out_channels / groups)` and reads input channels
/// `group · (in_channels / groups) ..` of that group.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dGeometry {
    pub in_channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_channels: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub pad_bottom: usize,
    pub pad_right: usize,
    pub groups: usize,
    pub out_h: usize,
    pub out_w: usize,
}

/// `floor((input + pads − dilation·(k−1) − 1) / stride) + 1`, or an error when the dilated
/// kernel does not fit in the padded input.
pub(crate) fn conv_out_dim(
    what: &str,
    input: usize,
    pad_a: usize,
    pad_b: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Result<usize, String> {
    let padded = input + pad_a + pad_b;
    let extent = dilation * (kernel - 1) + 1;
    if extent > padded {
        return Err(format!(
            "{what}: dilated kernel extent {extent} (kernel {kernel}, dilation {dilation}) exceeds \
             padded input size {padded} (input {input}, pads {pad_a}+{pad_b}): output would be empty"
        ));
    }
    Ok((padded - extent) / stride + 1)
}

impl Conv2dGeometry {
    /// Validates a convolution and computes its output size
    /// `out = floor((in + pad_begin + pad_end − dilation·(k−1) − 1) / stride) + 1` per axis.
    ///
    /// `stride` and `dilation` are `(h, w)`; `pads` is `[top, left, bottom, right]` (the ONNX
    /// `pads` attribute order `[x1_begin, x2_begin, x1_end, x2_end]`).
    ///
    /// Errors (with a readable message) if any channel count, spatial size, kernel size, stride,
    /// dilation or `groups` is zero, if `groups` does not divide both channel counts, or if the
    /// output would be empty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_channels: usize,
        in_h: usize,
        in_w: usize,
        out_channels: usize,
        kernel_h: usize,
        kernel_w: usize,
        stride: (usize, usize),
        dilation: (usize, usize),
        pads: [usize; 4],
        groups: usize,
    ) -> Result<Self, String> {
        let dims = [
            ("in_channels", in_channels),
            ("in_h", in_h),
            ("in_w", in_w),
            ("out_channels", out_channels),
            ("kernel_h", kernel_h),
            ("kernel_w", kernel_w),
            ("stride_h", stride.0),
            ("stride_w", stride.1),
            ("dilation_h", dilation.0),
            ("dilation_w", dilation.1),
            ("groups", groups),
        ];
        for (name, v) in dims {
            if v == 0 {
                return Err(format!("Conv2d: {name} must be non-zero"));
            }
        }
        if !in_channels.is_multiple_of(groups) || !out_channels.is_multiple_of(groups) {
            return Err(format!(
                "Conv2d: groups = {groups} must divide both in_channels = {in_channels} and \
                 out_channels = {out_channels}"
            ));
        }
        let [pad_top, pad_left, pad_bottom, pad_right] = pads;
        let out_h = conv_out_dim("Conv2d height", in_h, pad_top, pad_bottom, kernel_h, stride.0, dilation.0)?;
        let out_w = conv_out_dim("Conv2d width", in_w, pad_left, pad_right, kernel_w, stride.1, dilation.1)?;
        Ok(Self {
            in_channels,
            in_h,
            in_w,
            out_channels,
            kernel_h,
            kernel_w,
            stride_h: stride.0,
            stride_w: stride.1,
            dilation_h: dilation.0,
            dilation_w: dilation.1,
            pad_top,
            pad_left,
            pad_bottom,
            pad_right,
            groups,
            out_h,
            out_w,
        })
    }

    /// `in_channels · in_h · in_w`.
    pub fn input_len(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }

    /// `out_channels · out_h · out_w`.
    pub fn output_len(&self) -> usize {
        self.out_channels * self.out_h * self.out_w
    }

    /// `out_channels · (in_channels / groups) · kernel_h · kernel_w`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_per_group() * self.kernel_h * self.kernel_w
    }

    fn in_per_group(&self) -> usize {
        self.in_channels / self.groups
    }

    fn out_per_group(&self) -> usize {
        self.out_channels / self.groups
    }

    /// Rows of the im2col matrix of one group: `(in_channels / groups) · kernel_h · kernel_w`.
    fn col_rows(&self) -> usize {
        self.in_per_group() * self.kernel_h * self.kernel_w
    }

    fn is_pointwise(&self) -> bool {
        self.kernel_h == 1
            && self.kernel_w == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.pad_top == 0
            && self.pad_left == 0
            && self.pad_bottom == 0
            && self.pad_right == 0
    }

    /// Input row tapped by output row `oh` and kernel row `ki`, if not in the padding.
    #[inline]
    fn input_row(&self, oh: usize, ki: usize) -> Option<usize> {
        let ih = (oh * self.stride_h + ki * self.dilation_h) as isize - self.pad_top as isize;
        (ih >= 0 && (ih as usize) < self.in_h).then_some(ih as usize)
    }

    /// For every kernel column, the run of output columns whose tap is in bounds.
    fn col_runs(&self) -> Vec<Run> {
        (0..self.kernel_w)
            .map(|kj| {
                let offset = (kj * self.dilation_w) as isize - self.pad_left as isize;
                let (lo, hi) = valid_range(self.out_w, self.stride_w, offset, self.in_w);
                let x0 = if lo < hi { (lo as isize * self.stride_w as isize + offset) as usize } else { 0 };
                Run { lo, hi, x0 }
            })
            .collect()
    }

    fn check(&self, what: &str, x_len: usize, w_len: usize, y_len: usize, y_name: &str) {
        assert_eq!(w_len, self.weight_len(), "{what}: weight length");
        assert_eq!(x_len, self.input_len(), "{what}: input length");
        assert_eq!(y_len, self.output_len(), "{what}: {y_name} length");
    }
}

/// Output columns `lo..hi` have their tap (for one kernel column) in bounds; output column `lo`
/// reads input column `x0`, and consecutive outputs are `stride_w` input columns apart.
#[derive(Clone, Copy, Debug)]
struct Run {
    lo: usize,
    hi: usize,
    x0: usize,
}

/// How the im2col paths split the output rows into chunks.
#[derive(Clone, Copy, Debug)]
struct Chunking {
    /// Target size (in `f32`) of one column-buffer chunk.
    floats: usize,
    /// Minimum number of columns (output positions) of one chunk, to keep `sgemm` efficient.
    min_cols: usize,
}

const CHUNKING: Chunking = Chunking { floats: 1 << 18, min_cols: 256 };

/// Number of output rows per im2col chunk.
fn chunk_rows(g: &Conv2dGeometry, c: Chunking) -> usize {
    let per_row = g.col_rows() * g.out_w;
    let rows = (c.floats / per_row.max(1)).max(c.min_cols.div_ceil(g.out_w));
    rows.clamp(1, g.out_h)
}

/// `y = conv(x, w) + bias` (ONNX `Conv`, batch 1).
///
/// `x`: `[in_channels, in_h, in_w]`, `w`: `[out_channels, in_channels / groups, kernel_h,
/// kernel_w]`, `bias`: `[out_channels]`, `y`: `[out_channels, out_h, out_w]` (overwritten).
/// Panics if a slice length does not match the geometry.
pub fn conv2d_forward(g: &Conv2dGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    forward_with_budget(g, x, w, bias, y, CHUNKING);
}

/// `out = Wᵀ r`: the exact vector-Jacobian product of [`conv2d_forward`] with respect to `x`
/// (bias excluded), i.e. `out[ci, ih, iw] = Σ r[co, oh, ow] · w[co, ci − group offset, ki, kj]`
/// over every output position and tap that reads `(ci, ih, iw)`.
///
/// `r`: `[out_channels, out_h, out_w]`, `out`: `[in_channels, in_h, in_w]` (overwritten, not
/// accumulated). Taps in the padding are dropped. Panics if a slice length does not match.
pub fn conv2d_transpose(g: &Conv2dGeometry, r: &[f32], w: &[f32], out: &mut [f32]) {
    transpose_with_budget(g, r, w, out, CHUNKING);
}

fn forward_with_budget(
    g: &Conv2dGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    budget: Chunking,
) {
    g.check("conv2d_forward", x.len(), w.len(), y.len(), "output");
    if let Some(b) = bias {
        assert_eq!(b.len(), g.out_channels, "conv2d_forward: bias length");
    }
    if g.in_per_group() == 1 {
        direct_forward(g, x, w, bias, y);
        return;
    }
    // sgemm paths accumulate into y (beta = 1) when there is a bias, otherwise overwrite it.
    let p = g.out_h * g.out_w;
    let beta = match bias {
        Some(b) => {
            for (row, &bv) in y.chunks_exact_mut(p).zip(b) {
                row.fill(bv);
            }
            1.0
        }
        None => 0.0,
    };
    if g.is_pointwise() {
        pointwise_forward(g, x, w, beta, y);
    } else {
        im2col_forward(g, x, w, beta, y, budget);
    }
}

fn transpose_with_budget(g: &Conv2dGeometry, r: &[f32], w: &[f32], out: &mut [f32], budget: Chunking) {
    g.check("conv2d_transpose", out.len(), w.len(), r.len(), "relevance");
    if g.in_per_group() == 1 {
        direct_transpose(g, r, w, out);
    } else if g.is_pointwise() {
        pointwise_transpose(g, r, w, out);
    } else {
        im2col_transpose(g, r, w, out, budget);
    }
}

/// `C[m,n] ← A[m,k]·B[k,n] + beta·C` through `matrixmultiply::sgemm`, with bounds checks on the
/// extents every operand's strides reach.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    beta: f32,
    c: &mut [f32],
    rsc: usize,
    csc: usize,
) {
    let reach = |rows: usize, cols: usize, rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(a.len() >= reach(m, k, rsa, csa), "gemm: A too short");
    assert!(b.len() >= reach(k, n, rsb, csb), "gemm: B too short");
    assert!(c.len() >= reach(m, n, rsc, csc), "gemm: C too short");
    // SAFETY: every element addressed through (pointer, strides, dims) lies inside the slice
    // (checked above); C is a distinct &mut slice, and its strides (rows·rsc, cols·csc with
    // rsc ≥ n·csc or csc ≥ m·rsc as used by the callers) do not alias.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            csc as isize,
        );
    }
}

/// Pointwise forward: per group, `y_g[cog, P] (+)= W_g[cog, cig] · x_g[cig, P]`.
fn pointwise_forward(g: &Conv2dGeometry, x: &[f32], w: &[f32], beta: f32, y: &mut [f32]) {
    let (cig, cog, p) = (g.in_per_group(), g.out_per_group(), g.out_h * g.out_w);
    for gi in 0..g.groups {
        let wg = &w[gi * cog * cig..][..cog * cig];
        let xg = &x[gi * cig * p..][..cig * p];
        let yg = &mut y[gi * cog * p..][..cog * p];
        gemm(cog, cig, p, wg, cig, 1, xg, p, 1, beta, yg, p, 1);
    }
}

/// Pointwise transpose: per group, `out_g[cig, P] = W_gᵀ[cig, cog] · r_g[cog, P]`, the
/// transposition expressed by the strides of A (row stride 1, column stride `cig`).
fn pointwise_transpose(g: &Conv2dGeometry, r: &[f32], w: &[f32], out: &mut [f32]) {
    let (cig, cog, p) = (g.in_per_group(), g.out_per_group(), g.out_h * g.out_w);
    for gi in 0..g.groups {
        let wg = &w[gi * cog * cig..][..cog * cig];
        let rg = &r[gi * cog * p..][..cog * p];
        let og = &mut out[gi * cig * p..][..cig * p];
        gemm(cig, cog, p, wg, 1, cig, rg, p, 1, 0.0, og, p, 1);
    }
}

/// Fills `col[(c·kh + ki)·kw + kj, (oh − oh0)·out_w + ow]` with the input value tapped by output
/// `(oh, ow)` for `oh0 ≤ oh < oh1` (zero in the padding). `xg` holds the group's input channels.
fn im2col(g: &Conv2dGeometry, runs: &[Run], xg: &[f32], oh0: usize, oh1: usize, col: &mut [f32]) {
    let (hw, iw, ow, sw) = (g.in_h * g.in_w, g.in_w, g.out_w, g.stride_w);
    let n = (oh1 - oh0) * ow;
    let mut rows = col.chunks_exact_mut(n);
    for c in 0..g.in_per_group() {
        let xc = &xg[c * hw..][..hw];
        for ki in 0..g.kernel_h {
            for run in runs {
                let dst_row = rows.next().expect("im2col: column buffer too short");
                for (dst, oh) in dst_row.chunks_exact_mut(ow).zip(oh0..oh1) {
                    let Some(ih) = g.input_row(oh, ki) else {
                        dst.fill(0.0);
                        continue;
                    };
                    let Run { lo, hi, x0 } = *run;
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    if lo == hi {
                        continue;
                    }
                    let src = &xc[ih * iw + x0..(ih + 1) * iw];
                    if sw == 1 {
                        dst[lo..hi].copy_from_slice(&src[..hi - lo]);
                    } else {
                        for (d, s) in dst[lo..hi].iter_mut().zip(src.chunks(sw)) {
                            *d = s[0];
                        }
                    }
                }
            }
        }
    }
}

/// Adjoint of [`im2col`]: scatter-adds every column entry onto the input position it was read
/// from (entries that came from the padding are dropped). `og` holds the group's input channels.
fn col2im(g: &Conv2dGeometry, runs: &[Run], col: &[f32], oh0: usize, oh1: usize, og: &mut [f32]) {
    let (hw, iw, ow, sw) = (g.in_h * g.in_w, g.in_w, g.out_w, g.stride_w);
    let n = (oh1 - oh0) * ow;
    let mut rows = col.chunks_exact(n);
    for c in 0..g.in_per_group() {
        let oc = &mut og[c * hw..][..hw];
        for ki in 0..g.kernel_h {
            for run in runs {
                let src_row = rows.next().expect("col2im: column buffer too short");
                let Run { lo, hi, x0 } = *run;
                if lo == hi {
                    continue;
                }
                for (src, oh) in src_row.chunks_exact(ow).zip(oh0..oh1) {
                    if let Some(ih) = g.input_row(oh, ki) {
                        axpy_scatter(&mut oc[ih * iw + x0..(ih + 1) * iw], 1.0, &src[lo..hi], sw);
                    }
                }
            }
        }
    }
}

/// General forward: per group and chunk of output rows, im2col then
/// `y_g[cog, rows] (+)= W_g[cog, K] · col[K, rows]`.
fn im2col_forward(g: &Conv2dGeometry, x: &[f32], w: &[f32], beta: f32, y: &mut [f32], budget: Chunking) {
    let (cig, cog, p, kk) = (g.in_per_group(), g.out_per_group(), g.out_h * g.out_w, g.col_rows());
    let runs = g.col_runs();
    let rows = chunk_rows(g, budget);
    let mut col = vec![0f32; kk * rows * g.out_w];
    let hw = g.in_h * g.in_w;
    for gi in 0..g.groups {
        let wg = &w[gi * cog * kk..][..cog * kk];
        let xg = &x[gi * cig * hw..][..cig * hw];
        let yg = &mut y[gi * cog * p..][..cog * p];
        let mut oh0 = 0;
        while oh0 < g.out_h {
            let oh1 = (oh0 + rows).min(g.out_h);
            let n = (oh1 - oh0) * g.out_w;
            let colc = &mut col[..kk * n];
            im2col(g, &runs, xg, oh0, oh1, colc);
            gemm(cog, kk, n, wg, kk, 1, colc, n, 1, beta, &mut yg[oh0 * g.out_w..], p, 1);
            oh0 = oh1;
        }
    }
}

/// General transpose: per group and chunk of output rows,
/// `col[K, rows] = W_gᵀ[K, cog] · r_g[cog, rows]` then col2im scatter-add into `out`.
fn im2col_transpose(g: &Conv2dGeometry, r: &[f32], w: &[f32], out: &mut [f32], budget: Chunking) {
    let (cig, cog, p, kk) = (g.in_per_group(), g.out_per_group(), g.out_h * g.out_w, g.col_rows());
    let runs = g.col_runs();
    let rows = chunk_rows(g, budget);
    let mut col = vec![0f32; kk * rows * g.out_w];
    let hw = g.in_h * g.in_w;
    out.fill(0.0);
    for gi in 0..g.groups {
        let wg = &w[gi * cog * kk..][..cog * kk];
        let rg = &r[gi * cog * p..][..cog * p];
        let og = &mut out[gi * cig * hw..][..cig * hw];
        let mut oh0 = 0;
        while oh0 < g.out_h {
            let oh1 = (oh0 + rows).min(g.out_h);
            let n = (oh1 - oh0) * g.out_w;
            let colc = &mut col[..kk * n];
            gemm(kk, cog, n, wg, 1, kk, &rg[oh0 * g.out_w..], p, 1, 0.0, colc, n, 1);
            col2im(g, &runs, colc, oh0, oh1, og);
            oh0 = oh1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Direct (depthwise) kernels.
//
// Both directions reduce to one row primitive, `direct_row`, over *contiguous* sources:
// `dst[o] = init + Σ_{item} Σ_{tap ∈ item.cols} item.w[tap.k] · item.src[o + tap.off]`, each tap
// contributing only for outputs `tap.lo..tap.hi` (where its source is in bounds). Outputs in the
// interior (every tap in bounds) are computed in blocks of 16/8/4 contiguous outputs whose
// accumulators stay in registers across all taps, so each output is written once and the inner
// loop is a plain contiguous multiply-add; the few border outputs take a scalar path.
//
// Strides are turned into unit strides by phase decomposition: with stride `s`, input column
// `o·s + off` is element `o + off.div_euclid(s)` of the column phase `off.rem_euclid(s)`
// (`x[q + s·m]`, `m = 0, 1, ..`). The forward pass de-interleaves the input into its phases once
// per call; the transpose computes each phase of its output row separately.

/// One kernel-column tap of [`direct_row`]: weight `w[k]`, source element `o + off` for output
/// `o`, in bounds exactly for outputs `lo..hi` (never empty).
#[derive(Clone, Copy, Debug)]
struct ColTap {
    k: usize,
    off: isize,
    lo: usize,
    hi: usize,
}

impl ColTap {
    /// The tap, or `None` if no output of `0..n_out` has its source inside `0..src_len`.
    fn new(k: usize, off: isize, n_out: usize, src_len: usize) -> Option<Self> {
        let (lo, hi) = valid_range(n_out, 1, off, src_len);
        (lo < hi).then_some(ColTap { k, off, lo, hi })
    }
}

/// A contiguous source row, the weight row it is combined with (indexed by [`ColTap::k`]) and
/// the taps that read it.
#[derive(Clone, Copy)]
struct Item<'a> {
    src: &'a [f32],
    w: &'a [f32],
    cols: &'a [ColTap],
}

/// The interior `a..b` of a row of `n` outputs for a set of taps: the outputs for which every
/// tap is in bounds (`(n, n)` if there are none, so that the whole row is border).
fn interior<'a>(taps: impl Iterator<Item = &'a ColTap> + Clone, n: usize) -> (usize, usize) {
    let a = taps.clone().map(|c| c.lo).max().unwrap_or(0);
    let b = taps.map(|c| c.hi).min().unwrap_or(n).min(n);
    if a < b {
        (a, b)
    } else {
        (n, n)
    }
}

/// `dst[o] = init + Σ_items Σ_taps w[k] · src[o + off]` (out-of-bounds taps skipped).
/// `(a, b)` is the [`interior`] of a superset of the items' taps.
fn direct_row(dst: &mut [f32], init: f32, items: &[Item], (a, b): (usize, usize)) {
    let n = dst.len();
    for o in (0..a).chain(b..n) {
        let mut acc = init;
        for it in items {
            for c in it.cols {
                if (c.lo..c.hi).contains(&o) {
                    acc += it.w[c.k] * it.src[(o as isize + c.off) as usize];
                }
            }
        }
        dst[o] = acc;
    }
    let len = b - a;
    if len >= 16 {
        blocks::<16>(dst, init, items, a, b);
    } else if len >= 8 {
        blocks::<8>(dst, init, items, a, b);
    } else if len >= 4 {
        blocks::<4>(dst, init, items, a, b);
    } else {
        for o in a..b {
            let mut acc = init;
            for it in items {
                for c in it.cols {
                    acc += it.w[c.k] * it.src[(o as isize + c.off) as usize];
                }
            }
            dst[o] = acc;
        }
    }
}

/// Covers the interior `a..b` (`b − a ≥ B`) with blocks of `B` outputs; the last block is
/// shifted back to end at `b`, overlapping its predecessor (recomputing identical values).
#[inline(always)]
fn blocks<const B: usize>(dst: &mut [f32], init: f32, items: &[Item], a: usize, b: usize) {
    let mut o = a;
    loop {
        let o0 = o.min(b - B);
        block::<B>(&mut dst[o0..o0 + B], init, items, o0);
        if o0 + B >= b {
            break;
        }
        o += B;
    }
}

/// `dst[j] = init + Σ_items Σ_taps w[k] · src[o0 + j + off]` for `j < B`, all taps in bounds.
/// The accumulators stay in registers across the taps (auto-vectorised).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn block<const B: usize>(dst: &mut [f32], init: f32, items: &[Item], o0: usize) {
    let mut acc = [0f32; B];
    for it in items {
        for c in it.cols {
            let wv = it.w[c.k];
            let base = (o0 as isize + c.off) as usize;
            let xs = &it.src[base..base + B];
            for (av, &xv) in acc.iter_mut().zip(xs) {
                *av += wv * xv;
            }
        }
    }
    for (d, av) in dst[..B].iter_mut().zip(acc) {
        *d = init + av;
    }
}

/// wasm `simd128` version of [`block`]: `B / 4` explicit `f32x4` accumulators.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn block<const B: usize>(dst: &mut [f32], init: f32, items: &[Item], o0: usize) {
    use super::elementwise::simd::{load, store};
    use core::arch::wasm32::*;
    let nv = B / 4;
    let mut acc = [f32x4_splat(0.0); 4];
    for it in items {
        for c in it.cols {
            let wv = f32x4_splat(it.w[c.k]);
            let base = (o0 as isize + c.off) as usize;
            let xs = &it.src[base..base + B];
            for (v, av) in acc.iter_mut().enumerate().take(nv) {
                *av = f32x4_add(*av, f32x4_mul(wv, load(xs, 4 * v)));
            }
        }
    }
    let iv = f32x4_splat(init);
    for (v, av) in acc.iter().enumerate().take(nv) {
        store(dst, 4 * v, f32x4_add(iv, *av));
    }
}

/// Column phases of a strided row: phase `q` holds elements `q, q + s, q + 2s, ..` of a row of
/// `len` elements. Returns `(length, start offset within a de-interleaved row)` per phase.
fn phase_layout(len: usize, s: usize) -> Vec<(usize, usize)> {
    let mut start = 0;
    (0..s.min(len))
        .map(|q| {
            let n = (len - q).div_ceil(s);
            start += n;
            (n, start - n)
        })
        .collect()
}

/// Rows narrower than this are zero-padded horizontally (per channel, into a scratch plane)
/// when some kernel column would fall in the padding, so that every output of the row is
/// interior; wider rows compute their few border outputs directly instead of copying.
const PAD_NARROW_ROWS: usize = 64;

/// Column phases and taps of the direct forward when each input row is stored as a row of `wp`
/// elements with input column `c` at position `c + lp`: input column `o·stride_w + kj·dilation_w
/// − pad_left` is element `o + off.div_euclid(stride_w)` of phase `off.rem_euclid(stride_w)`,
/// `off = kj·dilation_w + lp − pad_left`.
#[allow(clippy::type_complexity)]
fn forward_phases(g: &Conv2dGeometry, lp: usize, wp: usize) -> (Vec<(usize, usize)>, Vec<Vec<ColTap>>) {
    let sw = g.stride_w as isize;
    let layout = phase_layout(wp, g.stride_w);
    let cols = layout
        .iter()
        .enumerate()
        .map(|(q, &(len_q, _))| {
            (0..g.kernel_w)
                .filter_map(|kj| {
                    let off = (kj * g.dilation_w + lp) as isize - g.pad_left as isize;
                    if off.rem_euclid(sw) as usize != q {
                        return None;
                    }
                    ColTap::new(kj, off.div_euclid(sw), g.out_w, len_q)
                })
                .collect()
        })
        .collect();
    (layout, cols)
}

/// Direct forward for one input channel per group (depthwise, any channel multiplier): output
/// channel `co` reads input channel `co / (out_channels / groups)`; each output row is one
/// [`direct_row`] over the in-bounds kernel rows (and, when strided, the column phases of the
/// de-interleaved input rows; when narrow, of the zero-padded input rows).
fn direct_forward(g: &Conv2dGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let (iw, ow, sw) = (g.in_w, g.out_w, g.stride_w);
    let (kh, kw) = (g.kernel_h, g.kernel_w);
    let cog = g.out_per_group();
    // Stored row: `wp` elements, input column c at c + lp (zeros around it when padded).
    let (mut lp, mut wp) = (0, iw);
    let (mut layout, mut phase_cols) = forward_phases(g, lp, wp);
    if interior(phase_cols.iter().flatten(), ow) != (0, ow) && ow < PAD_NARROW_ROWS {
        lp = g.pad_left;
        wp = (lp + iw).max((ow - 1) * sw + (kw - 1) * g.dilation_w + 1);
        (layout, phase_cols) = forward_phases(g, lp, wp);
    }
    let inner = interior(phase_cols.iter().flatten(), ow);
    let padded = (lp, wp) != (0, iw);
    let copy = padded || sw > 1;
    let hw = g.in_h * iw;
    let p = g.out_h * ow;
    // The input channel as stored rows (padded and/or de-interleaved), when not `x` itself.
    let mut plane = vec![0f32; if copy { g.in_h * wp } else { 0 }];
    let mut row_buf = vec![0f32; if padded && sw > 1 { wp } else { 0 }];
    let mut items: Vec<Item> = Vec::with_capacity(kh * layout.len());
    for (co, yc) in y.chunks_exact_mut(p).enumerate() {
        let xc = &x[(co / cog) * hw..][..hw];
        let xc: &[f32] = if !copy {
            xc
        } else {
            if co % cog == 0 {
                // `items` borrows the previous channel's plane: empty it, keeping its buffer.
                items = recycle(items);
                for (src, dst) in xc.chunks_exact(iw).zip(plane.chunks_exact_mut(wp)) {
                    if !padded {
                        deinterleave(src, dst, sw, &layout);
                        continue;
                    }
                    let row = if sw > 1 { &mut row_buf[..] } else { &mut dst[..] };
                    row[..lp].fill(0.0);
                    row[lp..lp + iw].copy_from_slice(src);
                    row[lp + iw..].fill(0.0);
                    if sw > 1 {
                        deinterleave(&row_buf, dst, sw, &layout);
                    }
                }
            }
            &plane
        };
        let wc = &w[co * kh * kw..][..kh * kw];
        let init = bias.map_or(0.0, |b| b[co]);
        for (oh, yrow) in yc.chunks_exact_mut(ow).enumerate() {
            items.clear();
            for ki in 0..kh {
                if let Some(ih) = g.input_row(oh, ki) {
                    let row = &xc[ih * wp..][..wp];
                    for (&(len_q, start), cols) in layout.iter().zip(&phase_cols) {
                        if !cols.is_empty() {
                            items.push(Item { src: &row[start..start + len_q], w: &wc[ki * kw..][..kw], cols });
                        }
                    }
                }
            }
            direct_row(yrow, init, &items, inner);
        }
    }
}

/// Empties a vector of items and returns it with a fresh lifetime, reusing its allocation
/// (the in-place `collect` of an empty iterator into a same-layout type keeps the buffer).
fn recycle<'b>(mut v: Vec<Item<'_>>) -> Vec<Item<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

/// Splits `src` into its column phases: `dst[start_q + m] = src[q + s·m]` (see
/// [`phase_layout`]).
fn deinterleave(src: &[f32], dst: &mut [f32], s: usize, layout: &[(usize, usize)]) {
    if s == 2 && layout.len() == 2 {
        let n = src.len() / 2;
        let (even, odd) = dst.split_at_mut(layout[1].1);
        let (src2, even2, odd2) = (&src[..2 * n], &mut even[..n], &mut odd[..n]);
        for m in 0..n {
            even2[m] = src2[2 * m];
            odd2[m] = src2[2 * m + 1];
        }
        if src.len() % 2 == 1 {
            even[n] = src[2 * n];
        }
        return;
    }
    for (q, &(len_q, start)) in layout.iter().enumerate() {
        for (d, c) in dst[start..start + len_q].iter_mut().zip(src[q..].chunks(s)) {
            *d = c[0];
        }
    }
}

/// Inverse of [`deinterleave`]: `dst[q + s·m] = src[start_q + m]`.
fn interleave(src: &[f32], dst: &mut [f32], s: usize, layout: &[(usize, usize)]) {
    if s == 2 && layout.len() == 2 {
        let (even, odd) = src.split_at(layout[1].1);
        for ((c, &e), &o) in dst.chunks_exact_mut(2).zip(even).zip(odd) {
            c[0] = e;
            c[1] = o;
        }
        if dst.len() % 2 == 1 {
            dst[dst.len() - 1] = even[even.len() - 1];
        }
        return;
    }
    for (q, &(len_q, start)) in layout.iter().enumerate() {
        for (c, &v) in dst[q..].chunks_mut(s).zip(&src[start..start + len_q]) {
            c[0] = v;
        }
    }
}

/// Direct transpose (adjoint of [`direct_forward`]), computed as a gather so that every input
/// position is written exactly once: `out[ci, ih, iw] = Σ w[co, ki, kj] · r[co, oh, ow]` over the
/// channels `co` of the group and the taps with `oh·stride_h + ki·dilation_h − pad_top = ih` and
/// `ow·stride_w + kj·dilation_w − pad_left = iw`. With `stride_w > 1` the input row is split
/// into its column phases `iw = q + stride_w·m`: within a phase the contributing taps are fixed
/// and `ow = m + const`, so each phase is one contiguous [`direct_row`] over rows of `r`,
/// written back with stride `stride_w`. Narrow rows of `r` are zero-padded (per group, into a
/// scratch plane) so that every output is interior.
fn direct_transpose(g: &Conv2dGeometry, r: &[f32], w: &[f32], out: &mut [f32]) {
    let (iw, ow, sh, sw) = (g.in_w, g.out_w, g.stride_h, g.stride_w);
    let (kh, kw) = (g.kernel_h, g.kernel_w);
    let cog = g.out_per_group();
    let p = g.out_h * ow;
    let layout = phase_layout(iw, sw);
    // Raw taps per column phase q: (kj, offset into a row of r) with ow = m + offset.
    let raw: Vec<Vec<(usize, isize)>> = (0..layout.len())
        .map(|q| {
            (0..kw)
                .filter_map(|kj| {
                    let t = (q + g.pad_left) as isize - (kj * g.dilation_w) as isize;
                    (t.rem_euclid(sw as isize) == 0).then_some((kj, t.div_euclid(sw as isize)))
                })
                .collect()
        })
        .collect();
    // Per phase: its taps into a stored r row of `rl` elements with r column c at c + lp, and
    // its interior.
    let phases = |lp: usize, rl: usize| -> Vec<(Vec<ColTap>, (usize, usize))> {
        layout
            .iter()
            .zip(&raw)
            .map(|(&(len_q, _), taps)| {
                let cols: Vec<ColTap> =
                    taps.iter().filter_map(|&(kj, off)| ColTap::new(kj, off + lp as isize, len_q, rl)).collect();
                let inner = interior(cols.iter(), len_q);
                (cols, inner)
            })
            .collect()
    };
    let (mut lp, mut rl) = (0, ow);
    let mut phase_cols = phases(lp, rl);
    let all_interior = |pc: &[(Vec<ColTap>, (usize, usize))]| {
        pc.iter().zip(&layout).all(|((_, inner), &(len_q, _))| *inner == (0, len_q))
    };
    if !all_interior(&phase_cols) && ow < PAD_NARROW_ROWS {
        let taps = || raw.iter().zip(&layout).flat_map(|(t, &(len_q, _))| t.iter().map(move |&(_, off)| (off, len_q)));
        lp = taps().map(|(off, _)| (-off).max(0) as usize).max().unwrap_or(0);
        rl = taps().map(|(off, len_q)| (off + (lp + len_q) as isize) as usize).fold(lp + ow, usize::max);
        phase_cols = phases(lp, rl);
    }
    let padded = (lp, rl) != (0, ow);
    // Per input row ih: the kernel rows ki and output rows oh that tap it (flattened).
    let mut row_taps: Vec<(usize, usize)> = Vec::with_capacity(g.in_h * kh);
    let mut row_start = Vec::with_capacity(g.in_h + 1);
    for ih in 0..g.in_h {
        row_start.push(row_taps.len());
        for ki in 0..kh {
            let t = (ih + g.pad_top) as isize - (ki * g.dilation_h) as isize;
            if t >= 0 && t % sh as isize == 0 && ((t / sh as isize) as usize) < g.out_h {
                row_taps.push((ki, (t / sh as isize) as usize));
            }
        }
    }
    row_start.push(row_taps.len());
    // The group's channels of r as stored rows, when padded.
    let mut plane = vec![0f32; if padded { cog * g.out_h * rl } else { 0 }];
    let mut phase_buf = vec![0f32; if sw > 1 { iw } else { 0 }];
    let mut items: Vec<Item> = Vec::with_capacity(cog * kh);
    for (ci, oc) in out.chunks_exact_mut(g.in_h * iw).enumerate() {
        let rg = &r[ci * cog * p..][..cog * p];
        let (rg, rs): (&[f32], usize) = if padded {
            // `items` borrows the previous group's plane: empty it, keeping its buffer.
            items = recycle(items);
            for (src, dst) in rg.chunks_exact(ow).zip(plane.chunks_exact_mut(rl)) {
                dst[..lp].fill(0.0);
                dst[lp..lp + ow].copy_from_slice(src);
                dst[lp + ow..].fill(0.0);
            }
            (&plane, rl)
        } else {
            (rg, ow)
        };
        for (ih, orow) in oc.chunks_exact_mut(iw).enumerate() {
            let taps = &row_taps[row_start[ih]..row_start[ih + 1]];
            for (q, (cols, inner)) in phase_cols.iter().enumerate() {
                items.clear();
                if !cols.is_empty() {
                    for c in 0..cog {
                        let co = ci * cog + c;
                        for &(ki, oh) in taps {
                            items.push(Item {
                                src: &rg[(c * g.out_h + oh) * rs..][..rs],
                                w: &w[(co * kh + ki) * kw..][..kw],
                                cols,
                            });
                        }
                    }
                }
                if sw == 1 {
                    direct_row(orow, 0.0, &items, *inner);
                } else {
                    let (len_q, start) = layout[q];
                    direct_row(&mut phase_buf[start..start + len_q], 0.0, &items, *inner);
                }
            }
            if sw > 1 {
                interleave(&phase_buf, orow, sw, &layout);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Chunked im2col (several output-row chunks, including a ragged last one) must agree with
    /// the single-chunk computation.
    #[test]
    fn im2col_chunking_is_invisible() {
        let g = Conv2dGeometry::new(4, 11, 9, 6, 3, 2, (2, 1), (1, 2), [1, 0, 2, 1], 2).unwrap();
        let x = data(g.input_len(), 1);
        let w = data(g.weight_len(), 2);
        let b = data(g.out_channels, 3);
        let r = data(g.output_len(), 4);
        let mut y_big = vec![0.0; g.output_len()];
        forward_with_budget(&g, &x, &w, Some(&b), &mut y_big, CHUNKING);
        let mut t_big = vec![0.0; g.input_len()];
        transpose_with_budget(&g, &r, &w, &mut t_big, CHUNKING);
        for floats in [1usize, 50, 100] {
            let budget = Chunking { floats, min_cols: 1 };
            assert!(chunk_rows(&g, budget) < g.out_h);
            let mut y = vec![f32::NAN; g.output_len()];
            forward_with_budget(&g, &x, &w, Some(&b), &mut y, budget);
            let mut t = vec![f32::NAN; g.input_len()];
            transpose_with_budget(&g, &r, &w, &mut t, budget);
            for (a, e) in y.iter().zip(&y_big) {
                assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "{a} vs {e}");
            }
            for (a, e) in t.iter().zip(&t_big) {
                assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "{a} vs {e}");
            }
        }
    }
}
