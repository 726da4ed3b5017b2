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
//!   multiplier), no gemm: the source channel is laid out once as zero-padded *phase planes*
//!   (one per stride phase), so that a whole output plane is a single long contiguous row
//!   computed in blocks of 16 outputs whose accumulators stay in registers across all kernel
//!   taps (explicit `simd128` vectors on wasm). Borders need no per-element branch: the zero
//!   padding puts every tap in bounds. The transpose is also a gather (each input written once):
//!   every stride phase of the input gradient is a stride-1 correlation of the zero-padded
//!   planes of `r`, scattered back with the strides;
//! - **pointwise** (1x1, stride 1, no padding): one `gemm` per group directly on the tensors,
//!   `y[Cout,P] = W[Cout,Cin]·x[Cin,P]` and `out[Cin,P] = Wᵀ[Cin,Cout]·r[Cout,P]` (the transpose
//!   is expressed through `gemm` strides, no copy);
//! - **im2col** otherwise: forward = im2col + `gemm`, transpose = `gemm` into a column buffer +
//!   col2im scatter-add. Both work on chunks of output rows so that the column buffer stays
//!   around a megabyte and in cache.

use super::elementwise::{axpy_scatter, copy_clamped, Clamp};
use super::gemm::{beta_of_term, gemm};
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

/// Performance knobs of the im2col paths (results do not depend on them beyond rounding; tests
/// vary them).
#[derive(Clone, Copy, Debug)]
struct Tuning {
    /// Target size (in `f32`) of one im2col column-buffer chunk.
    floats: usize,
    /// Minimum number of columns (output positions) of one im2col chunk, to keep `gemm`
    /// efficient.
    min_cols: usize,
}

const TUNING: Tuning = Tuning { floats: 1 << 18, min_cols: 256 };

/// Number of output rows per im2col chunk.
fn chunk_rows(g: &Conv2dGeometry, c: Tuning) -> usize {
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
    forward_tuned(g, x, w, bias, y, TUNING);
}

/// [`conv2d_forward`] of a depthwise convolution (one input channel per group) with a clamp
/// applied to each output row as it is copied out of the kernel's buffer (the ReLU6 after a
/// depthwise layer, with no pass of its own). Panics if the groups have several input channels.
pub fn depthwise_forward(
    g: &Conv2dGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    clamp: Option<Clamp>,
    y: &mut [f32],
) {
    assert_eq!(g.in_per_group(), 1, "depthwise_forward: {} input channels per group", g.in_per_group());
    g.check("depthwise_forward", x.len(), w.len(), y.len(), "output");
    if let Some(b) = bias {
        assert_eq!(b.len(), g.out_channels, "depthwise_forward: bias length");
    }
    direct_forward(g, x, w, bias, clamp, y);
}

/// `out = Wᵀ r`: the exact vector-Jacobian product of [`conv2d_forward`] with respect to `x`
/// (bias excluded), i.e. `out[ci, ih, iw] = Σ r[co, oh, ow] · w[co, ci − group offset, ki, kj]`
/// over every output position and tap that reads `(ci, ih, iw)`.
///
/// `r`: `[out_channels, out_h, out_w]`, `out`: `[in_channels, in_h, in_w]` (overwritten, not
/// accumulated). Taps in the padding are dropped. Panics if a slice length does not match.
pub fn conv2d_transpose(g: &Conv2dGeometry, r: &[f32], w: &[f32], out: &mut [f32]) {
    transpose_tuned(g, &[(r, w)], out, TUNING);
}

/// `out = Σ_k W_kᵀ r_k` over terms `(r_k, w_k)` of one geometry (the sign-split rules' two
/// products of a layer): [`conv2d_transpose`] of each term, summed as they are made, with no
/// intermediate tensor: depthwise, one gather over every term's taps; otherwise the matrix
/// products accumulate (β = 1) into one column buffer or into `out`. No terms: `out` is zeroed.
/// Panics if a slice length does not match the geometry.
pub fn conv2d_transpose_sum(g: &Conv2dGeometry, terms: &[(&[f32], &[f32])], out: &mut [f32]) {
    transpose_tuned(g, terms, out, TUNING);
}

fn forward_tuned(g: &Conv2dGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32], t: Tuning) {
    g.check("conv2d_forward", x.len(), w.len(), y.len(), "output");
    if let Some(b) = bias {
        assert_eq!(b.len(), g.out_channels, "conv2d_forward: bias length");
    }
    if g.in_per_group() == 1 {
        direct_forward(g, x, w, bias, None, y);
        return;
    }
    // gemm paths accumulate into y (beta = 1) when there is a bias, otherwise overwrite it.
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
        im2col_forward(g, x, w, beta, y, t);
    }
}

