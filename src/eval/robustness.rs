//! Robustness of explanations to small input changes.
//!
//! - [`noise_robustness`]: relative L2 change `‖e(x) − e(x + δ)‖₂ / ‖e(x)‖₂` of the heatmap under
//!   Gaussian noise δ ~ N(0, σ²I), mean and max over seeded draws (the issue asks for σ = 1e-3 and
//!   1e-2 of the input range; the caller passes the absolute σ).
//! - [`max_sensitivity`]: Max-Sensitivity (Yeh, Hsieh, Suggala, Inouye & Ravikumar 2019, "On the
//!   (in)fidelity and sensitivity of explanations", NeurIPS), as Quantus' `MaxSensitivity`
//!   computes it with its default arguments.
use super::Rng;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// ‖a − b‖₂ / ‖a‖₂ (sums in f64, so f32 values cannot overflow). 0 when both are zero, +∞ when
/// only `a` is zero; NaN when the shapes differ or a value is NaN or infinite.
pub fn relative_l2_change(a: &Tensor, b: &Tensor) -> f64 {
    if a.shape() != b.shape() {
        return f64::NAN;
    }
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b.iter()) {
        if !(x.is_finite() && y.is_finite()) {
            return f64::NAN;
        }
        let d = x as f64 - y as f64;
        num += d * d;
        den += x as f64 * x as f64;
    }
    if num == 0.0 {
        0.0
    } else if den == 0.0 {
        f64::INFINITY
    } else {
        (num / den).sqrt()
    }
}

/// Frobenius (L2) norm of all elements, in f64.
fn l2(t: &Tensor) -> f64 {
    t.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt()
}

/// Relative L2 change of the explanation under Gaussian input noise: for draw s = 0..`seeds`,
/// `x_s = x + σ·z` with z ~ N(0, I) from [`Rng::stream`]`(seed, s)` (Box–Muller), and
/// `r_s = relative_l2_change(e(x), e(x_s))`. Returns `(mean_s r_s, max_s r_s)`. `sigma` is absolute
/// (pass σ·(input range)); `explain` maps an input to its heatmap.
pub fn noise_robustness(
    explain: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    input: &Tensor,
    sigma: f32,
    seeds: usize,
    seed: u64,
) -> Result<(f64, f64)> {
    if seeds == 0 {
        return Err(Error::Request("noise robustness needs at least one seed".into()));
    }
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(Error::Request(format!("the noise σ must be finite and non-negative, got {sigma}")));
    }
    let e0 = explain(input)?;
    let (mut sum, mut max) = (0.0f64, 0.0f64);
    for s in 0..seeds {
        let mut rng = Rng::stream(seed, s as u64);
        let x = input.mapv(|v| (v as f64 + sigma as f64 * rng.normal()) as f32);
        let r = relative_l2_change(&e0, &explain(&x)?);
        sum += r;
        // A NaN (non-finite heatmap) makes both results NaN.
        if r.is_nan() || r > max {
            max = r;
        }
        if r.is_nan() {
            break;
        }
    }
    Ok((sum / seeds as f64, max))
}

/// Max-Sensitivity of one input, both as Quantus defines it and relative to the explanation.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct MaxSensitivity {
    /// Quantus' value: `max_j ‖e(x) − e(x + δ_j)‖_F / ‖x‖_F` (its denominator is the input's norm).
    pub quantus: f64,
    /// `max_j ‖e(x) − e(x + δ_j)‖_F / ‖e(x)‖_F`, i.e. the largest [`relative_l2_change`].
    pub relative: f64,
}

/// Max-Sensitivity (Yeh et al. 2019) with Quantus' defaults (`quantus.MaxSensitivity`, checked
/// against its source, v0.5): `samples` draws (Quantus: `nr_samples = 200`) of
/// `δ_j ~ U[−radius, radius)` independently per element (`uniform_noise` with `lower_bound = 0.2`,
/// `upper_bound = None`, i.e. an L∞ ball of radius 0.2: pass `radius = 0.2` for Quantus' default,
/// in model-input units); similarity = difference `e(x) − e(x + δ_j)`; numerator and denominator
/// norms = Frobenius; `normalise = False`, `abs = False` (the heatmaps are used as they are); no
/// NaN when the prediction changes (`return_nan_when_prediction_changes = False`). Quantus divides
/// by the norm of the *input*, `‖x‖_F`: that value is [`MaxSensitivity::quantus`] (+∞ if x = 0);
/// the explanation-relative variant is [`MaxSensitivity::relative`]. Draw j uses
/// [`Rng::stream`]`(seed, j)`.
pub fn max_sensitivity(
    explain: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    input: &Tensor,
    radius: f32,
    samples: usize,
    seed: u64,
) -> Result<MaxSensitivity> {
    if samples == 0 {
        return Err(Error::Request("max-sensitivity needs at least one sample".into()));
    }
    if !(radius.is_finite() && radius >= 0.0) {
        return Err(Error::Request(format!("the noise radius must be finite and non-negative, got {radius}")));
    }
    let e0 = explain(input)?;
    let (x_norm, e_norm) = (l2(input), l2(&e0));
    let mut max_diff = 0.0f64;
    for j in 0..samples {
        let mut rng = Rng::stream(seed, j as u64);
        let r = radius as f64;
        let x = input.mapv(|v| (v as f64 + rng.uniform_in(-r, r)) as f32);
        let e = explain(&x)?;
        if e.shape() != e0.shape() {
            return Err(Error::Request("the explanation changed shape under perturbation".into()));
        }
        let d = e0.iter().zip(e.iter()).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>().sqrt();
        if d.is_nan() || d > max_diff {
            max_diff = d;
        }
        if d.is_nan() {
            break;
        }
    }
    let ratio = |num: f64, den: f64| if num == 0.0 && den == 0.0 { 0.0 } else { num / den };
    Ok(MaxSensitivity { quantus: ratio(max_diff, x_norm), relative: ratio(max_diff, e_norm) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::ndarray::IxDyn;

    #[test]
    fn relative_change_edges() {
        let z = Tensor::zeros(IxDyn(&[2]));
        let a = Tensor::from_shape_vec(IxDyn(&[2]), vec![3.0, 4.0]).unwrap();
        assert_eq!(relative_l2_change(&z, &z), 0.0);
        assert_eq!(relative_l2_change(&z, &a), f64::INFINITY);
        assert_eq!(relative_l2_change(&a, &z), 1.0);
        assert!(relative_l2_change(&a, &Tensor::zeros(IxDyn(&[3]))).is_nan());
    }

    #[test]
    fn max_sensitivity_of_identity_is_bounded_by_the_ball() {
        let x = Tensor::from_elem(IxDyn(&[1, 1, 4, 4]), 1.0f32);
        let mut id = |x: &Tensor| -> Result<Tensor> { Ok(x.clone()) };
        let m = max_sensitivity(&mut id, &x, 0.1, 20, 1).unwrap();
        // ‖δ‖₂ ≤ 0.1·√16 = 0.4 and ‖x‖ = ‖e(x)‖ = 4.
        assert!(m.quantus > 0.0 && m.quantus <= 0.1 + 1e-6, "{m:?}");
        assert_eq!(m.quantus, m.relative);
    }
}
