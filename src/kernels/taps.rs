//! The taps of one output of a convolution or a dense layer: every (input, weight) pair whose
//! product the output sums, `y[j] = b + Σ_taps w[weight] · x[input]`. The relevance rules that
//! need a few outputs exactly, term by term (αβ's lopsided outputs, RLRP.md "Notation" for the
//! layer maps), walk these instead of a whole matrix product.
use super::conv::Conv2dGeometry;

/// Calls `f(input_index, weight_index)` for every tap of output `j` (flat, `[out_channels, out_h,
/// out_w]`) of a convolution; taps in the padding are skipped. Panics if `j` is out of range.
pub fn conv_taps(g: &Conv2dGeometry, j: usize, mut f: impl FnMut(usize, usize)) {
    assert!(j < g.output_len(), "conv_taps: output {j} of {}", g.output_len());
    let plane = g.out_h * g.out_w;
    let (co, oh, ow) = (j / plane, (j % plane) / g.out_w, j % g.out_w);
    let in_per_group = g.in_channels / g.groups;
    let group = co / (g.out_channels / g.groups);
    for local in 0..in_per_group {
        let ci = group * in_per_group + local;
        for ki in 0..g.kernel_h {
            let ih = (oh * g.stride_h + ki * g.dilation_h) as isize - g.pad_top as isize;
            if ih < 0 || ih as usize >= g.in_h {
                continue;
            }
            let row = (ci * g.in_h + ih as usize) * g.in_w;
            let w_row = ((co * in_per_group + local) * g.kernel_h + ki) * g.kernel_w;
            for kj in 0..g.kernel_w {
                let iw = (ow * g.stride_w + kj * g.dilation_w) as isize - g.pad_left as isize;
                if iw >= 0 && (iw as usize) < g.in_w {
                    f(row + iw as usize, w_row + kj);
                }
            }
        }
    }
}

/// Calls `f(input_index, weight_index)` for every tap of output `j` (flat, `[rows, n]`) of a dense
/// layer `y = x·w` with `x` `[rows, k]` and `w` `[k, n]`. Panics if `j` is out of range.
pub fn dense_taps(rows: usize, k: usize, n: usize, j: usize, mut f: impl FnMut(usize, usize)) {
    assert!(j < rows * n, "dense_taps: output {j} of {}", rows * n);
    let (row, col) = (j / n, j % n);
    for i in 0..k {
        f(row * k + i, i * n + col);
    }
}