fn transpose_tuned(g: &Conv2dGeometry, terms: &[(&[f32], &[f32])], out: &mut [f32], t: Tuning) {
    for (r, w) in terms {
        g.check("conv2d_transpose", out.len(), w.len(), r.len(), "relevance");
    }
    if terms.is_empty() {
        out.fill(0.0);
    } else if g.in_per_group() == 1 {
        direct_transpose(g, terms, out);
    } else if g.is_pointwise() {
        pointwise_transpose(g, terms, out);
    } else {
        im2col_transpose(g, terms, out, t);
    }
}

/// Pointwise forward: per group, `y_g[cog, P] (+)= W_g[cog, cig] · x_g[cig, P]`.
fn pointwise_forward(g: &Conv2dGeometry, x: &[f32], w: &[f32], beta: f32, y: &mut [f32]) {
    let (cig, cog, p) = (g.in_per_group(), g.out_per_group(), g.out_h * g.out_w);
    for gi in 0..g.groups {
        let wg = &w[gi * cog * cig..][..cog * cig];
        let xg = &x[gi * cig * p..][..cig * p];
        let yg = &mut y[gi * cog * p..][..cog * p];
        gemm(cog, cig, p, wg, (cig, 1), xg, (p, 1), beta, yg, (p, 1));
    }
}

/// Pointwise transpose: per group, `out_g[cig, P] = Σ_k W_kgᵀ[cig, cog] · r_kg[cog, P]`, the
/// transposition expressed by the strides of A (row stride 1, column stride `cig`).
fn pointwise_transpose(g: &Conv2dGeometry, terms: &[(&[f32], &[f32])], out: &mut [f32]) {
    let (cig, cog, p) = (g.in_per_group(), g.out_per_group(), g.out_h * g.out_w);
    for gi in 0..g.groups {
        let og = &mut out[gi * cig * p..][..cig * p];
        for (k, (r, w)) in terms.iter().enumerate() {
            let wg = &w[gi * cog * cig..][..cog * cig];
            let rg = &r[gi * cog * p..][..cog * p];
            gemm(cig, cog, p, wg, (1, cig), rg, (p, 1), beta_of_term(k), og, (p, 1));
        }
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
fn im2col_forward(g: &Conv2dGeometry, x: &[f32], w: &[f32], beta: f32, y: &mut [f32], t: Tuning) {
    let (cig, cog, p, kk) = (g.in_per_group(), g.out_per_group(), g.out_h * g.out_w, g.col_rows());
    let runs = g.col_runs();
    let rows = chunk_rows(g, t);
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
            gemm(cog, kk, n, wg, (kk, 1), colc, (n, 1), beta, &mut yg[oh0 * g.out_w..], (p, 1));
            oh0 = oh1;
        }
    }
}

