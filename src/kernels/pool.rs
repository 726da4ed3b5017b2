//! 2-D pooling (ONNX `AveragePool`, `MaxPool`, `GlobalAveragePool`, batch 1) and the transposes
//! the relevance pass needs.
//!
//! Window of output `(oh, ow)`: taps `ih = oh·stride_h − pad_top + ki·dilation_h` for
//! `ki < kernel_h` (likewise for columns). Average pooling is linear, so its transpose is exact:
//! `out[tap] += r[o] / divisor(o)`. Max pooling is linear given the arg-max pattern: its
//! vector-Jacobian product routes each `r[o]` to the input that won the window
//! ([`maxpool_route`]).

use super::conv::conv_out_dim;
use super::valid_range;

/// Shape of a batch-1 2-D pooling. Construct with [`Pool2dGeometry::new`].
#[derive(Clone, Debug, PartialEq)]
pub struct Pool2dGeometry {
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
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
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub out_h: usize,
    pub out_w: usize,
}

/// Output size along one axis with ONNX/PyTorch semantics: `floor` (or `ceil` with
/// `ceil_mode`) of `(in + pads − dilation·(k−1) − 1) / stride`, plus one; in ceil mode a last
/// window that would start inside the end padding (or beyond) is dropped.
#[allow(clippy::too_many_arguments)]
fn pool_out_dim(
    what: &str,
    input: usize,
    pad_a: usize,
    pad_b: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Result<usize, String> {
    let floor = conv_out_dim(what, input, pad_a, pad_b, kernel, stride, dilation)?;
    if !ceil_mode {
        return Ok(floor);
    }
    let span = input + pad_a + pad_b - (dilation * (kernel - 1) + 1);
    let mut out = span.div_ceil(stride) + 1;
    if (out - 1) * stride >= input + pad_a {
        out -= 1;
    }
    Ok(out)
}

impl Pool2dGeometry {
    /// Validates a pooling and computes its output size (see the module docs).
    ///
    /// `kernel`, `stride`, `dilation` are `(h, w)`; `pads` is `[top, left, bottom, right]`.
    /// With `ceil_mode` the output size rounds up, and a window that would start in the
    /// bottom/right padding is dropped (as ONNX and PyTorch do). Errors if any size, kernel,
    /// stride or dilation is zero, or if the output would be empty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        channels: usize,
        in_h: usize,
        in_w: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
        pads: [usize; 4],
        ceil_mode: bool,
        count_include_pad: bool,
    ) -> Result<Self, String> {
        let dims = [
            ("channels", channels),
            ("in_h", in_h),
            ("in_w", in_w),
            ("kernel_h", kernel.0),
            ("kernel_w", kernel.1),
            ("stride_h", stride.0),
            ("stride_w", stride.1),
            ("dilation_h", dilation.0),
            ("dilation_w", dilation.1),
        ];
        for (name, v) in dims {
            if v == 0 {
                return Err(format!("Pool2d: {name} must be non-zero"));
            }
        }
        let [pad_top, pad_left, pad_bottom, pad_right] = pads;
        let out_h =
            pool_out_dim("Pool2d height", in_h, pad_top, pad_bottom, kernel.0, stride.0, dilation.0, ceil_mode)?;
        let out_w = pool_out_dim("Pool2d width", in_w, pad_left, pad_right, kernel.1, stride.1, dilation.1, ceil_mode)?;
        Ok(Self {
            channels,
            in_h,
            in_w,
            kernel_h: kernel.0,
            kernel_w: kernel.1,
            stride_h: stride.0,
            stride_w: stride.1,
            dilation_h: dilation.0,
            dilation_w: dilation.1,
            pad_top,
            pad_left,
            pad_bottom,
            pad_right,
            ceil_mode,
            count_include_pad,
            out_h,
            out_w,
        })
    }

    /// `channels · in_h · in_w`.
    pub fn input_len(&self) -> usize {
        self.channels * self.in_h * self.in_w
    }

    /// `channels · out_h · out_w`.
    pub fn output_len(&self) -> usize {
        self.channels * self.out_h * self.out_w
    }

    /// Window taps of every output row (`vertical`) or column: in-bounds tap range and the
    /// number of taps counted by the average-pool divisor.
    fn axis_windows(&self, vertical: bool) -> Vec<Window> {
        let g = self;
        let (n, len, k, s, d, pa, pb) = if vertical {
            (g.out_h, g.in_h, g.kernel_h, g.stride_h, g.dilation_h, g.pad_top, g.pad_bottom)
        } else {
            (g.out_w, g.in_w, g.kernel_w, g.stride_w, g.dilation_w, g.pad_left, g.pad_right)
        };
        (0..n)
            .map(|o| {
                let start = (o * s) as isize - pa as isize;
                // Taps k' with 0 <= start + k'·d < len: outputs of valid_range with step d.
                let (lo, hi) = valid_range(k, d, start, len);
                let counted = if self.count_include_pad {
                    // Taps inside the explicitly padded extent [-pa, len + pb): positions added
                    // only by ceil_mode are never counted.
                    let (plo, phi) = valid_range(k, d, start + pa as isize, len + pa + pb);
                    phi - plo
                } else {
                    hi - lo
                };
                Window {
                    lo,
                    hi,
                    first: if lo < hi { (start + (lo * d) as isize) as usize } else { 0 },
                    step: d,
                    counted,
                }
            })
            .collect()
    }

    fn check(&self, what: &str, x_len: usize, y_len: usize) {
        assert_eq!(x_len, self.input_len(), "{what}: input length");
        assert_eq!(y_len, self.output_len(), "{what}: output length");
    }
}

