//! The evaluation metrics (`rlrp::eval`) on cases with known answers: a model linear in its input
//! (no ONNX), hand-made tensors, and one real MNIST model.
use crate::common;

use rlrp::eval::perturbation::{aopc, lerf_order, morf_order, random_order};
use rlrp::eval::{
    conservation, max_sensitivity, noise_robustness, patch_scores, perturbation_curve, random_baseline,
    region_perturbation, region_perturbation_against, relative_l2_change, Baseline, PerturbationConfig, Rng,
};
use rlrp::relevance::{explain, ExplainOptions, Method};
use rlrp::tensor::{ndarray::IxDyn, Tensor};
use rlrp::Result;

const SHAPE: [usize; 4] = [1, 2, 8, 8];
const BIAS: f32 = 0.5;

/// Random tensor of `shape` with values in [low, high).
fn random(shape: &[usize], low: f64, high: f64, rng: &mut Rng) -> Tensor {
    Tensor::from_shape_fn(IxDyn(shape), |_| rng.uniform_in(low, high) as f32)
}

/// f(x) = Σ w_i x_i + BIAS.
fn linear(w: &Tensor) -> impl FnMut(&Tensor) -> Result<f32> + '_ {
    move |x: &Tensor| Ok(w.iter().zip(x.iter()).map(|(a, b)| a * b).sum::<f32>() + BIAS)
}

fn cfg(patch: usize) -> PerturbationConfig {
    PerturbationConfig { patch, ..PerturbationConfig::for_input(&SHAPE) }
}

#[test]
fn linear_model_morf_is_optimal() {
    let mut rng = Rng::new(42);
    let w = random(&SHAPE, -1.0, 1.0, &mut rng);
    let x = random(&SHAPE, 0.0, 1.0, &mut rng);
    let relevance = &w * &x; // the exact contribution of every element
    let cfg = cfg(2); // 4×4 = 16 patches
    let mut f = linear(&w);
    let r = region_perturbation(&mut f, &x, &relevance, &cfg).unwrap();
    println!(
        "linear: AOPC MoRF {:.4}, LeRF {:.4}, random {:.4}, ABPC {:.4}",
        r.aopc_morf, r.aopc_lerf, r.aopc_random, r.abpc
    );
    assert_eq!(r.patches, 16);
    assert_eq!(r.morf.len(), 17);
    // With a zero baseline everything is removed at the end: f(0) = bias, exactly.
    assert_eq!(*r.morf.last().unwrap(), BIAS);
    assert_eq!(*r.lerf.last().unwrap(), BIAS);
    assert_eq!(r.morf[0], f(&x).unwrap());
    assert!(r.abpc > 0.0);
    assert!((r.abpc - (r.aopc_morf - r.aopc_lerf)).abs() < 1e-9);
    assert!(r.aopc_morf > r.aopc_random && r.aopc_random > r.aopc_lerf);
    // MoRF maximises (LeRF minimises) every prefix sum of removed contributions, hence the AOPC,
    // among all orders: check against 200 random orders and the index order.
    let mut others: Vec<Vec<usize>> = (0..200).map(|i| random_order(16, 9, i)).collect();
    others.push((0..16).collect());
    for order in &others {
        let a = aopc(&perturbation_curve(&mut f, &x, order, &cfg).unwrap());
        assert!(r.aopc_morf >= a - 1e-5, "MoRF {} < {a} for {order:?}", r.aopc_morf);
        assert!(r.aopc_lerf <= a + 1e-5, "LeRF {} > {a} for {order:?}", r.aopc_lerf);
    }
    // The exact AOPC of MoRF from the sorted patch contributions.
    let scores = patch_scores(&relevance, 2).unwrap();
    let mut sorted: Vec<f64> = scores.iter().map(|s| s.1).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut prefix = 0.0;
    let mut expected = 0.0;
    for s in &sorted {
        prefix += s;
        expected += prefix;
    }
    expected /= 17.0;
    assert!((r.aopc_morf - expected).abs() < 1e-4, "{} vs {expected}", r.aopc_morf);
}