/// General transpose: per group and chunk of output rows,
/// `col[K, rows] = Σ_k W_kgᵀ[K, cog] · r_kg[cog, rows]` then col2im scatter-add into `out`.
fn im2col_transpose(g: &Conv2dGeometry, terms: &[(&[f32], &[f32])], out: &mut [f32], t: Tuning) {
    let (cig, cog, p, kk) = (g.in_per_group(), g.out_per_group(), g.out_h * g.out_w, g.col_rows());
    let runs = g.col_runs();
    let rows = chunk_rows(g, t);
    let mut col = vec![0f32; kk * rows * g.out_w];
    let hw = g.in_h * g.in_w;
    out.fill(0.0);
    for gi in 0..g.groups {
        let og = &mut out[gi * cig * hw..][..cig * hw];
        let mut oh0 = 0;
        while oh0 < g.out_h {
            let oh1 = (oh0 + rows).min(g.out_h);
            let n = (oh1 - oh0) * g.out_w;
            let colc = &mut col[..kk * n];
            for (k, (r, w)) in terms.iter().enumerate() {
                let wg = &w[gi * cog * kk..][..cog * kk];
                let rg = &r[gi * cog * p..][..cog * p];
                gemm(kk, cog, n, wg, (1, kk), &rg[oh0 * g.out_w..], (p, 1), beta_of_term(k), colc, (n, 1));
            }
            col2im(g, &runs, colc, oh0, oh1, og);
            oh0 = oh1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Direct (depthwise) kernels.
//
// Both directions reduce to one primitive, `direct_row`: a long contiguous output row
// `dst[o] = init + Σ_{item} Σ_{tap ∈ item.taps} item.w[tap.k] · item.src[o + tap.off]`, computed
// in blocks of 32/16/8/4 contiguous outputs (32 in wasm and natively with AVX2) whose
// accumulators stay in registers across all taps (each output written once; the inner loop is a
// plain contiguous multiply-add).
//
// To get there, the source is laid out as zero-padded *phase planes*: with strides (sh, sw),
// padded position (a + sh·i, b + sw·j) is element (i, j) of plane (a, b), each plane `wq`
// elements wide. A tap (ki, kj) of output (oh, ow) then reads element
// `(oh + ⌊ki·dh/sh⌋)·wq + ow + ⌊kj·dw/sw⌋` of plane (ki·dh mod sh, kj·dw mod sw): read as one long
// row, a whole output plane (rows `wq` apart, the `wq − out_w` extra columns computed and
// discarded) is a single `direct_row` with constant tap offsets. Borders need no special case
// at all: the zero padding makes every tap in bounds. The transpose is the same with the roles
// swapped: each phase (ih mod sh, iw mod sw) of the input gradient is a stride-1 correlation of
// the zero-padded planes of `r`, scattered back with strides (sh, sw).

/// One kernel tap of [`direct_row`]: weight `w[k]`, source element `o + off` for output `o`.
#[derive(Clone, Copy, Debug)]
struct Tap {
    k: usize,
    off: usize,
}

/// A contiguous source, the weights (indexed by [`Tap::k`]) and the taps that read it.
#[derive(Clone, Copy)]
struct Item<'a> {
    src: &'a [f32],
    w: &'a [f32],
    taps: &'a [Tap],
}

/// `dst[o] = init + Σ_items Σ_taps w[k] · src[o + off]` for every `o < dst.len()`. Every tap
/// must be in bounds for every output (guaranteed by the zero-padded layouts; a violation
/// panics, checked once per row, never reads out of bounds).
fn direct_row(dst: &mut [f32], init: f32, items: &[Item]) {
    let n = dst.len();
    // Once per row, so that the blocks below may read without a check per tap.
    for it in items {
        for t in it.taps {
            assert!(t.k < it.w.len() && t.off + n <= it.src.len(), "direct_row: tap {t:?} out of bounds");
        }
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2.
        return unsafe { direct_row_avx2(dst, init, items) };
    }
    row_blocks(dst, init, items);
}

/// [`direct_row`] compiled for AVX2, natively on x86-64 CPUs that have it (checked at run time):
/// blocks of 32 outputs, four 8-lane accumulators, so that four additions are in flight across
/// each tap's chain instead of the baseline's four 4-lane ones on blocks of 16 (the additions'
/// latency, not the loads, bounds the loop). The multiply and the add stay separate (Rust does
/// not fuse them), each output's sum runs over the same taps in the same order: the values are
/// the baseline's bit for bit. `rlrp eval` of one photo with R-LRP and the gradient (501 perturbed
/// passes, one thread): 10.03 / 10.12 / 10.52 → 9.58 / 9.29 / 9.79 s; `direct_row` went from 18 %
/// to 11 % of its time (perf).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn direct_row_avx2(dst: &mut [f32], init: f32, items: &[Item]) {
    if dst.len() >= 32 {
        blocks::<32>(dst, init, items);
    } else {
        row_blocks(dst, init, items);
    }
}

/// [`direct_row`] after its checks: blocks of 32 (in wasm), 16, 8 or 4 outputs, one by one below 4.
#[inline(always)]
fn row_blocks(dst: &mut [f32], init: f32, items: &[Item]) {
    let n = dst.len();
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if n >= 32 {
        return blocks::<32>(dst, init, items);
    }
    if n >= 16 {
        blocks::<16>(dst, init, items);
    } else if n >= 8 {
        blocks::<8>(dst, init, items);
    } else if n >= 4 {
        blocks::<4>(dst, init, items);
    } else {
        for (o, d) in dst.iter_mut().enumerate() {
            let mut acc = init;
            for it in items {
                for t in it.taps {
                    acc += it.w[t.k] * it.src[o + t.off];
                }
            }
            *d = acc;
        }
    }
}

/// Covers `dst` (`len ≥ B`) with blocks of `B` outputs; the last block is shifted back to end
/// at `dst.len()`, overlapping its predecessor (recomputing identical values).
#[inline(always)]
fn blocks<const B: usize>(dst: &mut [f32], init: f32, items: &[Item]) {
    let n = dst.len();
    let mut o = 0;
    loop {
        let o0 = o.min(n - B);
        block::<B>(&mut dst[o0..o0 + B], init, items, o0);
        if o0 + B >= n {
            break;
        }
        o += B;
    }
}

/// `dst[j] = init + Σ_items Σ_taps w[k] · src[o0 + j + off]` for `j < B`. The accumulators stay
/// in registers across the taps (auto-vectorised).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn block<const B: usize>(dst: &mut [f32], init: f32, items: &[Item], o0: usize) {
    let mut acc = [0f32; B];
    for it in items {
        for t in it.taps {
            let wv = it.w[t.k];
            let xs = &it.src[o0 + t.off..o0 + t.off + B];
            for (av, &xv) in acc.iter_mut().zip(xs) {
                *av += wv * xv;
            }
        }
    }
    for (d, av) in dst[..B].iter_mut().zip(acc) {
        *d = init + av;
    }
}

