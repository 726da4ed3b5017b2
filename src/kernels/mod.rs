//! Numeric kernels of the relevance pass: every linear operation, forward and transposed.
//!
//! Layer-wise relevance propagation (see `RLRP.md`) needs, for each linear layer `z = W x + b`,
//!
//! - a **forward** pass with arbitrary (possibly rule-modified) weights, giving `z`, and
//! - the exact **transpose** `Wᵀ R` of the same linear map (the vector-Jacobian product with
//!   respect to the input, bias excluded), from which the relevance of the layer input is
//!   `U = x ⊙ Wᵀ R`. This is the same kernel as the input-gradient step of a backward pass.
//!
//! All tensors are batch-1 `f32`, row-major, images laid out `[C, H, W]` (NCHW without the N).
//! Every output slice is overwritten (never accumulated into); lengths are checked with
//! assertions, so a mismatched call panics instead of reading or writing out of bounds.
//!
//! Performance notes: general and grouped convolutions and dense layers go through [`gemm::gemm`]
//! (matrixmultiply; 1x1 stride-1 unpadded convolutions without any im2col copy);
//! depthwise convolutions (one input channel per group) use direct loops whose innermost loop
//! runs over contiguous output columns. On `wasm32` with `simd128` the elementwise helpers and
//! the direct loops have explicit `core::arch::wasm32` paths; natively they rely on LLVM's
//! auto-vectorisation.

pub mod conv;
pub mod dense;
pub mod elementwise;
pub mod gemm;
pub mod pointwise;
pub mod pool;
pub mod resample;
pub mod taps;

/// The range `lo..hi` of output positions `o` (with `o < n`) whose tapped input position
/// `o * step + offset` lies inside `0..len`.
///
/// This is how the kernels handle borders: instead of testing every element against the
/// padding, they compute once the contiguous run of outputs for which a given kernel tap is in
/// bounds. The result always satisfies `lo <= hi <= n`.
pub(crate) fn valid_range(n: usize, step: usize, offset: isize, len: usize) -> (usize, usize) {
    debug_assert!(step > 0);
    let step_i = step as isize;
    let lo = if offset >= 0 {
        0
    } else {
        // ceil(-offset / step)
        ((-offset + step_i - 1) / step_i) as usize
    };
    let last = len as isize - 1 - offset; // need o * step <= last
    let hi = if last < 0 { 0 } else { ((last / step_i) as usize + 1).min(n) };
    let lo = lo.min(n);
    (lo, hi.max(lo))
}

#[cfg(test)]
mod tests {
    use super::valid_range;

    #[test]
    fn valid_range_matches_brute_force() {
        for n in 0..7usize {
            for step in 1..4usize {
                for offset in -6isize..6 {
                    for len in 0..8usize {
                        let (lo, hi) = valid_range(n, step, offset, len);
                        let inside = |o: usize| {
                            let p = o as isize * step as isize + offset;
                            p >= 0 && p < len as isize
                        };
                        for o in 0..n {
                            assert_eq!(
                                inside(o),
                                o >= lo && o < hi,
                                "n={n} step={step} offset={offset} len={len} o={o}"
                            );
                        }
                        assert!(lo <= hi && hi <= n);
                    }
                }
            }
        }
    }
}
