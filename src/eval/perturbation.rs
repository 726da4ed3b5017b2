//! Region perturbation (Samek, Binder, Montavon, Lapuschkin & Müller 2017, "Evaluating the
//! visualization of what a deep neural network has learned", IEEE TNNLS 28(11); defaults after
//! Quantus' `RegionPerturbation`).
//!
//! The input (NCHW, batch 1) is cut into non-overlapping `patch × patch` squares (partial squares at
//! the right and bottom border included), ranked by their summed relevance, and replaced one after
//! the other, cumulatively, by a [`Baseline`]. The target logit is recorded before any replacement
//! and after each of `L = min(steps, patches)` replacements, giving a curve `f(x⁰), …, f(x^L)`.
//!
//! Scores (Samek et al. 2017, eq. 12, without the average over images, which is the caller's):
//! - `AOPC = 1/(L+1) · Σ_{k=0..L} (f(x⁰) − f(x^k))` (the k = 0 term is zero; it is kept to match
//!   the paper's normalisation). Higher is better for MoRF; lower for LeRF.
//! - `area(curve) = 1/(L+1) · Σ_{k=0..L} f(x^k)` (the mean of the curve: a left Riemann sum over
//!   L+1 unit steps, normalised like AOPC; not Quantus' trapezoidal AUC).
//! - `ABPC = area(LeRF) − area(MoRF)` (Schulz et al. 2020, "Restricting the flow"), which equals
//!   `AOPC_MoRF − AOPC_LeRF` because both curves start at the same f(x⁰). Higher is better.
use super::Rng;
use crate::error::{Error, Result};
use crate::forward::LogitPasses;
use crate::model::Model;
use crate::tensor::Tensor;

/// What a removed patch is replaced with.
#[derive(Clone, Debug, PartialEq)]
pub enum Baseline {
    /// The value a black pixel preprocesses to, per channel (length C, or 1 for all channels); e.g.
    /// `[0.0]` for inputs in [0, 1], `−mean/std` for normalised inputs ([`Baseline::black`]).
    Black(Vec<f32>),
    /// The dataset mean in model-input units, per channel (length C, or 1 for all channels).
    Mean(Vec<f32>),
    /// Independent uniform noise in [low, high) for every replaced element. One noise image is
    /// drawn from `seed` per input, so every order replaces a given patch with the same values.
    UniformNoise { low: f32, high: f32, seed: u64 },
}

impl Baseline {
    /// The black baseline of inputs preprocessed as `x = (p·scale − mean[c]) / std[c]`: a black pixel
    /// (p = 0) becomes `−mean[c]/std[c]`. Use the sidecar's `mean()` and `std()`.
    pub fn black(mean: &[f64], std: &[f64]) -> Baseline {
        Baseline::Black(mean.iter().zip(std).map(|(m, s)| (-m / s) as f32).collect())
    }

    /// The replacement image: a tensor of `shape` (NCHW) holding the baseline value of each element.
    pub fn fill(&self, shape: &[usize]) -> Result<Tensor> {
        let (_, c, h, w) = nchw(shape)?;
        let per_channel = |v: &[f32]| -> Result<Tensor> {
            if v.len() != 1 && v.len() != c {
                return Err(Error::Request(format!(
                    "the baseline has {} channel values; the input has {c} channels",
                    v.len()
                )));
            }
            let mut t = Tensor::zeros(shape);
            for (i, x) in t.iter_mut().enumerate() {
                *x = if v.len() == 1 { v[0] } else { v[i / (h * w)] };
            }
            Ok(t)
        };
        match self {
            Baseline::Black(v) | Baseline::Mean(v) => per_channel(v),
            Baseline::UniformNoise { low, high, seed } => {
                if !(low.is_finite() && high.is_finite() && low <= high) {
                    return Err(Error::Request(format!("bad uniform-noise baseline range [{low}, {high})")));
                }
                let mut rng = Rng::new(*seed);
                Ok(Tensor::from_shape_fn(shape, |_| rng.uniform_in(*low as f64, *high as f64) as f32))
            }
        }
    }
}

