//! Which of tract-linalg's simd128 matrix kernels the forward pass runs in the browser. RLRP.md has
//! no section here: this only chooses how tract computes `Conv`/`MatMul` (same values, to rounding).
//!
//! tract-linalg 0.23.9 ships two f32 GEMM kernels for wasm32: 8×8 (8 rows of two `f32x4`) and 4×16
//! (4 rows of four). Its own dispatch tier always answers 8×8. The 4×16 one splats each A value
//! into four multiply-adds instead of two, which tract's benchmarks put at 1.09–1.21× the 8×8 one
//! when the tile fills (N a multiple of 16) and 0.58× at N = 8. tract's later dispatch makes that
//! choice itself; until a release carries it, this tier, one rung above tract's (tract's registry of
//! tiers, `tract_linalg::mmm_tiers`, is data made for this), answers 4×16 where N is a multiple of
//! 16 and leaves every other query to tract's own tier.
use tract_onnx::prelude::DatumType;
use tract_onnx::tract_core::tract_linalg::mmm::Query;

/// tract-linalg's 4-row, 16-column f32 kernel for wasm32 with simd128.
pub const WIDE_F32_KERNEL: &str = "wasm_f32_4x16";

/// The kernel this tier wants for a query: the wide one for an f32 product whose N (known when
/// the plan is made) fills 16-column tiles, none otherwise (tract's tier decides). Matrix × vector
/// products (N = 1) keep tract's GEMV kernels.
pub fn preferred(accumulator: DatumType, query: &Query) -> Option<&'static str> {
    match (accumulator, query.n) {
        (DatumType::F32, Some(n)) if n >= 16 && n % 16 == 0 => Some(WIDE_F32_KERNEL),
        _ => None,
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
inventory::submit! {
    tract_onnx::tract_core::tract_linalg::mmm_tiers::MmmTier {
        arch: Some(tract_onnx::tract_core::tract_linalg::isa::Arch::Wasm32Simd128),
        // tract's own wasm tier is 1: this one is asked first.
        precedence: 2,
        name: "rlrp-web: 4x16 where N fills its tiles",
        applies: |_| true,
        preferred: |_isa, accumulator, query: &Query, _suitable: &[tract_onnx::tract_core::tract_linalg::mmm::Suitable]| {
            preferred(accumulator, query)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::prelude::tvec;

    fn query(n: Option<usize>) -> Query {
        Query {
            weight: DatumType::F32.into(),
            activation: DatumType::F32,
            accumulators: tvec!(DatumType::F32),
            store: None,
            allow_extractor: false,
            m: Some(96),
            k: Some(24),
            n,
        }
    }

    /// The wide kernel only where its 16 columns fill: EfficientNet-Lite0's channel counts 16, 96,
    /// 144, 240, 80, 112 and its 112-wide maps; not 8, 24, 40, 49, 196, an unknown N or N = 1.
    #[test]
    fn the_wide_kernel_only_where_its_tiles_fill() {
        for n in [16, 96, 112, 144, 240, 12544] {
            assert_eq!(preferred(DatumType::F32, &query(Some(n))), Some(WIDE_F32_KERNEL), "n {n}");
        }
        for n in [Some(1), Some(8), Some(24), Some(40), Some(49), Some(196), None] {
            assert_eq!(preferred(DatumType::F32, &query(n)), None, "n {n:?}");
        }
        assert_eq!(preferred(DatumType::I32, &query(Some(64))), None);
    }
}
