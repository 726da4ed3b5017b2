//! Statistics over images for `rlrp eval`: how sure a mean is, and whether two methods really
//! differ (RLRP.md §Evaluation: every score is a mean over images, so it needs its uncertainty).
//!
//! - [`mean_ci`]: the mean of a sample with its percentile bootstrap confidence interval (Efron &
//!   Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13): `resamples` means of n draws
//!   with replacement, and their (1 − level)/2 and (1 + level)/2 quantiles.
//! - [`paired`]: a paired comparison of two methods on the same images. The per-image differences
//!   `a_i − b_i` get a bootstrap CI of their mean, and a two-sided sign-flip permutation p-value
//!   (under H0 each difference is as likely to have either sign): exact over all 2ⁿ sign patterns
//!   for n ≤ [`EXACT_SIGN_FLIPS`], otherwise `resamples` random patterns, p = (k + 1)/(resamples + 1).
//! - [`holm`]: Holm–Bonferroni adjusted p-values for a family of comparisons (Holm 1979).
//!
//! Non-finite values are left out (as the means of `report` do); `n` counts what was used. The
//! resampling is seeded ([`super::Rng`]): equal inputs and seeds give equal intervals everywhere.
use super::Rng;

/// Bootstrap resamples of the tables (the percentile interval's Monte Carlo error at 10⁴ resamples
/// is about 1 % of its width).
pub const RESAMPLES: usize = 10_000;

/// Samples of at most this many pairs get the exact sign-flip test (2ⁿ patterns).
pub const EXACT_SIGN_FLIPS: usize = 16;

/// A mean with its confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Values used (the finite ones).
    pub n: usize,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// Whether the interval lies entirely on one side of `value`.
    pub fn excludes(&self, value: f64) -> bool {
        self.low > value || self.high < value
    }
}

/// A paired comparison `a − b` over the same images.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Paired {
    /// Mean per-image difference a − b with its bootstrap interval (`n` = pairs used).
    pub difference: Interval,
    /// Two-sided sign-flip permutation p-value of "the mean difference is 0".
    pub p_value: f64,
}

fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The q-quantile of sorted values, interpolating linearly between order statistics (Hyndman &
/// Fan's type 7, R's and NumPy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The mean of the finite `values` and its percentile bootstrap interval at `level` (e.g. 0.95);
/// None when no value is finite. One value gives the interval [x, x].
pub fn mean_ci(values: &[f64], level: f64, resamples: usize, seed: u64) -> Option<Interval> {
    let v = finite(values);
    if v.is_empty() {
        return None;
    }
    let m = mean(&v);
    let n = v.len();
    let mut rng = Rng::new(seed);
    let mut means: Vec<f64> =
        (0..resamples.max(1)).map(|_| (0..n).map(|_| v[rng.below(n)]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    // The mean itself always lies in the interval, also when rounding says otherwise (a constant).
    let low = quantile(&means, tail).min(m);
    let high = quantile(&means, 1.0 - tail).max(m);
    Some(Interval { n, mean: m, low, high })
}

/// The paired comparison of `a` and `b` (values of the same images, in the same order): pairs
/// where either value is not finite are left out; None when no pair is left.
pub fn paired(a: &[f64], b: &[f64], level: f64, resamples: usize, seed: u64) -> Option<Paired> {
    let d: Vec<f64> = a.iter().zip(b).filter(|(x, y)| x.is_finite() && y.is_finite()).map(|(x, y)| x - y).collect();
    let difference = mean_ci(&d, level, resamples, seed)?;
    Some(Paired { difference, p_value: sign_flip_p(&d, resamples, seed ^ 0x5167_4e46) })
}

/// Two-sided sign-flip permutation p-value of mean(d) = 0 (see the module documentation).
pub fn sign_flip_p(d: &[f64], resamples: usize, seed: u64) -> f64 {
    let n = d.len();
    if n == 0 {
        return 1.0;
    }
    let observed = d.iter().sum::<f64>().abs();
    // Sums equal up to rounding count as "at least as extreme".
    let tolerance = 1e-12 * d.iter().map(|x| x.abs()).sum::<f64>();
    let extreme = |signs: &mut dyn FnMut(usize) -> bool| {
        let s: f64 = d.iter().enumerate().map(|(i, &x)| if signs(i) { -x } else { x }).sum();
        s.abs() >= observed - tolerance
    };
    if n <= EXACT_SIGN_FLIPS {
        let patterns = 1u64 << n;
        let k = (0..patterns).filter(|&p| extreme(&mut |i| p >> i & 1 == 1)).count();
        return k as f64 / patterns as f64;
    }
    let mut rng = Rng::new(seed);
    let k = (0..resamples)
        .filter(|_| {
            let bits: Vec<bool> = (0..n).map(|_| rng.next_u64() >> 63 == 1).collect();
            extreme(&mut |i| bits[i])
        })
        .count();
    (k + 1) as f64 / (resamples + 1) as f64
}

/// Holm–Bonferroni adjusted p-values, in the order given: the i-th smallest of m p-values becomes
/// max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎). NaN p-values stay NaN and do not count in m.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let m = order.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_sample_has_a_point_interval() {
        let ci = mean_ci(&[0.7; 12], 0.95, 2000, 1).unwrap();
        assert_eq!((ci.n, ci.low, ci.high), (12, ci.mean, ci.mean));
        assert!((ci.mean - 0.7).abs() < 1e-15);
        let one = mean_ci(&[3.0, f64::NAN], 0.95, 100, 1).unwrap();
        assert_eq!((one.n, one.low, one.high), (1, 3.0, 3.0));
        assert!(mean_ci(&[f64::NAN, f64::INFINITY], 0.95, 100, 1).is_none());
    }

    #[test]
    fn two_points_give_the_exact_bootstrap_distribution() {
        // Means of two draws from {0, 1}: 0, ½, 1 with probabilities ¼, ½, ¼: the 95 % interval is
        // [0, 1], the 50 % interval is [½, ½].
        let ci = mean_ci(&[0.0, 1.0], 0.95, 4000, 3).unwrap();
        assert_eq!((ci.mean, ci.low, ci.high), (0.5, 0.0, 1.0));
        let ci = mean_ci(&[0.0, 1.0], 0.4, 4000, 3).unwrap();
        assert_eq!((ci.low, ci.high), (0.5, 0.5));
    }

    #[test]
    fn a_normal_sample_gets_the_textbook_width() {
        // n = 400 draws of N(1, 2²): the interval covers 1 and is 2·1.96·2/√400 ≈ 0.392 wide.
        let mut r = Rng::new(11);
        let x: Vec<f64> = (0..400).map(|_| 1.0 + 2.0 * r.normal()).collect();
        let ci = mean_ci(&x, 0.95, RESAMPLES, 5).unwrap();
        assert!(ci.low < 1.0 && 1.0 < ci.high, "{ci:?}");
        let sd = (x.iter().map(|v| (v - ci.mean).powi(2)).sum::<f64>() / 399.0).sqrt();
        let expected = 2.0 * 1.96 * sd / 20.0;
        assert!(((ci.high - ci.low) / expected - 1.0).abs() < 0.08, "{} vs {expected}", ci.high - ci.low);
        assert_eq!(mean_ci(&x, 0.95, RESAMPLES, 5), Some(ci), "seeded: the same interval again");
    }

    #[test]
    fn a_known_mean_difference_is_found() {
        let mut r = Rng::new(2);
        let b: Vec<f64> = (0..30).map(|_| r.normal()).collect();
        // Every image 0.25 better: the difference is exactly 0.25, and every sign flip but the
        // identity (Monte Carlo: nearly all) makes it smaller.
        let a: Vec<f64> = b.iter().map(|v| v + 0.25).collect();
        let p = paired(&a, &b, 0.95, RESAMPLES, 9).unwrap();
        assert!((p.difference.mean - 0.25).abs() < 1e-12);
        assert!((p.difference.low - 0.25).abs() < 1e-12 && (p.difference.high - 0.25).abs() < 1e-12);
        assert!(p.p_value <= 2.0 / RESAMPLES as f64, "{}", p.p_value);
        // Noisy differences with mean 0.5 and sd 1 over 100 images: real; with mean 0: not.
        let noise: Vec<f64> = (0..100).map(|_| r.normal()).collect();
        let zero = vec![0.0; 100];
        let shifted: Vec<f64> = noise.iter().map(|v| v + 0.5).collect();
        let real = paired(&shifted, &zero, 0.95, RESAMPLES, 9).unwrap();
        assert!(real.difference.excludes(0.0) && real.p_value < 0.01, "{real:?}");
        let centred: Vec<f64> = noise.iter().map(|v| v - noise.iter().sum::<f64>() / 100.0).collect();
        let none = paired(&centred, &zero, 0.95, RESAMPLES, 9).unwrap();
        assert!(!none.difference.excludes(0.0) && none.p_value > 0.9, "{none:?}");
    }

    #[test]
    fn exact_sign_flips() {
        // d = (1, 2, 3): of the 8 sign patterns only (+ + +) and (− − −) reach |Σ| = 6.
        assert_eq!(sign_flip_p(&[1.0, 2.0, 3.0], 0, 0), 0.25);
        // d = (1, −1): every pattern has |Σ| ≥ 0.
        assert_eq!(sign_flip_p(&[1.0, -1.0], 0, 0), 1.0);
        // Pairs with a non-finite value are dropped: n = 3 pairs left.
        let p = paired(&[2.0, 3.0, 4.0, f64::NAN], &[1.0, 1.0, 1.0, 0.0], 0.95, 100, 0).unwrap();
        assert_eq!((p.difference.n, p.p_value), (3, 0.25));
    }

    #[test]
    fn holm_adjustment() {
        let adj = holm(&[0.01, 0.04, 0.03, f64::NAN]);
        let want = [0.03, 0.06, 0.06];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-15, "{adj:?}");
        }
        assert!(adj[3].is_nan());
        assert_eq!(holm(&[0.5, 0.9]), vec![1.0, 1.0]);
    }
}