/// The target logit of inputs, possibly many at once: a closure `&Tensor → f32` (one forward pass
/// per input), or a batched logits-only plan ([`BatchedTarget`]). Curves hand over their perturbed
/// inputs [`TargetLogit::batch`] at a time.
pub trait TargetLogit {
    /// How many inputs [`TargetLogit::logits`] takes best at once.
    fn batch(&self) -> usize {
        1
    }
    /// The target logit of every input, in order.
    fn logits(&mut self, inputs: &[Tensor]) -> Result<Vec<f32>>;
}

impl<F: FnMut(&Tensor) -> Result<f32>> TargetLogit for F {
    fn logits(&mut self, inputs: &[Tensor]) -> Result<Vec<f32>> {
        inputs.iter().map(self).collect()
    }
}

/// The target logit by [`LogitPasses`]: `batch` perturbed inputs per forward pass.
pub struct BatchedTarget<'p> {
    pub plan: &'p LogitPasses,
    pub target: usize,
}

impl TargetLogit for BatchedTarget<'_> {
    fn batch(&self) -> usize {
        self.plan.batch()
    }

    fn logits(&mut self, inputs: &[Tensor]) -> Result<Vec<f32>> {
        self.plan.run(inputs)?.iter().map(|l| Self::pick(l, self.target)).collect()
    }
}

impl BatchedTarget<'_> {
    /// Logit `target` of one input's logits (an error naming the class when there is no such class).
    pub fn pick(logits: &[f32], target: usize) -> Result<f32> {
        logits.get(target).copied().ok_or_else(|| {
            Error::Request(format!("class {target} does not exist: the model has {} classes", logits.len()))
        })
    }
}

/// Settings of a region-perturbation run.
#[derive(Clone, Debug, PartialEq)]
pub struct PerturbationConfig {
    /// Side of the square patches, in pixels.
    pub patch: usize,
    /// Maximum number of replacement steps (the curve has `min(steps, patches) + 1` points).
    pub steps: usize,
    /// What removed patches become.
    pub baseline: Baseline,
    /// Number of seeded random orders averaged into the random baseline curve.
    pub random_orders: usize,
    /// Seed of the random orders (order i uses stream i of this seed).
    pub seed: u64,
}

impl PerturbationConfig {
    /// Defaults for an NCHW input shape: 4×4 patches for small inputs (shorter side < 64, e.g.
    /// 28×28 MNIST), 8×8 otherwise (e.g. 224×224); 100 steps; black baseline 0.0 (give
    /// [`Baseline::black`] for normalised inputs); 5 random orders; seed 0.
    pub fn for_input(shape: &[usize]) -> PerturbationConfig {
        let side = if shape.len() >= 2 { shape[shape.len() - 2].min(shape[shape.len() - 1]) } else { 0 };
        PerturbationConfig {
            patch: if side < 64 { 4 } else { 8 },
            steps: 100,
            baseline: Baseline::Black(vec![0.0]),
            random_orders: 5,
            seed: 0,
        }
    }
}

/// The curves and scores of one region-perturbation run (formulas in the module documentation).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PerturbationResult {
    /// Number of patches of the input.
    pub patches: usize,
    /// Target logit along the most-relevant-first order (L+1 values, the first before any step).
    pub morf: Vec<f32>,
    /// Target logit along the least-relevant-first order.
    pub lerf: Vec<f32>,
    /// Element-wise mean of the curves of the random orders.
    pub random: Vec<f32>,
    /// AOPC of the MoRF curve (higher is better).
    pub aopc_morf: f64,
    /// AOPC of the LeRF curve (lower is better).
    pub aopc_lerf: f64,
    /// Mean AOPC of the random orders (= AOPC of the mean random curve).
    pub aopc_random: f64,
    /// area(LeRF) − area(MoRF) = AOPC_MoRF − AOPC_LeRF (higher is better).
    pub abpc: f64,
}

fn nchw(shape: &[usize]) -> Result<(usize, usize, usize, usize)> {
    match *shape {
        [1, c, h, w] if c > 0 && h > 0 && w > 0 => Ok((1, c, h, w)),
        _ => Err(Error::Request(format!("region perturbation needs an NCHW input of batch 1, got shape {shape:?}"))),
    }
}

/// The patch grid of an NCHW shape: (rows, columns) of patches.
fn grid(shape: &[usize], patch: usize) -> Result<(usize, usize)> {
    if patch == 0 {
        return Err(Error::Request("the patch size must be at least 1".into()));
    }
    let (_, _, h, w) = nchw(shape)?;
    Ok((h.div_ceil(patch), w.div_ceil(patch)))
}