#[test]
fn constant_heatmap_equals_random_baseline_in_expectation() {
    let mut rng = Rng::new(7);
    let w = random(&SHAPE, -1.0, 1.0, &mut rng);
    let x = random(&SHAPE, 0.0, 1.0, &mut rng);
    let constant = Tensor::from_elem(IxDyn(&SHAPE), 1.0f32);
    let n = 16;
    let cfg = PerturbationConfig { random_orders: 2000, ..cfg(2) };
    let mut f = linear(&w);
    let r = region_perturbation(&mut f, &x, &constant, &cfg).unwrap();
    // All scores tie: MoRF and LeRF are the index order.
    let index_order: Vec<usize> = (0..n).collect();
    let scores = patch_scores(&constant, 2).unwrap();
    assert_eq!(morf_order(&scores), index_order);
    assert_eq!(lerf_order(&scores), index_order);
    assert_eq!(r.morf, perturbation_curve(&mut f, &x, &index_order, &cfg).unwrap());
    assert_eq!(r.abpc, 0.0);
    // A random order removes k of n patches: E f(x^k) = f(x) − (k/n)·S, S = Σ w⊙x.
    let s: f64 = w.iter().zip(x.iter()).map(|(a, b)| (a * b) as f64).sum();
    let scale: f64 = w.iter().zip(x.iter()).map(|(a, b)| (a * b).abs() as f64).sum();
    let f0 = r.random[0] as f64;
    for (k, &v) in r.random.iter().enumerate() {
        let expected = f0 - k as f64 / n as f64 * s;
        assert!((v as f64 - expected).abs() < 0.02 * scale, "k = {k}: {v} vs {expected}");
    }
    // E AOPC = 1/(n+1) Σ_k (k/n)·S = S/2.
    println!("random AOPC {:.4}, expected {:.4} (scale {scale:.3})", r.aopc_random, s / 2.0);
    assert!((r.aopc_random - s / 2.0).abs() < 0.01 * scale);

    // Over many models (i.i.d. weights), the constant heatmap's fixed order scores what the random
    // baseline scores: the mean difference of AOPCs vanishes.
    let cfg = PerturbationConfig { random_orders: 5, ..cfg };
    let models = 400;
    let (mut diff, mut sq, mut abs) = (0.0, 0.0, 0.0);
    for _ in 0..models {
        let w = random(&SHAPE, -1.0, 1.0, &mut rng);
        let r = region_perturbation(&mut linear(&w), &x, &constant, &cfg).unwrap();
        let d = r.aopc_morf - r.aopc_random;
        diff += d;
        sq += d * d;
        abs += r.aopc_morf.abs();
    }
    let mean = diff / models as f64;
    let sd = (sq / models as f64 - mean * mean).sqrt() / (models as f64).sqrt();
    println!("constant − random AOPC over {models} models: {mean:.4} ± {sd:.4} (mean |AOPC| {:.4})", abs / 400.0);
    assert!(mean.abs() < 4.0 * sd, "{mean} ± {sd}");
}

#[test]
fn patch_scores_with_border_patches() {
    // 5×5 with 2×2 patches: a 3×3 grid whose last column and row are partial.
    let ones = Tensor::from_elem(IxDyn(&[1, 2, 5, 5]), 1.0f32);
    let s = patch_scores(&ones, 2).unwrap();
    let sums: Vec<f64> = s.iter().map(|p| p.1).collect();
    assert_eq!(s.iter().map(|p| p.0).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());
    assert_eq!(sums, vec![8.0, 8.0, 4.0, 8.0, 8.0, 4.0, 4.0, 4.0, 2.0]);
    // Index = row · columns + column; channels are summed.
    let mut t = Tensor::zeros(IxDyn(&[1, 2, 5, 5]));
    t[[0, 1, 4, 4]] = 3.0;
    t[[0, 0, 2, 1]] = -1.0; // patch row 1, column 0
    t[[0, 1, 3, 0]] = 0.5; // same patch
    let s = patch_scores(&t, 2).unwrap();
    assert_eq!(s[8].1, 3.0);
    assert_eq!(s[3].1, -0.5);
    assert_eq!(s.iter().map(|p| p.1.abs()).sum::<f64>(), 3.5);
    assert!(patch_scores(&t, 0).is_err());
    assert!(patch_scores(&Tensor::zeros(IxDyn(&[2, 5])), 2).is_err());
}

