//! Dense (fully connected / `Gemm` / `MatMul`) layer and its exact transpose.
//!
//! Layout: `x` is `[rows, k]`, `w` is `[k, n]` (row-major, i.e. already the `B` operand of
//! `y = x·w`), `y` and `r` are `[rows, n]`. Both directions are one [`gemm`] call; the transpose
//! reads `w` through swapped strides (no copy).

use super::gemm::{beta_of_term, gemm};

/// `y[rows, n] = x[rows, k] · w[k, n] + bias[n]` (bias broadcast over rows; `y` overwritten).
/// Panics if a slice length does not match the dimensions.
pub fn dense_forward(rows: usize, k: usize, n: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    assert_eq!(x.len(), rows * k, "dense_forward: input length");
    assert_eq!(w.len(), k * n, "dense_forward: weight length");
    assert_eq!(y.len(), rows * n, "dense_forward: output length");
    let beta = match bias {
        Some(b) => {
            assert_eq!(b.len(), n, "dense_forward: bias length");
            if n > 0 {
                for row in y.chunks_exact_mut(n) {
                    row.copy_from_slice(b);
                }
            }
            1.0
        }
        None => 0.0,
    };
    gemm(rows, k, n, x, (k, 1), w, (n, 1), beta, y, (n, 1));
}

/// `out[rows, k] = r[rows, n] · wᵀ[n, k]`: the exact vector-Jacobian product of
/// [`dense_forward`] with respect to `x` (bias excluded), the transpose kernel `Wᵀ R` of
/// `RLRP.md`. `out` is overwritten. Panics if a slice length does not match the dimensions.
pub fn dense_transpose(rows: usize, k: usize, n: usize, r: &[f32], w: &[f32], out: &mut [f32]) {
    dense_transpose_sum(rows, k, n, &[(r, w)], out);
}

/// `out = Σ_t r_t · w_tᵀ` over terms `(r_t, w_t)`: [`dense_transpose`] of each, accumulated into
/// `out` by the matrix product itself (β = 1 after the first). No terms: `out` is zeroed.
pub fn dense_transpose_sum(rows: usize, k: usize, n: usize, terms: &[(&[f32], &[f32])], out: &mut [f32]) {
    assert_eq!(out.len(), rows * k, "dense_transpose: output length");
    if terms.is_empty() {
        out.fill(0.0);
    }
    for (t, (r, w)) in terms.iter().enumerate() {
        assert_eq!(r.len(), rows * n, "dense_transpose: relevance length");
        assert_eq!(w.len(), k * n, "dense_transpose: weight length");
        // B = wᵀ is n×k with element (i, j) = w[j·n + i]: strides (1, n).
        gemm(rows, n, k, r, (n, 1), w, (1, n), beta_of_term(t), out, (k, 1));
    }
}

/// `c_b = op(a_b) · op(b_b)` for every batch `b`, with `op(a_b)` of logical shape `[m, k]` and
/// `op(b_b)` of `[k, n]`; `a_t`/`b_t` say the operand is stored transposed (`[k, m]` / `[n, k]`).
/// `c` is `[batch, m, n]`, overwritten. Attention mixing and its transpose, and the gradient of a
/// product of two computed matrices, are all this one call. Panics on mismatched lengths.
#[allow(clippy::too_many_arguments)]
pub fn batched_matmul(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    c: &mut [f32],
) {
    assert_eq!(a.len(), batch * m * k, "batched_matmul: left length");
    assert_eq!(b.len(), batch * k * n, "batched_matmul: right length");
    assert_eq!(c.len(), batch * m * n, "batched_matmul: output length");
    let sa = if a_t { (1, m) } else { (k, 1) };
    let sb = if b_t { (1, k) } else { (n, 1) };
    for i in 0..batch {
        let (ab, bb) = (&a[i * m * k..(i + 1) * m * k], &b[i * k * n..(i + 1) * k * n]);
        let cb = &mut c[i * m * n..(i + 1) * m * n];
        gemm(m, k, n, ab, sa, bb, sb, 0.0, cb, (n, 1));
    }
}