/// Summed relevance of every patch, in patch-index order (row-major over the patch grid; index
/// `i` covers rows `(i / cols)·patch ..` and columns `(i % cols)·patch ..`). The sum runs over all
/// channels and pixels of the patch, in f64; partial patches at the right and bottom border are
/// included. `relevance` is NCHW with batch 1.
pub fn patch_scores(relevance: &Tensor, patch: usize) -> Result<Vec<(usize, f64)>> {
    let (rows, cols) = grid(relevance.shape(), patch)?;
    let (_, c, h, w) = nchw(relevance.shape())?;
    let mut scores: Vec<(usize, f64)> = (0..rows * cols).map(|i| (i, 0.0)).collect();
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                scores[(y / patch) * cols + x / patch].1 += relevance[[0, ch, y, x]] as f64;
            }
        }
    }
    Ok(scores)
}

/// Patch indices from the highest summed relevance to the lowest (MoRF); ties by lower index.
/// NaN scores sort as the IEEE total order puts them.
pub fn morf_order(scores: &[(usize, f64)]) -> Vec<usize> {
    let mut s = scores.to_vec();
    s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    s.into_iter().map(|(i, _)| i).collect()
}

/// Patch indices from the lowest summed relevance to the highest (LeRF); ties by lower index.
pub fn lerf_order(scores: &[(usize, f64)]) -> Vec<usize> {
    let mut s = scores.to_vec();
    s.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    s.into_iter().map(|(i, _)| i).collect()
}

/// A uniformly random order of `patches` patches, from stream `index` of `seed`.
pub fn random_order(patches: usize, seed: u64, index: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..patches).collect();
    Rng::stream(seed, index).shuffle(&mut v);
    v
}

/// The perturbation curve along `order`: `f(x⁰)` (the unperturbed input) followed by `f(x^k)`
/// after each of the first `L = min(cfg.steps, order.len())` cumulative patch replacements. `f`
/// returns the target logit of an input; `order` holds patch indices as in [`patch_scores`].
pub fn perturbation_curve(
    f: &mut dyn TargetLogit,
    input: &Tensor,
    order: &[usize],
    cfg: &PerturbationConfig,
) -> Result<Vec<f32>> {
    let fill = cfg.baseline.fill(input.shape())?;
    curve_with_fill(f, input, &fill, order, cfg)
}

/// The curve's values at some of its steps only: `f(x^k)` for each `k` of `points` (strictly
/// increasing, each at most `min(cfg.steps, order.len())`), in order. The full curve is the case
/// `points = 0..=L`; a coarse-to-fine run asks for every few steps first and the rest after.
pub fn perturbation_points(
    f: &mut dyn TargetLogit,
    input: &Tensor,
    order: &[usize],
    cfg: &PerturbationConfig,
    points: &[usize],
) -> Result<Vec<f32>> {
    let fill = cfg.baseline.fill(input.shape())?;
    points_with_fill(f, input, &fill, order, cfg, points)
}

/// The steps of a coarse first look at a curve of `steps` steps: `0, s, 2s, …` and always the last,
/// `s` chosen so that there are about `coarse + 1` of them (all of them when `steps ≤ coarse`).
pub fn coarse_points(steps: usize, coarse: usize) -> Vec<usize> {
    let stride = steps.div_ceil(coarse.max(1)).max(1);
    let mut points: Vec<usize> = (0..=steps).step_by(stride).collect();
    if points.last() != Some(&steps) {
        points.push(steps);
    }
    points
}

fn curve_with_fill(
    f: &mut dyn TargetLogit,
    input: &Tensor,
    fill: &Tensor,
    order: &[usize],
    cfg: &PerturbationConfig,
) -> Result<Vec<f32>> {
    let steps = cfg.steps.min(order.len());
    points_with_fill(f, input, fill, order, cfg, &(0..=steps).collect::<Vec<_>>())
}

