//! The general matrix product every relevance kernel ends in: `C[m,n] ← A[m,k]·B[k,n] + β·C`, each
//! operand read through (row, column) strides, so transposes cost no copy (`RLRP.md`, "Transpose
//! kernels": `Wᵀ R` is this product with W's strides swapped), through `matrixmultiply::sgemm`
//! (AVX/FMA and NEON kernels natively; on wasm32 with `simd128` its 8×8 `f32x4` kernel,
//! `KernelWasmSimd` in matrixmultiply 0.3.11, built at opt-level 3: Cargo.toml's `web` profile),
//! except in the browser where our 1×1 convolution's blocks are faster (`ours_is_faster`). A
//! packed 4×8 `f32x4` kernel of our own was tried for wasm32 and not kept: in the page it was not
//! measurably faster, and in a Chromium micro-benchmark it lost on the thin products (16×96 ·
//! 96×12544: 30 ms against 11 ms).

/// How many elements `(rows, cols)` addressed through strides `(rs, cs)` reach.
fn reach(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// `C[m,n] ← A[m,k]·B[k,n] + beta·C` (`beta = 0`: C is overwritten, never read). Panics when a slice
/// is shorter than its strides reach. C's strides must not make two (row, column) pairs meet (every
/// caller's C is a plain row- or column-major block).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    beta: f32,
    c: &mut [f32],
    (rsc, csc): (usize, usize),
) {
    assert!(a.len() >= reach(m, k, rsa, csa), "gemm: A too short");
    assert!(b.len() >= reach(k, n, rsb, csb), "gemm: B too short");
    assert!(c.len() >= reach(m, n, rsc, csc), "gemm: C too short");
    // One row of C (a layer's input relevance through a Dense layer: 1 × 1000 · 1000 × 1280), or
    // one column (a 1×1 convolution of a 1×1 map, as in squeeze-excitation), transposed into a row:
    // matrixmultiply would copy all of the other operand into its packed panels first (5 MB for
    // Lite0's classifier, ~1 ms natively) to use it once. Natively only: in the page it saved 1–3 ms
    // of 135–145 for γ and αβ (within the noise) and its code took the wasm over its budget.
    #[cfg(not(target_arch = "wasm32"))]
    {
        let one_row = match (m, n) {
            (1, _) => vector_times_matrix(k, n, (a, csa), b, (rsb, csb), beta, (c, csc)),
            // Cᵀ[1, m] = Bᵀ[1, k] · Aᵀ[k, m]
            (_, 1) => vector_times_matrix(k, m, (b, rsb), a, (csa, rsa), beta, (c, rsc)),
            _ => false,
        };
        if one_row {
            return;
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if m > 0 && ours_is_faster(k, n, (rsb, csb), beta, (rsc, csc)) {
        super::pointwise::matmul(m, k, a, (rsa, csa), &b[..k * n], beta == 1.0, &mut c[..m * n]);
        return;
    }
    // SAFETY: every element addressed through (pointer, strides, dims) lies inside its slice
    // (checked above); C is a distinct &mut slice whose strides do not alias (the contract above).
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

/// `y[j] ← Σ_p x[p]·w[p, j] + β·y[j]` for `j < n`, `p < k` (`β = 0`: y is not read), the vector
/// `x` and `y` read through a stride each and `w` through (row, column) strides; false (nothing
/// done) unless the inner loop can run over contiguous values: w's rows and y (a sum of scaled
/// rows), or w's columns and x (a dot product per column, eight running sums).
#[cfg(not(target_arch = "wasm32"))]
fn vector_times_matrix(
    k: usize,
    n: usize,
    (x, xs): (&[f32], usize),
    w: &[f32],
    (rs, cs): (usize, usize),
    beta: f32,
    (y, ys): (&mut [f32], usize),
) -> bool {
    if n == 0 {
        return true;
    }
    if cs == 1 && ys == 1 {
        let y = &mut y[..n];
        if beta == 0.0 {
            y.fill(0.0);
        } else if beta != 1.0 {
            y.iter_mut().for_each(|v| *v *= beta);
        }
        for p in 0..k {
            let xp = x[p * xs];
            for (yj, &wj) in y.iter_mut().zip(&w[p * rs..p * rs + n]) {
                *yj += xp * wj;
            }
        }
        true
    } else if rs == 1 && xs == 1 {
        let x = &x[..k];
        for j in 0..n {
            let sum = dot(x, &w[j * cs..j * cs + k]);
            let yj = &mut y[j * ys];
            *yj = if beta == 0.0 { sum } else { sum + beta * *yj };
        }
        true
    } else {
        false
    }
}

/// `Σ a[i]·b[i]` in eight running sums (vectorised), then the tail.
#[cfg(not(target_arch = "wasm32"))]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(p, q)| p * q).sum();
    for (p, q) in a8.zip(b8) {
        for ((lane, &pv), &qv) in lanes.iter_mut().zip(p).zip(q) {
            *lane += pv * qv;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Whether the browser's product goes through our 4×12 blocks ([`super::pointwise::matmul`])
/// rather than matrixmultiply's 8×8 ones, whose 16 accumulators and their operands do not fit
/// V8's vector registers: B and C row-major, β 0 or 1, at least 128 columns and at most 1024 rows
/// of B (the forward pass's own bounds for the kernel). In a Chromium micro-benchmark on
/// EfficientNet-Lite0's transposed 1×1 products of 196 columns and more, ours ran at 16–19
/// GMAC/s, matrixmultiply at 11–17 (96 → 16 channels of 112×112: 16.5 against 10.9); on 49
/// columns matrixmultiply's were faster (14.1 against 13.0), and ours from 48 columns on (with
/// the blocks that compute their last vector alone) gave no faster relevance in the page (R-LRP
/// 53.6 / 49.7 ms against 51.3 / 48.1, alternating).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn ours_is_faster(k: usize, n: usize, b_strides: (usize, usize), beta: f32, c_strides: (usize, usize)) -> bool {
    b_strides == (n, 1) && c_strides == (n, 1) && (beta == 0.0 || beta == 1.0) && n >= 128 && (1..=1024).contains(&k)
}

/// β of the `k`-th product of a sum of products into one C: the first overwrites, the others add.
pub(crate) fn beta_of_term(k: usize) -> f32 {
    if k == 0 {
        0.0
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::gemm;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(1103515245).wrapping_add(12345);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    /// Every storage order of each operand, β = 0 (C holds NaN: it must not be read), 1 and −0.5,
    /// against the naive triple loop in f64.
    #[test]
    fn strided_products_match_the_naive_one() {
        for (case, &(m, k, n)) in [
            (1, 1, 1),
            (3, 5, 7),
            (5, 9, 17),
            (6, 300, 13),
            (70, 40, 30),
            (1, 300, 70),
            (40, 37, 1),
            (1, 0, 5),
            (1, 9, 1),
        ]
        .iter()
        .enumerate()
        {
            for layout in 0..8u32 {
                let sa = if layout & 1 == 1 { (1, m) } else { (k, 1) };
                let sb = if layout & 2 == 2 { (1, k) } else { (n, 1) };
                let sc = if layout & 4 == 4 { (1, m) } else { (n, 1) };
                let (a, b) = (values(m * k, case as u32 * 3), values(k * n, case as u32 * 3 + 1));
                for beta in [0.0f32, 1.0, -0.5] {
                    let c0 = if beta == 0.0 { vec![f32::NAN; m * n] } else { values(m * n, case as u32 * 3 + 2) };
                    let mut got = c0.clone();
                    gemm(m, k, n, &a, sa, &b, sb, beta, &mut got, sc);
                    for i in 0..m {
                        for j in 0..n {
                            let s: f64 =
                                (0..k).map(|p| a[i * sa.0 + p * sa.1] as f64 * b[p * sb.0 + j * sb.1] as f64).sum();
                            let at = i * sc.0 + j * sc.1;
                            let want = if beta == 0.0 { s } else { s + beta as f64 * c0[at] as f64 };
                            let g = got[at] as f64;
                            assert!(
                                (want - g).abs() <= 1e-4 * (1.0 + want.abs()),
                                "m{m} k{k} n{n} layout {layout} β {beta}"
                            );
                        }
                    }
                }
            }
        }
    }
}
