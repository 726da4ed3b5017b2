//! The general matrix product every relevance kernel ends in: `C[m,n] ← A[m,k]·B[k,n] + β·C`, each
//! operand read through (row, column) strides, so transposes cost no copy (`RLRP.md`, "Transpose
//! kernels": `Wᵀ R` is this product with W's strides swapped).
//!
//! Natively it is `matrixmultiply::sgemm` (AVX/FMA and NEON kernels). matrixmultiply has no wasm
//! SIMD kernel: its scalar fallback made the browser's relevance ~3× slower than native. On wasm32
//! with simd128 the product is [`packed`]: A and B copied into panels (4 rows of A, 8 columns of B,
//! a block of k at a time) and a 4×8 register tile of `f32x4` accumulators. The blocking, packing
//! and edge handling are plain Rust tested natively against a naive product; only the 4×8 tile has
//! a simd128 body, tested in the browser against the portable one (tests/wasm_golden.rs).

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
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    packed::gemm(m, k, n, a, (rsa, csa), b, (rsb, csb), beta, c, (rsc, csc));
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
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

/// The packed product (Goto's blocking): for each block of `KC` of the inner dimension and `NC`
/// columns, B's block is copied into `NR`-column panels; for each `MC` rows, A's block into
/// `MR`-row panels; then every `MR × NR` tile of C is one [`tile`] call over the block's `kc`.
pub mod packed {
    /// Rows of A per panel and per register tile.
    pub const MR: usize = 4;
    /// Columns of B per panel and per register tile (two `f32x4`).
    pub const NR: usize = 8;
    /// Inner-dimension block: an A panel (MR·KC) and a B panel (KC·NR) stay in L1.
    const KC: usize = 256;
    /// Rows of A per packed block (MC·KC floats: 64 KiB, L2).
    const MC: usize = 64;
    /// Columns of B per packed block (KC·NC floats: 256 KiB, L2/L3).
    const NC: usize = 256;