/// wasm `simd128` version of [`block`]: `B / 4` explicit `f32x4` accumulators, up to eight (with
/// the splatted weight and a load, 10 of x86-64's 16 vector registers). Blocks of 32 outputs keep
/// eight additions in flight across each tap's chain, where 16 kept four: the page's forward pass
/// 59.6–60.3 → 54.7–56.7 ms, pixel flipping 4.20–4.29 → 4.06–4.07 s (`bench.mjs`,
/// `bench-flipping.mjs`, alternating builds).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn block<const B: usize>(dst: &mut [f32], init: f32, items: &[Item], o0: usize) {
    use super::elementwise::simd::store;
    use core::arch::wasm32::*;
    let nv = B / 4;
    let mut acc = [f32x4_splat(0.0); 8];
    for it in items {
        let (src, w) = (it.src.as_ptr(), it.w.as_ptr());
        for t in it.taps {
            // SAFETY: `direct_row` checked `t.k < w.len()` and `t.off + dst.len() ≤ src.len()` for
            // every tap, and `blocks` keeps `o0 + B ≤ dst.len()`; wasm loads need no alignment.
            let (wv, xs) = unsafe { (f32x4_splat(*w.add(t.k)), src.add(o0 + t.off) as *const v128) };
            for (v, av) in acc.iter_mut().enumerate().take(nv) {
                *av = f32x4_add(*av, f32x4_mul(wv, unsafe { core::ptr::read_unaligned(xs.add(v)) }));
            }
        }
    }
    let iv = f32x4_splat(init);
    for (v, av) in acc.iter().enumerate().take(nv) {
        store(dst, 4 * v, f32x4_add(iv, *av));
    }
}

/// Empties a vector of items and returns it with a fresh lifetime, reusing its allocation
/// (the in-place `collect` of an empty iterator into a same-layout type keeps the buffer).
fn recycle<'b>(mut v: Vec<Item<'_>>) -> Vec<Item<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

/// Direct forward for one input channel per group (depthwise, any channel multiplier): output
/// channel `co` reads input channel `co / (out_channels / groups)`. The input channel is laid
/// out once as zero-padded phase planes (see the section comment); each output plane is then one
/// [`direct_row`] over those planes, copied out row by row (through `clamp`, if any).
fn direct_forward(g: &Conv2dGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>, clamp: Option<Clamp>, y: &mut [f32]) {
    let (sh, sw, dh, dw) = (g.stride_h, g.stride_w, g.dilation_h, g.dilation_w);
    let (kh, kw, ih, iw, oh, ow) = (g.kernel_h, g.kernel_w, g.in_h, g.in_w, g.out_h, g.out_w);
    let (pt, pl) = (g.pad_top, g.pad_left);
    let cog = g.out_per_group();
    // Phase planes: hq × wq, large enough for the image and for every tap of every output.
    let hq = (pt + ih).div_ceil(sh).max(oh + (kh - 1) * dh / sh);
    let wq = (pl + iw).div_ceil(sw).max(ow + (kw - 1) * dw / sw);
    let plane_len = hq * wq;
    let mut phase_taps: Vec<Vec<Tap>> = vec![Vec::new(); sh * sw];
    for ki in 0..kh {
        for kj in 0..kw {
            let (a, b) = (ki * dh % sh, kj * dw % sw);
            let off = (ki * dh / sh) * wq + kj * dw / sw;
            phase_taps[a * sw + b].push(Tap { k: ki * kw + kj, off });
        }
    }
    // Only the phases some tap reads get a plane: slot[a·sw + b] = its index.
    let used: Vec<usize> = (0..sh * sw).filter(|&p| !phase_taps[p].is_empty()).collect();
    let mut slot = vec![usize::MAX; sh * sw];
    for (u, &p) in used.iter().enumerate() {
        slot[p] = u;
    }
    let mut planes = vec![0f32; used.len() * plane_len];
    let mut row_buf = vec![0f32; if sw > 1 { wq * sw } else { 0 }];
    let n = (oh - 1) * wq + ow;
    let mut wide = vec![0f32; n];
    let mut items: Vec<Item> = Vec::with_capacity(used.len());
    let hw = ih * iw;
    for (co, yc) in y.chunks_exact_mut(oh * ow).enumerate() {
        if co % cog == 0 {
            // `items` borrows the previous channel's planes: empty it, keeping its buffer.
            items = recycle(items);
            let xc = &x[(co / cog) * hw..][..hw];
            for (r, xrow) in xc.chunks_exact(iw).enumerate() {
                let (a, i) = ((r + pt) % sh, (r + pt) / sh);
                if sw == 1 {
                    if slot[a] != usize::MAX {
                        planes[slot[a] * plane_len + i * wq + pl..][..iw].copy_from_slice(xrow);
                    }
                    continue;
                }
                // Zero-padded row (its padding is never overwritten), then split into phases.
                row_buf[pl..pl + iw].copy_from_slice(xrow);
                for b in 0..sw {
                    let u = slot[a * sw + b];
                    if u != usize::MAX {
                        take_phase(&row_buf, sw, b, &mut planes[u * plane_len + i * wq..][..wq]);
                    }
                }
            }
        }
        items.clear();
        let wc = &w[co * kh * kw..][..kh * kw];
        for (u, &p) in used.iter().enumerate() {
            items.push(Item { src: &planes[u * plane_len..][..plane_len], w: wc, taps: &phase_taps[p] });
        }
        direct_row(&mut wide, bias.map_or(0.0, |b| b[co]), &items);
        for (r, yrow) in yc.chunks_exact_mut(ow).enumerate() {
            copy_clamped(&wide[r * wq..][..ow], clamp, yrow);
        }
    }
}