#[test]
fn curve_length_and_determinism() {
    let mut rng = Rng::new(3);
    let shape = [1, 1, 5, 5];
    let w = random(&shape, -1.0, 1.0, &mut rng);
    let x = random(&shape, 0.0, 1.0, &mut rng);
    let rel = random(&shape, -1.0, 1.0, &mut rng);
    let mut f = linear(&w);
    let base = PerturbationConfig { patch: 2, ..PerturbationConfig::for_input(&shape) };
    for (steps, len) in [(3, 4), (9, 10), (100, 10), (0, 1)] {
        let cfg = PerturbationConfig { steps, ..base.clone() };
        assert_eq!(perturbation_curve(&mut f, &x, &(0..9).collect::<Vec<_>>(), &cfg).unwrap().len(), len);
        let r = region_perturbation(&mut f, &x, &rel, &cfg).unwrap();
        assert_eq!((r.morf.len(), r.lerf.len(), r.random.len()), (len, len, len));
    }
    for baseline in [
        Baseline::Mean(vec![0.25]),
        Baseline::UniformNoise { low: 0.0, high: 1.0, seed: 5 },
        Baseline::Black(vec![0.0]),
    ] {
        let cfg = PerturbationConfig { baseline, ..base.clone() };
        let a = region_perturbation(&mut f, &x, &rel, &cfg).unwrap();
        assert_eq!(a, region_perturbation(&mut f, &x, &rel, &cfg).unwrap());
        let other = PerturbationConfig { seed: 1, ..cfg.clone() };
        assert_ne!(a.random, region_perturbation(&mut f, &x, &rel, &other).unwrap().random);
        assert!(a.aopc_morf.is_finite() && a.aopc_lerf.is_finite() && a.aopc_random.is_finite());
        // A random baseline computed once (as `rlrp eval` does for all methods) gives the same result.
        let random = random_baseline(&mut f, &x, &cfg).unwrap();
        assert_eq!(a, region_perturbation_against(&mut f, &x, &rel, &cfg, &random).unwrap());
        let fewer = PerturbationConfig { steps: 2, ..cfg.clone() };
        assert!(region_perturbation_against(&mut f, &x, &rel, &fewer, &random).is_err());
    }
    // The mean baseline puts the mean in every removed element.
    let cfg = PerturbationConfig { baseline: Baseline::Mean(vec![0.25]), steps: 100, ..base.clone() };
    let mut sum = |x: &Tensor| -> Result<f32> { Ok(x.sum()) };
    let c = perturbation_curve(&mut sum, &x, &(0..9).collect::<Vec<_>>(), &cfg).unwrap();
    assert!((c[9] - 0.25 * 25.0).abs() < 1e-5);
    // Errors instead of panics.
    assert!(region_perturbation(&mut f, &x, &Tensor::zeros(IxDyn(&[1, 1, 5, 4])), &base).is_err());
    assert!(region_perturbation(&mut f, &x, &rel, &PerturbationConfig { random_orders: 0, ..base.clone() }).is_err());
    let three = PerturbationConfig { baseline: Baseline::Black(vec![0.0, 0.0, 0.0]), ..base };
    assert!(region_perturbation(&mut f, &x, &rel, &three).is_err());
}

