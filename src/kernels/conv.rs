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
        let out_h = conv_out_dim(
            "Conv2d height",
            in_h,
            pad_top,
            pad_bottom,
            kernel_h,
            stride.0,
            dilation.0,
        )?;
        let out_w = conv_out_dim(
            "Conv2d width",
            in_w,
            pad_left,
            pad_right,
            kernel_w,
            stride.1,
            dilation.1,
        )?;
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
                let x0 = if lo < hi {
                    (lo as isize * self.stride_w as isize + offset) as usize
                } else {
                    0
                };
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

const CHUNKING: Chunking = Chunking {
    floats: 1 << 18,
    min_cols: 256,
};

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
pub fn conv2d_forward(
    g: &Conv2dGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
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

fn transpose_with_budget(
    g: &Conv2dGeometry,
    r: &[f32],
    w: &[f32],
    out: &mut [f32],
    budget: Chunking,
) {
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
fn im2col_forward(
    g: &Conv2dGeometry,
    x: &[f32],
    w: &[f32],
    beta: f32,
    y: &mut [f32],
    budget: Chunking,
) {
    let (cig, cog, p, kk) = (
        g.in_per_group(),
        g.out_per_group(),
        g.out_h * g.out_w,
        g.col_rows(),
    );
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
            gemm(
                cog,
                kk,
                n,
                wg,
                kk,
                1,
                colc,
                n,
                1,
                beta,
                &mut yg[oh0 * g.out_w..],
                p,
                1,
            );
            oh0 = oh1;
        }
    }
}

/// General transpose: per group and chunk of output rows,
/// `col[K, rows] = W_gᵀ[K, cog] · r_g[cog, rows]` then col2im scatter-add into `out`.
fn im2col_transpose(g: &Conv2dGeometry, r: &[f32], w: &[f32], out: &mut [f32], budget: Chunking) {
    let (cig, cog, p, kk) = (
        g.in_per_group(),
        g.out_per_group(),
        g.out_h * g.out_w,
        g.col_rows(),
    );
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
            gemm(
                kk,
                cog,
                n,
                wg,
                1,
                kk,
                &rg[oh0 * g.out_w..],
                p,
                1,
                0.0,
                colc,
                n,
                1,
            );
            col2im(g, &runs, colc, oh0, oh1, og);
            oh0 = oh1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Direct (depthwise) kernels.
//
// Both directions reduce to one row primitive, `direct_row`: an output row is
// `dst[o] = init + Σ_{(src, wrow) ∈ rows} Σ_{tap ∈ cols} wrow[tap.k] · src[o·stride + tap.off]`,
// each tap contributing only for outputs `tap.lo..tap.hi` (where its source is in bounds).
// Outputs in the interior (all taps in bounds) are computed in blocks of 16/8/4 contiguous
// outputs whose accumulators stay in registers across all taps, so each output is written once;
// the few border outputs on either side take a scalar path with per-tap range checks.

/// One kernel-column tap of [`direct_row`]: weight `wrow[k]`, source position
/// `o · stride + off` for output `o`, in bounds exactly for outputs `lo..hi` (never empty).
#[derive(Clone, Copy, Debug)]
struct ColTap {
    k: usize,
    off: isize,
    lo: usize,
    hi: usize,
}

impl ColTap {
    /// The tap, or `None` if no output of `0..n_out` has its source inside `0..src_len`.
    fn new(k: usize, off: isize, n_out: usize, stride: usize, src_len: usize) -> Option<Self> {
        let (lo, hi) = valid_range(n_out, stride, off, src_len);
        (lo < hi).then_some(ColTap { k, off, lo, hi })
    }
}

/// A source row and the weight row (indexed by `ColTap::k`) it is combined with.
type TapRow<'a> = (&'a [f32], &'a [f32]);

/// `dst[o] = init + Σ_rows Σ_taps wrow[k] · src[o·stride + off]` (taps out of bounds skipped).
fn direct_row(dst: &mut [f32], init: f32, rows: &[TapRow], cols: &[ColTap], stride: usize) {
    match stride {
        1 => direct_row_s::<1>(dst, init, rows, cols, 1),
        2 => direct_row_s::<2>(dst, init, rows, cols, 2),
        s => direct_row_s::<0>(dst, init, rows, cols, s),
    }
}

/// [`direct_row`] for a compile-time stride `S` (`S = 0`: the run-time `stride`).
#[inline(always)]
fn direct_row_s<const S: usize>(
    dst: &mut [f32],
    init: f32,
    rows: &[TapRow],
    cols: &[ColTap],
    stride: usize,
) {
    let s = if S == 0 { stride } else { S };
    let n = dst.len();
    // Interior: outputs for which every tap is in bounds.
    let a = cols.iter().map(|c| c.lo).max().unwrap_or(0);
    let b = cols.iter().map(|c| c.hi).min().unwrap_or(n);
    let (a, b) = if a < b { (a, b) } else { (n, n) };
    for o in (0..a).chain(b..n) {
        let mut acc = init;
        for &(src, wrow) in rows {
            for c in cols {
                if (c.lo..c.hi).contains(&o) {
                    acc += wrow[c.k] * src[((o * s) as isize + c.off) as usize];
                }
            }
        }
        dst[o] = acc;
    }
    let len = b - a;
    if len >= 16 {
        blocks::<S, 16>(dst, init, rows, cols, a, b, s);
    } else if len >= 8 {
        blocks::<S, 8>(dst, init, rows, cols, a, b, s);
    } else if len >= 4 {
        blocks::<S, 4>(dst, init, rows, cols, a, b, s);
    } else {
        for o in a..b {
            let mut acc = init;
            for &(src, wrow) in rows {
                for c in cols {
                    acc += wrow[c.k] * src[((o * s) as isize + c.off) as usize];
                }
            }
            dst[o] = acc;
        }
    }
}

/// Covers the interior `a..b` (`b − a ≥ B`) with blocks of `B` outputs; the last block is
/// shifted back to end at `b`, overlapping its predecessor (recomputing identical values).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn blocks<const S: usize, const B: usize>(
    dst: &mut [f32],
    init: f32,
    rows: &[TapRow],
    cols: &[ColTap],
    a: usize,
    b: usize,
    s: usize,
) {
    let mut o = a;
    loop {
        let o0 = o.min(b - B);
        block::<S, B>(&mut dst[o0..o0 + B], init, rows, cols, o0, s);
        if o0 + B >= b {
            break;
        }
        o += B;
    }
}

