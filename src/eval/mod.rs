//! Evaluation metrics for explanations: the numeric core of a future `rlrp eval` command.
//!
//! - [`perturbation`]: region perturbation (Samek et al. 2017) with AOPC for most-relevant-first
//!   (MoRF), least-relevant-first (LeRF) and random orders, and ABPC.
//! - [`robustness`]: relative L2 change of a heatmap under Gaussian input noise, and Max-Sensitivity
//!   (Yeh et al. 2019) as Quantus implements it.
//! - [`conservation`]: κ, ‖R‖₁/|f_c(x)| and the count of non-finite values of one explanation.
//! - [`stats`]: bootstrap intervals of means over images and paired tests between methods.
//! - [`report`], [`results_csv`]: what `rlrp eval` writes (summary.md, plots; results.csv and its
//!   reading back, for `rlrp eval-summary`).
//! - [`concentration`], [`diagnosis`]: where relevance concentrates, layer by layer (`rlrp diagnose`).
//!
//! Everything here is pure computation (no threads, no clocks), so it also builds for wasm32. The
//! model enters as a closure (`&Tensor → target logit`, or `&Tensor → heatmap`), which keeps the
//! metrics testable without ONNX; [`perturbation::logit_fn`] adapts a [`crate::model::Model`].
//! Randomness comes from [`Rng`], a seeded splitmix64 generator: equal seeds give equal results on
//! every platform.
pub mod checkpoint;
pub mod concentration;
pub mod diagnosis;
pub mod perturbation;
pub mod report;
pub mod results_csv;
pub mod robustness;
pub mod run;
pub mod stats;

pub use perturbation::{
    logit_fn, patch_scores, perturbation_curve, random_baseline, region_perturbation, region_perturbation_against,
    Baseline, PerturbationConfig, PerturbationResult, RandomBaseline,
};
pub use robustness::{max_sensitivity, noise_robustness, relative_l2_change, MaxSensitivity};

use crate::relevance::Explanation;

/// A small deterministic pseudo-random generator: splitmix64 (Steele, Lea & Flood 2014; the
/// seeding generator of xoshiro). Not cryptographic; chosen for reproducibility across platforms.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose stream is fully determined by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// A generator for the `index`-th of several independent streams derived from `seed`.
    pub fn stream(seed: u64, index: u64) -> Rng {
        let mut r = Rng::new(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let s = r.next_u64();
        Rng::new(s)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [low, high).
    pub fn uniform_in(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// A standard normal draw (Box–Muller transform; the second value of each pair is discarded).
    pub fn normal(&mut self) -> f64 {
        // 1 − U lies in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform in 0..n (n > 0), by rejection (no modulo bias).
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next_u64();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Conservation checks of one explanation (RLRP.md: R-LRP conserves |f_c(x)|).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Conservation {
    /// κ = ΣR / f_c(x) (as computed by [`crate::relevance::explain`]); None when f_c(x) = 0.
    pub kappa: Option<f64>,
    /// ‖R‖₁ / |f_c(x)|: 0 when both are zero, +∞ when only the logit is zero.
    pub l1_over_logit: f64,
    /// NaN/±∞ values: those `explain` found (and zeroed) plus any still in the relevance tensor.
    pub non_finite: usize,
}

/// The conservation numbers of `e`: κ, ‖R‖₁/|f_c(x)| (sums in f64) and the non-finite count.
pub fn conservation(e: &Explanation) -> Conservation {
    let mut l1 = 0.0f64;
    let mut remaining = 0usize;
    for &v in e.relevance.iter() {
        if v.is_finite() {
            l1 += (v as f64).abs();
        } else {
            remaining += 1;
        }
    }
    let logit = (e.logit as f64).abs();
    let l1_over_logit = if logit > 0.0 {
        l1 / logit
    } else if l1 == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    Conservation { kappa: e.kappa, l1_over_logit, non_finite: e.non_finite + remaining }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relevance::Method;
    use crate::tensor::{ndarray, Tensor};

    #[test]
    fn rng_is_deterministic_and_uniform() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let mut r = Rng::new(7);
        let b: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(Rng::stream(7, 0).next_u64(), Rng::stream(7, 1).next_u64());
        let mut r = Rng::new(1);
        let n = 20000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let z = r.normal();
            s += z;
            s2 += z * z;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
        let mut v: Vec<usize> = (0..10).collect();
        r.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn conservation_numbers() {
        let relevance = Tensor::from_shape_vec(ndarray::IxDyn(&[1, 1, 1, 3]), vec![1.0, -1.0, 2.0]).unwrap();
        let e = Explanation {
            method: Method::Rlrp,
            target: 0,
            logit: -2.0,
            start: 2.0,
            kappa: Some(-1.0),
            relevance,
            layers: Vec::new(),
            layer_maps: Vec::new(),
            non_finite: 3,
            warning: None,
        };
        let c = conservation(&e);
        assert_eq!(c, Conservation { kappa: Some(-1.0), l1_over_logit: 2.0, non_finite: 3 });
        let mut z = e.clone();
        z.logit = 0.0;
        z.relevance.fill(0.0);
        assert_eq!(conservation(&z).l1_over_logit, 0.0);
        z.relevance[[0, 0, 0, 0]] = f32::NAN;
        z.relevance[[0, 0, 0, 1]] = 1.0;
        let c = conservation(&z);
        assert_eq!(c.l1_over_logit, f64::INFINITY);
        assert_eq!(c.non_finite, 4);
    }
}