    /// See [`super::gemm`]; bounds are the caller's to check (indexing panics otherwise).
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
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            for i in 0..m {
                for j in 0..n {
                    let cij = &mut c[i * rsc + j * csc];
                    *cij = if beta == 0.0 { 0.0 } else { beta * *cij };
                }
            }
            return;
        }
        let mut bpack = vec![0.0f32; KC * NC.min(n.div_ceil(NR) * NR)];
        let mut apack = vec![0.0f32; MC.min(m.div_ceil(MR) * MR) * KC];
        for j0 in (0..n).step_by(NC) {
            let nc = NC.min(n - j0);
            for p0 in (0..k).step_by(KC) {
                let kc = KC.min(k - p0);
                // The first k block applies beta; the others add to what it left.
                let beta_here = if p0 == 0 { beta } else { 1.0 };
                pack_b(kc, nc, &b[p0 * rsb + j0 * csb..], (rsb, csb), &mut bpack);
                for i0 in (0..m).step_by(MC) {
                    let mc = MC.min(m - i0);
                    pack_a(mc, kc, &a[i0 * rsa + p0 * csa..], (rsa, csa), &mut apack);
                    for jr in (0..nc).step_by(NR) {
                        let bp = &bpack[jr * kc..][..kc * NR];
                        for ir in (0..mc).step_by(MR) {
                            let ap = &apack[ir * kc..][..kc * MR];
                            let acc = tile(kc, ap, bp);
                            store(
                                &acc,
                                MR.min(mc - ir),
                                NR.min(nc - jr),
                                beta_here,
                                &mut c[(i0 + ir) * rsc + (j0 + jr) * csc..],
                                (rsc, csc),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Copies the `kc × nc` block of B into panels of `NR` columns, each `kc` rows of `NR` values
    /// (columns past `nc` are zeros).
    fn pack_b(kc: usize, nc: usize, b: &[f32], (rsb, csb): (usize, usize), out: &mut [f32]) {
        for (panel, j0) in (0..nc).step_by(NR).enumerate() {
            let w = NR.min(nc - j0);
            let dst = &mut out[panel * kc * NR..][..kc * NR];
            for p in 0..kc {
                let row = &mut dst[p * NR..][..NR];
                if csb == 1 {
                    row[..w].copy_from_slice(&b[p * rsb + j0..][..w]);
                } else {
                    for (jj, v) in row[..w].iter_mut().enumerate() {
                        *v = b[p * rsb + (j0 + jj) * csb];
                    }
                }
                row[w..].fill(0.0);
            }
        }
    }

    /// Copies the `mc × kc` block of A into panels of `MR` rows, stored column by column (`kc`
    /// columns of `MR` values; rows past `mc` are zeros).
    fn pack_a(mc: usize, kc: usize, a: &[f32], (rsa, csa): (usize, usize), out: &mut [f32]) {
        for (panel, i0) in (0..mc).step_by(MR).enumerate() {
            let h = MR.min(mc - i0);
            let dst = &mut out[panel * kc * MR..][..kc * MR];
            for p in 0..kc {
                let col = &mut dst[p * MR..][..MR];
                for (ii, v) in col[..h].iter_mut().enumerate() {
                    *v = a[(i0 + ii) * rsa + p * csa];
                }
                col[h..].fill(0.0);
            }
        }
    }

    /// Writes the `h × w` top-left part of a tile: `C ← acc + beta·C` (`beta = 0`: C not read).
    fn store(acc: &[[f32; NR]; MR], h: usize, w: usize, beta: f32, c: &mut [f32], (rsc, csc): (usize, usize)) {
        for (i, row) in acc.iter().enumerate().take(h) {
            for (j, &v) in row.iter().enumerate().take(w) {
                let cij = &mut c[i * rsc + j * csc];
                *cij = if beta == 0.0 {
                    v
                } else if beta == 1.0 {
                    *cij + v
                } else {
                    v + beta * *cij
                };
            }
        }
    }

    /// The register tile: `Σ_p ap[p] ⊗ bp[p]` over a packed A panel (`kc` columns of `MR`) and a
    /// packed B panel (`kc` rows of `NR`).
    pub fn tile(kc: usize, ap: &[f32], bp: &[f32]) -> [[f32; NR]; MR] {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            tile_simd128(kc, ap, bp)
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        {
            tile_portable(kc, ap, bp)
        }
    }

    /// The tile in plain Rust (the reference the simd128 tile is tested against).
    pub fn tile_portable(kc: usize, ap: &[f32], bp: &[f32]) -> [[f32; NR]; MR] {
        let mut acc = [[0.0f32; NR]; MR];
        for (a, b) in ap[..kc * MR].chunks_exact(MR).zip(bp[..kc * NR].chunks_exact(NR)) {
            for i in 0..MR {
                for j in 0..NR {
                    acc[i][j] += a[i] * b[j];
                }
            }
        }
        acc
    }

    /// The tile with eight `f32x4` accumulators (4 rows × 2 vectors of 4 columns).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub fn tile_simd128(kc: usize, ap: &[f32], bp: &[f32]) -> [[f32; NR]; MR] {
        use core::arch::wasm32::*;
        let (ap, bp) = (&ap[..kc * MR], &bp[..kc * NR]);
        let z = f32x4_splat(0.0);
        let (mut c00, mut c01, mut c10, mut c11) = (z, z, z, z);
        let (mut c20, mut c21, mut c30, mut c31) = (z, z, z, z);
        for (a, b) in ap.chunks_exact(MR).zip(bp.chunks_exact(NR)) {
            // SAFETY: `b` holds NR = 8 floats, read as two unaligned v128 (v128_load needs no
            // alignment); the chunks are exact.
            let (b0, b1) =
                unsafe { (v128_load(b.as_ptr() as *const v128), v128_load(b.as_ptr().add(4) as *const v128)) };
            let a0 = f32x4_splat(a[0]);
            c00 = f32x4_add(c00, f32x4_mul(a0, b0));
            c01 = f32x4_add(c01, f32x4_mul(a0, b1));
            let a1 = f32x4_splat(a[1]);
            c10 = f32x4_add(c10, f32x4_mul(a1, b0));
            c11 = f32x4_add(c11, f32x4_mul(a1, b1));
            let a2 = f32x4_splat(a[2]);
            c20 = f32x4_add(c20, f32x4_mul(a2, b0));
            c21 = f32x4_add(c21, f32x4_mul(a2, b1));
            let a3 = f32x4_splat(a[3]);
            c30 = f32x4_add(c30, f32x4_mul(a3, b0));
            c31 = f32x4_add(c31, f32x4_mul(a3, b1));
        }
        let mut acc = [[0.0f32; NR]; MR];
        for (row, (lo, hi)) in acc.iter_mut().zip([(c00, c01), (c10, c11), (c20, c21), (c30, c31)]) {
            // SAFETY: each row holds NR = 8 floats, written as two unaligned v128.
            unsafe {
                v128_store(row.as_mut_ptr() as *mut v128, lo);
                v128_store(row.as_mut_ptr().add(4) as *mut v128, hi);
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::packed;

    /// The naive triple loop.
    #[allow(clippy::too_many_arguments)]
    fn naive(
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
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|p| a[i * rsa + p * csa] as f64 * b[p * rsb + j * csb] as f64).sum();
                let cij = &mut c[i * rsc + j * csc];
                *cij = if beta == 0.0 { s as f32 } else { (s + beta as f64 * *cij as f64) as f32 };
            }
        }
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(1103515245).wrapping_add(12345);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    /// Every edge: sizes around the tile and block sizes, both storage orders of each operand,
    /// beta 0 (C holds NaN: it must not be read), 1 and another value.
    #[test]
    fn packed_matches_the_naive_product() {
        let sizes =
            [(1, 1, 1), (3, 5, 7), (4, 8, 8), (5, 9, 17), (67, 3, 9), (6, 300, 13), (9, 520, 261), (70, 40, 300)];
        for (case, &(m, k, n)) in sizes.iter().enumerate() {
            for layout in 0..8u32 {
                let (ta, tb, tc) = (layout & 1 == 1, layout & 2 == 2, layout & 4 == 4);
                let sa = if ta { (1, m) } else { (k, 1) };
                let sb = if tb { (1, k) } else { (n, 1) };
                let sc = if tc { (1, m) } else { (n, 1) };
                let a = values(m * k, case as u32 * 3);
                let b = values(k * n, case as u32 * 3 + 1);
                for beta in [0.0f32, 1.0, -0.5] {
                    let c0 = if beta == 0.0 { vec![f32::NAN; m * n] } else { values(m * n, case as u32 * 3 + 2) };
                    let (mut want, mut got) = (c0.clone(), c0.clone());
                    naive(m, k, n, &a, sa, &b, sb, beta, &mut want, sc);
                    packed::gemm(m, k, n, &a, sa, &b, sb, beta, &mut got, sc);
                    for (x, y) in want.iter().zip(&got) {
                        assert!(
                            (x - y).abs() <= 1e-4 * (1.0 + x.abs()),
                            "m{m} k{k} n{n} layout {layout} beta {beta}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn empty_inner_dimension_scales_c() {
        let mut c = vec![2.0f32; 6];
        packed::gemm(2, 0, 3, &[], (0, 1), &[], (3, 1), 0.5, &mut c, (3, 1));
        assert_eq!(c, vec![1.0; 6]);
        let mut c = vec![f32::NAN; 6];
        packed::gemm(2, 0, 3, &[], (0, 1), &[], (3, 1), 0.0, &mut c, (3, 1));
        assert_eq!(c, vec![0.0; 6]);
    }
}