fn points_with_fill(
    f: &mut dyn TargetLogit,
    input: &Tensor,
    fill: &Tensor,
    order: &[usize],
    cfg: &PerturbationConfig,
    points: &[usize],
) -> Result<Vec<f32>> {
    let (rows, cols) = grid(input.shape(), cfg.patch)?;
    let (_, c, h, w) = nchw(input.shape())?;
    if let Some(&bad) = order.iter().find(|&&i| i >= rows * cols) {
        return Err(Error::Request(format!("patch {bad} does not exist: the input has {} patches", rows * cols)));
    }
    let steps = cfg.steps.min(order.len());
    if points.windows(2).any(|w| w[0] >= w[1]) || points.last().is_some_and(|&k| k > steps) {
        return Err(Error::Request(format!("curve points {points:?} are not increasing steps of 0..={steps}")));
    }
    let batch = f.batch().max(1);
    let mut x = input.clone();
    let mut curve = Vec::with_capacity(points.len());
    // x^k for each asked k, handed over `batch` at a time; x is perturbed cumulatively up to it.
    let mut pending = Vec::with_capacity(batch);
    let mut removed = 0;
    for &k in points {
        fill_patches(&mut x, fill, &order[removed..k], cols, cfg.patch, (c, h, w));
        removed = k;
        pending.push(x.clone());
        if pending.len() == batch {
            curve.extend(f.logits(&pending)?);
            pending.clear();
        }
    }
    if !pending.is_empty() {
        curve.extend(f.logits(&pending)?);
    }
    if curve.len() != points.len() {
        return Err(Error::Request(format!("{} logits for {} inputs", curve.len(), points.len())));
    }
    Ok(curve)
}

/// Patches `patches` of `x` (NCHW, batch 1, `chw` its other sides) replaced by `fill`'s pixels.
fn fill_patches(x: &mut Tensor, fill: &Tensor, patches: &[usize], cols: usize, p: usize, chw: (usize, usize, usize)) {
    let (c, h, w) = chw;
    for &i in patches {
        let (y0, x0) = ((i / cols) * p, (i % cols) * p);
        for ch in 0..c {
            for y in y0..(y0 + p).min(h) {
                for xx in x0..(x0 + p).min(w) {
                    x[[0, ch, y, xx]] = fill[[0, ch, y, xx]];
                }
            }
        }
    }
}

/// `x^k`: `input` with the first `k` patches of `order` replaced by `fill` (of the input's shape),
/// as [`perturbation_points`] builds it step by step; for one point on its own.
pub fn perturbed(input: &Tensor, fill: &Tensor, order: &[usize], patch: usize, k: usize) -> Result<Tensor> {
    let (rows, cols) = grid(input.shape(), patch)?;
    let (_, c, h, w) = nchw(input.shape())?;
    if fill.shape() != input.shape() {
        return Err(Error::Request(format!(
            "a fill of shape {:?} for an input of shape {:?}",
            fill.shape(),
            input.shape()
        )));
    }
    if k > order.len() || order[..k].iter().any(|&i| i >= rows * cols) {
        return Err(Error::Request(format!("step {k} of an order of {} patches of {}", order.len(), rows * cols)));
    }
    let mut x = input.clone();
    fill_patches(&mut x, fill, &order[..k], cols, patch, (c, h, w));
    Ok(x)
}

/// AOPC of one curve: `1/(L+1) · Σ_{k=0..L} (curve[0] − curve[k])` (Samek et al. 2017), in f64.
/// 0 for an empty curve.
pub fn aopc(curve: &[f32]) -> f64 {
    match curve.first() {
        None => 0.0,
        Some(&c0) => curve.iter().map(|&v| c0 as f64 - v as f64).sum::<f64>() / curve.len() as f64,
    }
}

/// Area of one curve, normalised like AOPC: `1/(L+1) · Σ_{k=0..L} curve[k]`.
pub fn area(curve: &[f32]) -> f64 {
    if curve.is_empty() {
        return 0.0;
    }
    curve.iter().map(|&v| v as f64).sum::<f64>() / curve.len() as f64
}

/// The random-order baseline of region perturbation: the element-wise mean of `cfg.random_orders`
/// seeded random-order curves, and its AOPC. It does not depend on the heatmap, so an evaluation
/// of several methods on one input computes it once.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomBaseline {
    pub curve: Vec<f32>,
    pub aopc: f64,
}