/// One phase of a strided row: `dst[j] = src[j·stride + phase]` for every `j < dst.len()` (`src`
/// holds at least `dst.len() · stride` values). Stride 2, most strided convolutions, takes four
/// values a step ([`take_phase_of_two`]).
fn take_phase(src: &[f32], stride: usize, phase: usize, dst: &mut [f32]) {
    assert!(phase < stride && dst.len() * stride <= src.len(), "take_phase: {stride}·{} > {}", dst.len(), src.len());
    if stride == 2 {
        take_phase_of_two(src, phase, dst);
    } else {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(stride)) {
            *d = c[phase];
        }
    }
}

/// [`take_phase`] at stride 2 (auto-vectorised natively).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn take_phase_of_two(src: &[f32], phase: usize, dst: &mut [f32]) {
    for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
        *d = c[phase];
    }
}

/// [`take_phase`] at stride 2 with `simd128` shuffles: each four outputs are the even or the odd
/// lanes of two loads of four.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn take_phase_of_two(src: &[f32], phase: usize, dst: &mut [f32]) {
    use super::elementwise::simd::{load, store};
    use core::arch::wasm32::*;
    let whole = dst.len() / 4 * 4;
    for j in (0..whole).step_by(4) {
        let (lo, hi) = (load(src, 2 * j), load(src, 2 * j + 4));
        let v = if phase == 0 { i32x4_shuffle::<0, 2, 4, 6>(lo, hi) } else { i32x4_shuffle::<1, 3, 5, 7>(lo, hi) };
        store(dst, j, v);
    }
    for (d, c) in dst[whole..].iter_mut().zip(src[2 * whole..].chunks_exact(2)) {
        *d = c[phase];
    }
}

/// The inverse of [`take_phase`] at stride 2: `dst[2j] = even[j]`, `dst[2j + 1] = odd[j]` (`even`
/// holds at least ⌈len/2⌉ values, `odd` ⌊len/2⌋).
fn interleave_two(even: &[f32], odd: &[f32], dst: &mut [f32]) {
    let pairs = dst.len() / 2;
    assert!(even.len() >= dst.len() - pairs && odd.len() >= pairs, "interleave_two: short phases");
    let done = interleave_two_simd(&even[..pairs], &odd[..pairs], dst);
    for j in done..pairs {
        dst[2 * j] = even[j];
        dst[2 * j + 1] = odd[j];
    }
    if dst.len() % 2 == 1 {
        dst[2 * pairs] = even[pairs];
    }
}

/// The first pairs of [`interleave_two`], four a step with `simd128` shuffles; how many it did.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn interleave_two_simd(even: &[f32], odd: &[f32], dst: &mut [f32]) -> usize {
    use super::elementwise::simd::{load, store};
    use core::arch::wasm32::*;
    let whole = even.len() / 4 * 4;
    for j in (0..whole).step_by(4) {
        let (e, o) = (load(even, j), load(odd, j));
        store(dst, 2 * j, i32x4_shuffle::<0, 4, 1, 5>(e, o));
        store(dst, 2 * j + 4, i32x4_shuffle::<2, 6, 3, 7>(e, o));
    }
    whole
}