/// One axis of one pooling window: taps `lo..hi` are in bounds, tap `lo` is input position
/// `first`, consecutive taps are `step` apart; `counted` taps enter the average divisor.
#[derive(Clone, Copy, Debug)]
struct Window {
    lo: usize,
    hi: usize,
    first: usize,
    step: usize,
    counted: usize,
}

impl Window {
    /// Input positions of the in-bounds taps, in window order.
    #[inline]
    fn positions(&self) -> impl Iterator<Item = usize> {
        let (first, step) = (self.first, self.step);
        (0..self.hi - self.lo).map(move |t| first + t * step)
    }
}

/// Average-pool reciprocal divisor of a window pair (zero for an empty window, whose output is
/// then zero).
#[inline]
fn inv_divisor(wh: &Window, ww: &Window) -> f32 {
    let count = wh.counted * ww.counted;
    if count == 0 {
        0.0
    } else {
        1.0 / count as f32
    }
}

/// Average pooling forward (ONNX `AveragePool`): `y[c, o] = Σ_{in-bounds taps} x / divisor`,
/// where the divisor is the number of window taps inside the explicitly padded input if
/// `count_include_pad` (the kernel area, except for windows clipped by `ceil_mode`), otherwise
/// the number of in-bounds (non-pad) taps. `x`: `[C, in_h, in_w]`, `y`: `[C, out_h, out_w]`
/// (overwritten).
pub fn avgpool_forward(g: &Pool2dGeometry, x: &[f32], y: &mut [f32]) {
    g.check("avgpool_forward", x.len(), y.len());
    let (rows, cols) = (g.axis_windows(true), g.axis_windows(false));
    let (hw, iw, p) = (g.in_h * g.in_w, g.in_w, g.out_h * g.out_w);
    for (xc, yc) in x.chunks_exact(hw).zip(y.chunks_exact_mut(p)) {
        for (wh, yrow) in rows.iter().zip(yc.chunks_exact_mut(g.out_w)) {
            for (ww, yv) in cols.iter().zip(yrow.iter_mut()) {
                let mut acc = 0f32;
                for ih in wh.positions() {
                    let xrow = &xc[ih * iw..][..iw];
                    for iwp in ww.positions() {
                        acc += xrow[iwp];
                    }
                }
                *yv = acc * inv_divisor(wh, ww);
            }
        }
    }
}

/// Exact transpose of [`avgpool_forward`]: `out[c, tap] = Σ_{windows o containing tap}
/// r[c, o] / divisor(o)` (pad taps dropped). `r`: `[C, out_h, out_w]`, `out`: `[C, in_h, in_w]`
/// (overwritten).
pub fn avgpool_transpose(g: &Pool2dGeometry, r: &[f32], out: &mut [f32]) {
    g.check("avgpool_transpose", out.len(), r.len());
    let (rows, cols) = (g.axis_windows(true), g.axis_windows(false));
    let (hw, iw, p) = (g.in_h * g.in_w, g.in_w, g.out_h * g.out_w);
    out.fill(0.0);
    for (oc, rc) in out.chunks_exact_mut(hw).zip(r.chunks_exact(p)) {
        for (wh, rrow) in rows.iter().zip(rc.chunks_exact(g.out_w)) {
            for (ww, &rv) in cols.iter().zip(rrow) {
                let v = rv * inv_divisor(wh, ww);
                for ih in wh.positions() {
                    let orow = &mut oc[ih * iw..][..iw];
                    for iwp in ww.positions() {
                        orow[iwp] += v;
                    }
                }
            }
        }
    }
}