/// Computes the [`RandomBaseline`] of `input` (`(L + 1)·random_orders` calls of `f`).
pub fn random_baseline(f: &mut dyn TargetLogit, input: &Tensor, cfg: &PerturbationConfig) -> Result<RandomBaseline> {
    if cfg.random_orders == 0 {
        return Err(Error::Request("region perturbation needs at least one random order".into()));
    }
    let (rows, cols) = grid(input.shape(), cfg.patch)?;
    let fill = cfg.baseline.fill(input.shape())?;
    let mut sum: Vec<f64> = Vec::new();
    for r in 0..cfg.random_orders {
        let curve = curve_with_fill(f, input, &fill, &random_order(rows * cols, cfg.seed, r as u64), cfg)?;
        sum.resize(curve.len(), 0.0);
        for (s, v) in sum.iter_mut().zip(&curve) {
            *s += *v as f64;
        }
    }
    let n = cfg.random_orders as f64;
    // The mean of the random AOPCs, computed from the f64 sums (AOPC is linear in the curve).
    let r0 = sum[0] / n;
    let aopc = sum.iter().map(|s| r0 - s / n).sum::<f64>() / sum.len() as f64;
    Ok(RandomBaseline { curve: sum.iter().map(|s| (s / n) as f32).collect(), aopc })
}

/// Region perturbation of `input` explained by `relevance` (same NCHW shape): the MoRF, LeRF and
/// mean random curves (`cfg.random_orders` seeded orders, at least 1) and their AOPC and ABPC.
/// `f` is the target logit of an input (e.g. [`logit_fn`]); it is called
/// `(2 + random_orders)·(L + 1)` times.
pub fn region_perturbation(
    f: &mut dyn TargetLogit,
    input: &Tensor,
    relevance: &Tensor,
    cfg: &PerturbationConfig,
) -> Result<PerturbationResult> {
    let random = random_baseline(f, input, cfg)?;
    region_perturbation_against(f, input, relevance, cfg, &random)
}

/// [`region_perturbation`] with the random baseline already computed (by [`random_baseline`] with
/// the same `input` and `cfg`): `2·(L + 1)` calls of `f`.
pub fn region_perturbation_against(
    f: &mut dyn TargetLogit,
    input: &Tensor,
    relevance: &Tensor,
    cfg: &PerturbationConfig,
    random: &RandomBaseline,
) -> Result<PerturbationResult> {
    if relevance.shape() != input.shape() {
        return Err(Error::Request(format!(
            "the relevance has shape {:?}, the input {:?}",
            relevance.shape(),
            input.shape()
        )));
    }
    let scores = patch_scores(relevance, cfg.patch)?;
    let fill = cfg.baseline.fill(input.shape())?;
    let morf = curve_with_fill(f, input, &fill, &morf_order(&scores), cfg)?;
    let lerf = curve_with_fill(f, input, &fill, &lerf_order(&scores), cfg)?;
    if random.curve.len() != morf.len() {
        return Err(Error::Request("the random baseline was computed with other settings".into()));
    }
    let (aopc_morf, aopc_lerf) = (aopc(&morf), aopc(&lerf));
    let abpc = area(&lerf) - area(&morf);
    Ok(PerturbationResult {
        patches: scores.len(),
        morf,
        lerf,
        random: random.curve.clone(),
        aopc_morf,
        aopc_lerf,
        aopc_random: random.aopc,
        abpc,
    })
}