/// Natively none: [`interleave_two`]'s loop is auto-vectorised.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn interleave_two_simd(_even: &[f32], _odd: &[f32], _dst: &mut [f32]) -> usize {
    0
}

/// Direct transpose (adjoint of [`direct_forward`]), computed as a gather so that every input
/// position is written exactly once: `out[ci, ih, iw] = Σ w[co, ki, kj] · r[co, oh, ow]` over the
/// channels `co` of the group and the taps with `oh·sh + ki·dh − pad_top = ih` and
/// `ow·sw + kj·dw − pad_left = iw`. Input phase (a, b) (`ih = a + sh·i`, `iw = b + sw·j`) only
/// receives the taps with `sh | a + pad_top − ki·dh` and `sw | b + pad_left − kj·dw`, from
/// `r[i + c_ki, j + c_kj]` (`c = (a + pad_top − ki·dh) / sh`, likewise for columns): a stride-1
/// correlation, computed as one [`direct_row`] over the zero-padded planes of `r` of the group's
/// output channels, then scattered into `out` with strides (sh, sw). Several terms `(r_k, w_k)`:
/// the planes of every `r_k`, each with its weights, in the same [`direct_row`].
fn direct_transpose(g: &Conv2dGeometry, terms: &[(&[f32], &[f32])], out: &mut [f32]) {
    let (sh, sw, dh, dw) = (g.stride_h, g.stride_w, g.dilation_h, g.dilation_w);
    let (kh, kw, ih, iw, oh, ow) = (g.kernel_h, g.kernel_w, g.in_h, g.in_w, g.out_h, g.out_w);
    let cog = g.out_per_group();
    // Per input phase along one axis: its length and its taps (k, c) with source index i + c.
    let axis = |n: usize, s: usize, pad: usize, k: usize, d: usize| -> Vec<(usize, Vec<(usize, isize)>)> {
        (0..s.min(n))
            .map(|a| {
                let taps = (0..k)
                    .filter_map(|t| {
                        let v = (a + pad) as isize - (t * d) as isize;
                        (v.rem_euclid(s as isize) == 0).then_some((t, v.div_euclid(s as isize)))
                    })
                    .collect();
                ((n - a).div_ceil(s), taps)
            })
            .collect()
    };
    let rows = axis(ih, sh, g.pad_top, kh, dh);
    let cols = axis(iw, sw, g.pad_left, kw, dw);
    // r planes: r at (top, left) inside hr × wr zeros, so that every read index is >= 0 and
    // every read of a valid output stays inside its plane row.
    let min_c = |ax: &[(usize, Vec<(usize, isize)>)]| ax.iter().flat_map(|(_, t)| t.iter().map(|&(_, c)| c)).min();
    let max_end = |ax: &[(usize, Vec<(usize, isize)>)]| {
        ax.iter().flat_map(|(len, t)| t.iter().map(move |&(_, c)| c + *len as isize)).max().unwrap_or(0)
    };
    let top = (-min_c(&rows).unwrap_or(0)).max(0) as usize;
    let left = (-min_c(&cols).unwrap_or(0)).max(0) as usize;
    let hr = (top + oh).max((max_end(&rows) + top as isize) as usize);
    let wr = (left + ow).max((max_end(&cols) + left as isize) as usize);
    let plane_len = hr * wr;
    // Taps and output length of every input phase (a, b), as phases[a][b].
    let phases: Vec<Vec<(Vec<Tap>, usize)>> = rows
        .iter()
        .map(|(hq, rt)| {
            cols.iter()
                .map(|(wq, ct)| {
                    let taps = rt
                        .iter()
                        .flat_map(|&(ki, ci)| {
                            ct.iter().map(move |&(kj, cj)| Tap {
                                k: ki * kw + kj,
                                off: ((ci + top as isize) as usize) * wr + (cj + left as isize) as usize,
                            })
                        })
                        .collect();
                    (taps, (hq - 1) * wr + wq)
                })
                .collect()
        })
        .collect();
    let max_n = phases.iter().flatten().map(|p| p.1).max().unwrap_or(0);
    let mut planes = vec![0f32; terms.len() * cog * plane_len];
    // One wide output per column phase b (rows wr apart), interleaved into `out` together.
    let mut wides = vec![0f32; cols.len() * max_n];
    let mut items: Vec<Item> = Vec::with_capacity(terms.len() * cog);
    let p = oh * ow;
    for (ci, oc) in out.chunks_exact_mut(ih * iw).enumerate() {
        // `items` borrows the previous group's planes: empty it, keeping its buffer.
        items = recycle(items);
        // plane k·cog + c: term k's output channel c of the group
        for (kc, plane) in planes.chunks_exact_mut(plane_len).enumerate() {
            let (r, c) = (terms[kc / cog].0, kc % cog);
            for (rr, rrow) in r[(ci * cog + c) * p..][..p].chunks_exact(ow).enumerate() {
                plane[(top + rr) * wr + left..][..ow].copy_from_slice(rrow);
            }
        }
        for (a, row_phases) in phases.iter().enumerate() {
            for ((taps, n), wide) in row_phases.iter().zip(wides.chunks_exact_mut(max_n)) {
                items.clear();
                if !taps.is_empty() {
                    for (kc, plane) in planes.chunks_exact(plane_len).enumerate() {
                        let (w, c) = (terms[kc / cog].1, kc % cog);
                        items.push(Item { src: plane, w: &w[(ci * cog + c) * kh * kw..][..kh * kw], taps });
                    }
                }
                direct_row(&mut wide[..*n], 0.0, &items);
            }
            // Rows a + sh·i of out: out[a + sh·i, b + sw·j] = wides[b][i·wr + j].
            for (i, orow) in oc.chunks_exact_mut(iw).skip(a).step_by(sh).enumerate() {
                let at = i * wr;
                match sw {
                    1 => orow.copy_from_slice(&wides[at..at + iw]),
                    2 if iw >= 2 => interleave_two(&wides[at..], &wides[max_n + at..], orow),
                    _ => {
                        for (j, c) in orow.chunks_mut(sw).enumerate() {
                            for (b, v) in c.iter_mut().enumerate() {
                                *v = wides[b * max_n + at + j];
                            }
                        }
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

    /// Naive forward (f64) and naive transpose (f64 scatter) from the definition.
    fn reference(g: &Conv2dGeometry, x: &[f32], w: &[f32], r: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (cig, cog) = (g.in_per_group(), g.out_per_group());
        let mut y = vec![0f64; g.output_len()];
        let mut t = vec![0f64; g.input_len()];
        for co in 0..g.out_channels {
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    let o = (co * g.out_h + oh) * g.out_w + ow;
                    for cl in 0..cig {
                        let ci = co / cog * cig + cl;
                        for ki in 0..g.kernel_h {
                            for kj in 0..g.kernel_w {
                                let ih = (oh * g.stride_h + ki * g.dilation_h) as isize - g.pad_top as isize;
                                let iw = (ow * g.stride_w + kj * g.dilation_w) as isize - g.pad_left as isize;
                                if ih < 0 || iw < 0 || ih >= g.in_h as isize || iw >= g.in_w as isize {
                                    continue;
                                }
                                let i = (ci * g.in_h + ih as usize) * g.in_w + iw as usize;
                                let wv = w[((co * cig + cl) * g.kernel_h + ki) * g.kernel_w + kj] as f64;
                                y[o] += wv * x[i] as f64;
                                t[i] += wv * r[o] as f64;
                            }
                        }
                    }
                }
            }
        }
        (y, t)
    }

    fn close(a: &[f32], e: &[f64]) -> bool {
        a.len() == e.len() && a.iter().zip(e).all(|(&a, &e)| (a as f64 - e).abs() <= 1e-4 * (1.0 + e.abs()))
    }

    /// (Cin, H, W, Cout, kh, kw, stride, dilation, pads, groups).
    type Spec = (usize, usize, usize, usize, usize, usize, (usize, usize), (usize, usize), [usize; 4], usize);

    /// Every im2col chunking (several chunks, including a ragged last one) gives the same
    /// results as the definition; the direct geometries check the phase-plane layouts (strides
    /// 1/2/3, dilations, pads larger than needed, kernels wider than the input).
    #[test]
    fn tunings_are_invisible() {
        let specs: &[Spec] = &[
            (4, 11, 9, 6, 3, 2, (2, 1), (1, 2), [1, 0, 2, 1], 2),
            (4, 9, 37, 4, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 4),
            (3, 7, 8, 6, 3, 3, (2, 1), (2, 1), [0, 1, 2, 0], 3),
            (2, 12, 13, 4, 3, 2, (3, 3), (2, 2), [1, 2, 0, 1], 2),
            (3, 9, 7, 3, 5, 5, (1, 2), (1, 1), [2, 2, 2, 2], 3),
            (2, 6, 30, 4, 5, 3, (2, 3), (1, 2), [2, 4, 1, 0], 2),
            (2, 3, 2, 2, 3, 3, (1, 1), (1, 1), [1, 1, 1, 1], 2),
            (2, 4, 5, 2, 1, 3, (1, 2), (1, 1), [0, 0, 0, 0], 2),
            (2, 5, 6, 2, 3, 3, (1, 1), (1, 1), [4, 0, 1, 5], 2),
            (2, 10, 11, 6, 3, 3, (3, 3), (2, 2), [1, 2, 3, 0], 2),
            (2, 1, 9, 2, 1, 3, (2, 2), (1, 1), [0, 1, 0, 1], 2),
            (2, 6, 1, 4, 3, 1, (2, 2), (1, 1), [1, 0, 1, 0], 2),
            (3, 7, 7, 3, 1, 1, (2, 2), (1, 1), [0, 0, 0, 0], 3),
            (1, 5, 8, 3, 2, 2, (2, 3), (2, 1), [1, 1, 0, 2], 1),
            (4, 5, 6, 6, 1, 1, (1, 1), (1, 1), [0, 0, 0, 0], 2),
            (6, 5, 6, 4, 1, 1, (1, 1), (1, 1), [0, 0, 0, 0], 1),
        ];
        for (n, &(cin, h, wd, cout, kh, kw, st, dl, pads, groups)) in specs.iter().enumerate() {
            let g = Conv2dGeometry::new(cin, h, wd, cout, kh, kw, st, dl, pads, groups).unwrap();
            let seed = 10 * n as u64;
            let (x, w, r) =
                (data(g.input_len(), seed + 1), data(g.weight_len(), seed + 2), data(g.output_len(), seed + 3));
            let (ey, et) = reference(&g, &x, &w, &r);
            let tunings = [
                TUNING,
                Tuning { floats: 1, min_cols: 1 },
                Tuning { floats: 50, min_cols: 1 },
                Tuning { floats: 100, min_cols: 1 },
            ];
            for tuning in tunings {
                let mut y = vec![f32::NAN; g.output_len()];
                forward_tuned(&g, &x, &w, None, &mut y, tuning);
                assert!(close(&y, &ey), "forward {g:?} {tuning:?}");
                let mut t = vec![f32::NAN; g.input_len()];
                transpose_tuned(&g, &[(&r, &w)], &mut t, tuning);
                assert!(close(&t, &et), "transpose {g:?} {tuning:?}");
                // two terms: (r, w) and (r', w'), against the sum of their definitions
                let (r2, w2) = (data(g.output_len(), seed + 4), data(g.weight_len(), seed + 5));
                let et2 = reference(&g, &x, &w2, &r2).1;
                let mut t = vec![f32::NAN; g.input_len()];
                transpose_tuned(&g, &[(&r, &w), (&r2, &w2)], &mut t, tuning);
                let sum: Vec<f64> = et.iter().zip(&et2).map(|(a, b)| a + b).collect();
                assert!(close(&t, &sum), "transpose of two terms {g:?} {tuning:?}");
            }
            if g.in_per_group() > 1 && !g.is_pointwise() {
                assert!(chunk_rows(&g, tunings[1]) < g.out_h, "chunking exercised for {g:?}");
            }
        }
    }

    /// Every row length, whichever blocks cover it (32 with AVX2 or simd128, 16, 8, 4, one by
    /// one, the last block shifted back), gives each output the plain sum over the items' taps in
    /// order, bit for bit: through `direct_row` (AVX2's blocks where this CPU has it) and through
    /// the baseline's blocks, which CPUs without AVX2 take.
    #[test]
    fn direct_row_is_the_plain_sum_at_every_length() {
        let (a, b) = (data(140, 1), data(150, 2));
        let (wa, wb) = (data(4, 3), data(2, 4));
        let taps_a = [Tap { k: 0, off: 0 }, Tap { k: 2, off: 7 }, Tap { k: 1, off: 3 }, Tap { k: 3, off: 11 }];
        let taps_b = [Tap { k: 1, off: 40 }, Tap { k: 0, off: 5 }];
        let items = [Item { src: &a, w: &wa, taps: &taps_a }, Item { src: &b, w: &wb, taps: &taps_b }];
        type Row = fn(&mut [f32], f32, &[Item]);
        let paths: [(&str, Row); 2] = [("direct_row", direct_row), ("baseline", row_blocks)];
        for (path, row) in paths {
            for n in 1..=100 {
                let mut dst = vec![f32::NAN; n];
                row(&mut dst, 0.25, &items);
                for (o, &d) in dst.iter().enumerate() {
                    let mut acc = 0f32;
                    for it in &items {
                        for t in it.taps {
                            acc += it.w[t.k] * it.src[o + t.off];
                        }
                    }
                    assert_eq!(d.to_bits(), (0.25 + acc).to_bits(), "{path}: length {n}, output {o}");
                }
            }
        }
    }
}