/// `dst[j] = init + Σ_rows Σ_taps wrow[k] · src[(o0 + j)·s + off]` for `j < B`, all taps in
/// bounds. Accumulators stay in registers across the taps.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn block<const S: usize, const B: usize>(
    dst: &mut [f32],
    init: f32,
    rows: &[TapRow],
    cols: &[ColTap],
    o0: usize,
    s: usize,
) {
    let mut acc = [0f32; B];
    for &(src, wrow) in rows {
        for c in cols {
            let wv = wrow[c.k];
            let base = ((o0 * s) as isize + c.off) as usize;
            let xs = &src[base..base + (B - 1) * s + 1];
            for (j, av) in acc.iter_mut().enumerate() {
                *av += wv * xs[j * s];
            }
        }
    }
    for (d, av) in dst[..B].iter_mut().zip(acc) {
        *d = init + av;
    }
}

/// wasm `simd128` version of the block: `B / 4` vector accumulators; stride 1 uses plain
/// loads, stride 2 two loads and an even-lane shuffle per vector, other strides lane inserts.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn block<const S: usize, const B: usize>(
    dst: &mut [f32],
    init: f32,
    rows: &[TapRow],
    cols: &[ColTap],
    o0: usize,
    s: usize,
) {
    use super::elementwise::simd::{load, store};
    use core::arch::wasm32::*;
    let nv = B / 4;
    let mut acc = [f32x4_splat(0.0); 4];
    for &(src, wrow) in rows {
        for c in cols {
            let wv = f32x4_splat(wrow[c.k]);
            let base = ((o0 * s) as isize + c.off) as usize;
            let xs = &src[base..];
            assert!(xs.len() > (B - 1) * s);
            for (v, av) in acc.iter_mut().enumerate().take(nv) {
                let xv = match S {
                    1 => load(xs, 4 * v),
                    2 => {
                        let lo = load(xs, 8 * v);
                        let hi = if 8 * v + 8 <= xs.len() {
                            load(xs, 8 * v + 4)
                        } else {
                            f32x4(xs[8 * v + 4], 0.0, xs[8 * v + 6], 0.0)
                        };
                        i32x4_shuffle::<0, 2, 4, 6>(lo, hi)
                    }
                    _ => {
                        let i = 4 * v * s;
                        f32x4(xs[i], xs[i + s], xs[i + 2 * s], xs[i + 3 * s])
                    }
                };
                *av = f32x4_add(*av, f32x4_mul(wv, xv));
            }
        }
    }
    let iv = f32x4_splat(init);
    for (v, av) in acc.iter().enumerate().take(nv) {
        store(dst, 4 * v, f32x4_add(iv, *av));
    }
}