/// The target logit of `model` as a closure for [`region_perturbation`]: one forward pass per call.
pub fn logit_fn(model: &Model, target: usize) -> impl FnMut(&Tensor) -> Result<f32> + '_ {
    move |x: &Tensor| {
        let acts = model.forward(x)?;
        let logits = model.logits(&acts)?;
        logits.get(target).copied().ok_or_else(|| {
            Error::Request(format!("class {target} does not exist: the model has {} classes", logits.len()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::ndarray::IxDyn;

    fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_shape_vec(IxDyn(shape), v).unwrap()
    }

    #[test]
    fn orders_and_fill() {
        let s = vec![(0, 1.0), (1, 3.0), (2, 1.0), (3, -2.0)];
        assert_eq!(morf_order(&s), vec![1, 0, 2, 3]);
        assert_eq!(lerf_order(&s), vec![3, 0, 2, 1]);
        let f = Baseline::Black(vec![1.0, 2.0]).fill(&[1, 2, 1, 2]).unwrap();
        assert_eq!(f.iter().copied().collect::<Vec<_>>(), vec![1.0, 1.0, 2.0, 2.0]);
        assert!(Baseline::Mean(vec![1.0, 2.0, 3.0]).fill(&[1, 2, 1, 2]).is_err());
        let n = Baseline::UniformNoise { low: -1.0, high: 1.0, seed: 3 }.fill(&[1, 1, 8, 8]).unwrap();
        assert!(n.iter().all(|&v| (-1.0..1.0).contains(&v)));
        assert_eq!(n, Baseline::UniformNoise { low: -1.0, high: 1.0, seed: 3 }.fill(&[1, 1, 8, 8]).unwrap());
        assert_eq!(Baseline::black(&[0.5], &[0.25]), Baseline::Black(vec![-2.0]));
        assert_eq!(PerturbationConfig::for_input(&[1, 1, 28, 28]).patch, 4);
        assert_eq!(PerturbationConfig::for_input(&[1, 3, 224, 224]).patch, 8);
    }

    #[test]
    fn aopc_formula() {
        // L = 2: (0 + 1 + 3) / 3.
        assert!((aopc(&[4.0, 3.0, 1.0]) - 4.0 / 3.0).abs() < 1e-12);
        assert!((area(&[4.0, 3.0, 1.0]) - 8.0 / 3.0).abs() < 1e-12);
        assert_eq!(aopc(&[]), 0.0);
    }

    #[test]
    fn curve_replaces_cumulatively() {
        let x = t(&[1, 1, 2, 3], vec![1.0; 6]);
        let cfg = PerturbationConfig { patch: 2, steps: 10, ..PerturbationConfig::for_input(&[1, 1, 2, 3]) };
        let mut sum = |x: &Tensor| -> Result<f32> { Ok(x.sum()) };
        // Patches: 0 covers columns 0–1 (4 pixels), 1 covers column 2 (2 pixels).
        assert_eq!(perturbation_curve(&mut sum, &x, &[1, 0], &cfg).unwrap(), vec![6.0, 4.0, 0.0]);
        assert!(perturbation_curve(&mut sum, &x, &[2], &cfg).is_err());
    }

    /// Sums its inputs, `batch` at a time, counting the inputs it was given.
    struct Batched {
        batch: usize,
        seen: usize,
    }

    impl TargetLogit for Batched {
        fn batch(&self) -> usize {
            self.batch
        }
        fn logits(&mut self, inputs: &[Tensor]) -> Result<Vec<f32>> {
            assert!(!inputs.is_empty() && inputs.len() <= self.batch);
            self.seen += inputs.len();
            Ok(inputs.iter().map(|x| x.sum()).collect())
        }
    }

    #[test]
    fn points_are_the_full_curve_at_those_steps() {
        let x = t(&[1, 2, 8, 8], (0..128).map(|v| v as f32 * 0.5 - 9.0).collect());
        let cfg = PerturbationConfig {
            patch: 2,
            steps: 13,
            baseline: Baseline::Black(vec![0.25, -1.0]),
            ..PerturbationConfig::for_input(&[1, 2, 8, 8])
        };
        let order = random_order(16, 7, 0);
        for batch in [1, 3, 20] {
            let mut f = Batched { batch, seen: 0 };
            let full = perturbation_curve(&mut f, &x, &order, &cfg).unwrap();
            assert_eq!((full.len(), f.seen), (14, 14));
            for points in [vec![0, 5, 10, 13], vec![1, 2, 12], vec![13], vec![], coarse_points(13, 4)] {
                let mut g = Batched { batch, seen: 0 };
                let got = perturbation_points(&mut g, &x, &order, &cfg, &points).unwrap();
                assert_eq!(got, points.iter().map(|&k| full[k]).collect::<Vec<_>>(), "{points:?}, batch {batch}");
                assert_eq!(g.seen, points.len());
            }
            for bad in [vec![3, 3], vec![5, 2], vec![14]] {
                assert!(perturbation_points(&mut f, &x, &order, &cfg, &bad).is_err(), "{bad:?}");
            }
        }
    }

    #[test]
    fn coarse_points_span_the_curve() {
        assert_eq!(coarse_points(50, 10), vec![0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
        assert_eq!(coarse_points(49, 10), vec![0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 49]);
        assert_eq!(coarse_points(7, 10), (0..=7).collect::<Vec<_>>());
        assert_eq!(coarse_points(0, 10), vec![0]);
        assert_eq!(coarse_points(3, 0), vec![0, 3]);
    }
}