/// Sentinel arg-max of a window with no in-bounds tap (possible only with dilation or with
/// padding at least as large as the kernel); its output is `-inf` and
/// [`maxpool_route`] ignores it.
pub const NO_ARGMAX: u32 = u32::MAX;

/// Max pooling forward (ONNX `MaxPool`): `y[c, o] = max` over the window's in-bounds taps (pad
/// taps count as `-inf`), and `argmax[c, o]` = flat index into `[C, in_h, in_w]` of the FIRST
/// maximum in row-major window order. `y`, `argmax`: `[C, out_h, out_w]` (overwritten).
/// A window without any in-bounds tap yields `-inf` and [`NO_ARGMAX`].
pub fn maxpool_forward(g: &Pool2dGeometry, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    g.check("maxpool_forward", x.len(), y.len());
    assert_eq!(argmax.len(), y.len(), "maxpool_forward: argmax length");
    assert!(x.len() <= u32::MAX as usize, "maxpool_forward: input too large for u32 indices");
    let (rows, cols) = (g.axis_windows(true), g.axis_windows(false));
    let (hw, iw, p) = (g.in_h * g.in_w, g.in_w, g.out_h * g.out_w);
    for (c, ((xc, yc), ac)) in x.chunks_exact(hw).zip(y.chunks_exact_mut(p)).zip(argmax.chunks_exact_mut(p)).enumerate()
    {
        let base = c * hw;
        for (wh, (yrow, arow)) in rows.iter().zip(yc.chunks_exact_mut(g.out_w).zip(ac.chunks_exact_mut(g.out_w))) {
            for (ww, (yv, av)) in cols.iter().zip(yrow.iter_mut().zip(arow.iter_mut())) {
                let mut best = f32::NEG_INFINITY;
                let mut best_at = NO_ARGMAX;
                for ih in wh.positions() {
                    let xrow = &xc[ih * iw..][..iw];
                    for iwp in ww.positions() {
                        let v = xrow[iwp];
                        // Strict comparison keeps the first maximum on ties.
                        if best_at == NO_ARGMAX || v > best {
                            best = v;
                            best_at = (base + ih * iw + iwp) as u32;
                        }
                    }
                }
                *yv = best;
                *av = best_at;
            }
        }
    }
}

/// Transpose of max pooling at a fixed arg-max pattern (its vector-Jacobian product):
/// `out[i] = Σ_{o : argmax[o] = i} r[o]`, so overlapping windows that share a winner
/// accumulate. `out` has length `input_len` and is overwritten; arg-max entries outside
/// `0..input_len` (such as [`NO_ARGMAX`]) are ignored.
pub fn maxpool_route(input_len: usize, r: &[f32], argmax: &[u32], out: &mut [f32]) {
    assert_eq!(out.len(), input_len, "maxpool_route: output length");
    assert_eq!(r.len(), argmax.len(), "maxpool_route: argmax length");
    out.fill(0.0);
    for (&rv, &i) in r.iter().zip(argmax) {
        if let Some(o) = out.get_mut(i as usize) {
            *o += rv;
        }
    }
}

/// Global average pooling: `y[c] = (1/hw) Σ_{p<hw} x[c, p]` (summed in `f64`). `x`: `[C, hw]`,
/// `y`: `[C]` (overwritten).
pub fn global_avgpool_forward(channels: usize, hw: usize, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), channels * hw, "global_avgpool_forward: input length");
    assert_eq!(y.len(), channels, "global_avgpool_forward: output length");
    if hw == 0 {
        y.fill(0.0);
        return;
    }
    for (yv, xc) in y.iter_mut().zip(x.chunks_exact(hw)) {
        *yv = (super::elementwise::sum(xc) / hw as f64) as f32;
    }
}

/// Exact transpose of [`global_avgpool_forward`]: `out[c, p] = r[c] / hw`. `r`: `[C]`,
/// `out`: `[C, hw]` (overwritten).
pub fn global_avgpool_transpose(channels: usize, hw: usize, r: &[f32], out: &mut [f32]) {
    assert_eq!(r.len(), channels, "global_avgpool_transpose: relevance length");
    assert_eq!(out.len(), channels * hw, "global_avgpool_transpose: output length");
    if hw == 0 {
        return;
    }
    let inv = 1.0 / hw as f64;
    for (&rv, oc) in r.iter().zip(out.chunks_exact_mut(hw)) {
        oc.fill((rv as f64 * inv) as f32);
    }
}