/// Direct forward for one input channel per group (depthwise, any channel multiplier): output
/// channel `co` reads input channel `co / (out_channels / groups)`; each output row is one
/// [`direct_row`] over the in-bounds kernel rows.
fn direct_forward(g: &Conv2dGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let (hw, iw, ow, sw) = (g.in_h * g.in_w, g.in_w, g.out_w, g.stride_w);
    let (kh, kw) = (g.kernel_h, g.kernel_w);
    let cog = g.out_per_group();
    let cols: Vec<ColTap> = (0..kw)
        .filter_map(|kj| {
            let off = (kj * g.dilation_w) as isize - g.pad_left as isize;
            ColTap::new(kj, off, ow, sw, iw)
        })
        .collect();
    let mut rows: Vec<TapRow> = Vec::with_capacity(kh);
    let p = g.out_h * ow;
    for (co, yc) in y.chunks_exact_mut(p).enumerate() {
        let xc = &x[(co / cog) * hw..][..hw];
        let wc = &w[co * kh * kw..][..kh * kw];
        let init = bias.map_or(0.0, |b| b[co]);
        for (oh, yrow) in yc.chunks_exact_mut(ow).enumerate() {
            rows.clear();
            for ki in 0..kh {
                if let Some(ih) = g.input_row(oh, ki) {
                    rows.push((&xc[ih * iw..][..iw], &wc[ki * kw..][..kw]));
                }
            }
            direct_row(yrow, init, &rows, &cols, sw);
        }
    }
}

/// Direct transpose (adjoint of [`direct_forward`]), computed as a gather so that every input
/// position is written once: `out[ci, ih, iw] = Σ w[co, ki, kj] · r[co, oh, ow]` over the
/// channels `co` of the group and the taps with `oh·stride_h + ki·dilation_h − pad_top = ih` and
/// `ow·stride_w + kj·dilation_w − pad_left = iw`. With `stride_w > 1` the input columns are
/// split into `stride_w` phases `iw = q + stride_w·m`; within a phase the contributing taps are
/// fixed and `ow = m + const`, so each phase is one contiguous [`direct_row`], written back with
/// stride `stride_w`.
fn direct_transpose(g: &Conv2dGeometry, r: &[f32], w: &[f32], out: &mut [f32]) {
    let (iw, ow, sh, sw) = (g.in_w, g.out_w, g.stride_h, g.stride_w);
    let (kh, kw) = (g.kernel_h, g.kernel_w);
    let cog = g.out_per_group();
    let p = g.out_h * ow;
    // Per column phase q: its taps (offsets into an r row) and its number of input columns.
    let phases: Vec<(Vec<ColTap>, usize)> = (0..sw.min(iw))
        .map(|q| {
            let n_q = (iw - q).div_ceil(sw);
            let cols = (0..kw)
                .filter_map(|kj| {
                    let t = (q + g.pad_left) as isize - (kj * g.dilation_w) as isize;
                    if t.rem_euclid(sw as isize) != 0 {
                        return None;
                    }
                    ColTap::new(kj, t.div_euclid(sw as isize), n_q, 1, ow)
                })
                .collect();
            (cols, n_q)
        })
        .collect();
    let mut phase_buf = vec![0f32; if sw > 1 { iw.div_ceil(sw) } else { 0 }];
    let mut rows: Vec<TapRow> = Vec::with_capacity(cog * kh);
    for (ci, oc) in out.chunks_exact_mut(g.in_h * iw).enumerate() {
        for (ih, orow) in oc.chunks_exact_mut(iw).enumerate() {
            rows.clear();
            for co in ci * cog..(ci + 1) * cog {
                for ki in 0..kh {
                    let t = (ih + g.pad_top) as isize - (ki * g.dilation_h) as isize;
                    if t < 0 || t % sh as isize != 0 || (t / sh as isize) as usize >= g.out_h {
                        continue;
                    }
                    let oh = (t / sh as isize) as usize;
                    rows.push((
                        &r[co * p + oh * ow..][..ow],
                        &w[(co * kh + ki) * kw..][..kw],
                    ));
                }
            }
            if sw == 1 {
                direct_row(orow, 0.0, &rows, &phases[0].0, 1);
            } else {
                for (q, (cols, n_q)) in phases.iter().enumerate() {
                    let buf = &mut phase_buf[..*n_q];
                    direct_row(buf, 0.0, &rows, cols, 1);
                    for (o, &v) in orow[q..].iter_mut().step_by(sw).zip(buf.iter()) {
                        *o = v;
                    }
                }
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
            let budget = Chunking {
                floats,
                min_cols: 1,
            };
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