#[test]
fn relative_change_and_noise_robustness() {
    let a = Tensor::from_shape_vec(IxDyn(&[1, 1, 1, 2]), vec![3.0, 4.0]).unwrap();
    let b = Tensor::from_shape_vec(IxDyn(&[1, 1, 1, 2]), vec![3.0, 5.0]).unwrap();
    let z = Tensor::zeros(IxDyn(&[1, 1, 1, 2]));
    assert_eq!(relative_l2_change(&a, &b), 0.2);
    assert_eq!(relative_l2_change(&a, &a), 0.0);
    assert_eq!(relative_l2_change(&z, &z), 0.0);
    assert_eq!(relative_l2_change(&z, &a), f64::INFINITY);
    let big = Tensor::from_elem(IxDyn(&[1, 1, 1, 2]), f32::MAX);
    assert!((relative_l2_change(&big, &z) - 1.0).abs() < 1e-12, "no overflow");
    let mut inf = a.clone();
    inf[[0, 0, 0, 1]] = f32::INFINITY;
    assert!(relative_l2_change(&inf, &a).is_nan());
    assert!(relative_l2_change(&a, &Tensor::zeros(IxDyn(&[2]))).is_nan());

    let mut rng = Rng::new(11);
    let shape = [1, 1, 28, 28];
    let x = random(&shape, 0.0, 1.0, &mut rng);
    let fixed = random(&shape, -1.0, 1.0, &mut rng);
    let mut ignores_input = |_: &Tensor| -> Result<Tensor> { Ok(fixed.clone()) };
    assert_eq!(noise_robustness(&mut ignores_input, &x, 0.01, 5, 0).unwrap(), (0.0, 0.0));
    let mut identity = |x: &Tensor| -> Result<Tensor> { Ok(x.clone()) };
    let xn = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
    for sigma in [1e-3f32, 1e-2] {
        let (mean, max) = noise_robustness(&mut identity, &x, sigma, 5, 0).unwrap();
        let expected = sigma as f64 * (x.len() as f64).sqrt() / xn;
        println!("identity, σ = {sigma}: mean {mean:.3e}, max {max:.3e}, σ√n/‖x‖ = {expected:.3e}");
        assert!(mean > 0.9 * expected && mean < 1.1 * expected && max >= mean && max < 1.2 * expected);
        assert_eq!((mean, max), noise_robustness(&mut identity, &x, sigma, 5, 0).unwrap());
    }
    assert!(noise_robustness(&mut identity, &x, 0.01, 0, 0).is_err());

    // Max-sensitivity of the identity: ‖δ‖ for δ ~ U[−r, r]ⁿ is about r·√(n/3).
    let m = max_sensitivity(&mut identity, &x, 0.2, 50, 0).unwrap();
    let expected = 0.2 * (x.len() as f64 / 3.0).sqrt() / xn;
    println!("identity max-sensitivity {m:?}, r√(n/3)/‖x‖ = {expected:.4}");
    assert!(m.quantus > expected && m.quantus < 1.1 * expected);
    assert_eq!(m.quantus, m.relative);
    assert_eq!(max_sensitivity(&mut ignores_input, &x, 0.2, 10, 0).unwrap().relative, 0.0);
}

#[test]
fn mnist_rlrp_region_perturbation() {
    let model = common::model("mnist_simple_cnn_fp32_opset13.onnx");
    let x = common::npy("golden/mnist_simple_cnn/mnist_test_00000_label7__input.npy");
    let acts = model.forward(&x).unwrap();
    let e = explain(&model, &acts, Method::Rlrp, &ExplainOptions::default(), &mut common::no_progress()).unwrap();
    let target = e.target;
    let c = conservation(&e);
    println!("target {target}, logit {:.4}, conservation {c:?}", e.logit);
    assert_eq!(c.non_finite, 0);

    let cfg = PerturbationConfig::for_input(model.input_shape());
    assert_eq!((cfg.patch, cfg.baseline.clone()), (4, Baseline::Black(vec![0.0])));
    let mut f = rlrp::eval::logit_fn(&model, target);
    let r = region_perturbation(&mut f, &x, &e.relevance, &cfg).unwrap();
    println!(
        "MNIST R-LRP, {} patches: AOPC MoRF {:.4}, LeRF {:.4}, random {:.4}, ABPC {:.4}",
        r.patches, r.aopc_morf, r.aopc_lerf, r.aopc_random, r.abpc
    );
    println!("MoRF curve {:?}", &r.morf[..10]);
    assert_eq!(r.patches, 49);
    assert_eq!(r.morf.len(), 50);
    assert_eq!(r.morf[0], e.logit);
    assert!([r.aopc_morf, r.aopc_lerf, r.aopc_random, r.abpc].iter().all(|v| v.is_finite()));
    assert!(r.aopc_morf > r.aopc_random, "MoRF {} ≤ random {}", r.aopc_morf, r.aopc_random);
    assert!(r.abpc > 0.0);

    let opts = ExplainOptions { target: Some(target), ..Default::default() };
    let mut heatmap = |x: &Tensor| -> Result<Tensor> {
        let acts = model.forward(x)?;
        Ok(explain(&model, &acts, Method::Rlrp, &opts, &mut |_, _| true)?.relevance)
    };
    let range = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) - x.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    for rel in [1e-3f32, 1e-2] {
        let (mean, max) = noise_robustness(&mut heatmap, &x, rel * range, 5, 0).unwrap();
        println!("R-LRP noise σ = {rel}·range: relative L2 change mean {mean:.3e}, max {max:.3e}");
        assert!(mean.is_finite() && max >= mean && mean > 0.0);
    }
    let m = max_sensitivity(&mut heatmap, &x, 0.2, 10, 0).unwrap();
    println!("R-LRP max-sensitivity (r = 0.2, 10 samples): {m:?}");
    assert!(m.quantus.is_finite() && m.quantus > 0.0);
}
