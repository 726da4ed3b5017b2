//! The fused element-wise passes of R-LRP's linear rule (`mul_assign_l1`, `scale_sum_and_l1`)
//! against the separate passes they replace (`mul_assign` then `l1_norm`, `scale` then
//! `sum_and_l1`): the same values and the same sums, bit for bit, natively and in wasm32 with
//! simd128 (each build has its own loops). Lengths around the simd blocks of 16; values of mixed
//! sign and magnitude, lane sums past f32's range, and a non-finite value anywhere.
use rlrp::kernels::elementwise::{l1_norm, mul_assign, mul_assign_l1, scale, scale_sum_and_l1, sum_and_l1};

/// Equal as bits, or both NaN.
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn same_values(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// Lengths around the simd blocks of 16, and a long one.
pub const LENGTHS: [usize; 12] = [0, 1, 3, 4, 15, 16, 17, 31, 33, 64, 1000, 100_003];

/// `n` values of mixed sign, of magnitudes from 1e-30 to 1e3.
pub fn mixed_values(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let v = ((i * 7919 % 1013) as f32 / 506.0) - 1.0;
            v * [1.0, 1e-3, 1e3, 1e-30][i % 4]
        })
        .collect()
}

pub fn check_fused_sums_match_separate_passes() {
    for n in LENGTHS {
        let x = mixed_values(n);
        let y: Vec<f32> = (0..n).map(|i| ((i * 104_729 % 997) as f32 / 300.0) - 0.5).collect();
        let mut cases = vec![(x.clone(), y.clone()), (vec![3e38f32; n], vec![1.0; n])];
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, n / 2, n.saturating_sub(1)].into_iter().filter(|&at| at < n) {
                let mut b = x.clone();
                b[at] = bad;
                cases.push((b, y.clone()));
            }
        }
        for (a, b) in cases {
            let (mut fused, mut separate) = (a.clone(), a.clone());
            let l1 = mul_assign_l1(&mut fused, &b);
            mul_assign(&mut separate, &b);
            assert!(same_values(&fused, &separate), "n={n}: mul_assign_l1's values");
            assert!(same(l1, l1_norm(&separate)), "n={n}: mul_assign_l1 {l1} against {}", l1_norm(&separate));
            for s in [0.75f32, 3.0e-7, 1.0e30] {
                let (mut fused, mut separate) = (a.clone(), a.clone());
                let (sum, l1) = scale_sum_and_l1(&mut fused, s);
                scale(&mut separate, s);
                let (want_sum, want_l1) = sum_and_l1(&separate);
                assert!(same_values(&fused, &separate), "n={n} s={s}: scale_sum_and_l1's values");
                assert!(
                    same(sum, want_sum) && same(l1, want_l1),
                    "n={n} s={s}: ({sum}, {l1}) against ({want_sum}, {want_l1})"
                );
            }
        }
    }
}
