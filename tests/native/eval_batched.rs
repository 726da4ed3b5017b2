//! The fast evaluation path (issue 12): the logits-only batched forward pass gives the logits of
//! the explaining forward pass, and a batched (or cropped), multi-threaded `evaluate` gives the
//! numbers of the sequential one; a model that cannot take a batch falls back with a note instead of failing.
use crate::common;

use common::onnx_builder::OnnxBuilder;
use rlrp::eval::run::{choose_logit_plan, evaluate, EvalConfig};
use rlrp::eval::Rng;
use rlrp::model::{LoadOptions, Model};
use rlrp::relevance::Method;
use rlrp::tensor::{ndarray::IxDyn, Tensor};

const DIGITS: [&str; 2] = ["mnist_test_00000_label7", "mnist_test_00001_label2"];

fn digits(model_dir: &str) -> Vec<Tensor> {
    DIGITS.iter().map(|d| common::npy(&format!("golden/{model_dir}/{d}__input.npy"))).collect()
}

#[test]
fn batched_logits_equal_the_explaining_forward_pass() {
    for (file, dir) in [
        ("mnist_resnet_mini_fp32_opset13.onnx", "mnist_resnet_mini"),
        ("mnist_vgg_mini_int8_weightonly_dq.onnx", "mnist_vgg_mini"),
    ] {
        let model = common::model(file);
        let bytes = common::read(&format!("models/{file}"));
        // Five inputs through batches of 4: one full batch and one padded.
        let mut rng = Rng::new(3);
        let mut inputs = digits(dir);
        for _ in 0..3 {
            inputs.push(Tensor::from_shape_fn(IxDyn(model.input_shape()), |_| rng.uniform_in(-0.5, 2.5) as f32));
        }
        for plan in [model.logit_plan(&bytes, 4).unwrap(), model.logit_plan(&bytes, 1).unwrap()] {
            let batched = plan.run(&inputs).unwrap();
            assert_eq!(batched.len(), 5);
            for (x, got) in inputs.iter().zip(&batched) {
                let acts = model.forward(x).unwrap();
                let want = model.logits(&acts).unwrap();
                let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                for (a, b) in want.iter().zip(got) {
                    assert!((a - b).abs() <= 1e-5 * scale, "{file} (batch {}): {want:?} vs {got:?}", plan.batch());
                }
            }
        }
    }
}

fn small_config(model: &Model) -> EvalConfig {
    let mut cfg = EvalConfig::new(model, None);
    cfg.methods = vec![Method::Rlrp, Method::EpsilonPlusFlat, Method::Gradient];
    cfg.perturbation.steps = 20;
    cfg.perturbation.random_orders = 2;
    cfg.noise_seeds = 2;
    cfg.sensitivity_samples = 2;
    cfg
}

/// Batches of 8, and one input at a time cropped around each changed patch (two threads sharing
/// the cropped passes, each with its own kept pass).
#[test]
fn batched_parallel_evaluation_equals_sequential() {
    for batch in [8, 1] {
        parallel_evaluation_equals_sequential(batch);
    }
}

fn parallel_evaluation_equals_sequential(batch: usize) {
    let file = "mnist_resnet_mini_fp32_opset13.onnx";
    let model = common::model(file);
    let bytes = common::read(&format!("models/{file}"));
    let inputs = digits("mnist_resnet_mini");
    let names: Vec<String> = DIGITS.iter().map(|d| d.to_string()).collect();
    let cfg = small_config(&model);
    let (plan, note) = choose_logit_plan(&model, &bytes, batch, cfg.perturbation.patch, &inputs[0]);
    assert!(note.is_none(), "{note:?}");
    assert_eq!(plan.as_ref().map(|p| p.batch()), Some(batch));
    if let Some(rlrp::forward::LogitPasses::Cropped(p)) = &plan {
        assert!(p.crops(), "the MNIST ResNet has a local prefix to crop");
    }
    let sequential = evaluate(&model, None, &inputs, &names, &cfg, 1, &|_, _| {}).unwrap();
    let fast = evaluate(&model, plan.as_ref(), &inputs, &names, &cfg, 2, &|_, _| {}).unwrap();
    assert_eq!(sequential.len(), 6);
    assert_eq!(fast.len(), sequential.len());
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * (1.0 + a.abs().max(b.abs()));
    for (s, f) in sequential.iter().zip(&fast) {
        assert_eq!((s.image, s.method, s.target), (f.image, f.method, f.target));
        let (ps, pf) = (&s.perturbation, &f.perturbation);
        for (a, b) in [
            (ps.aopc_morf, pf.aopc_morf),
            (ps.aopc_lerf, pf.aopc_lerf),
            (ps.aopc_random, pf.aopc_random),
            (ps.abpc, pf.abpc),
        ] {
            assert!(close(a, b), "{:?} image {}: {a} vs {b}", s.method, s.image);
        }
        for (curve_s, curve_f) in [(&ps.morf, &pf.morf), (&ps.lerf, &pf.lerf), (&ps.random, &pf.random)] {
            assert_eq!(curve_s.len(), 21);
            for (a, b) in curve_s.iter().zip(curve_f.iter()) {
                assert!(close(*a as f64, *b as f64), "{:?}: {curve_s:?} vs {curve_f:?}", s.method);
            }
        }
        // Robustness runs the same explanations either way.
        assert_eq!(s.noise, f.noise);
        assert_eq!(s.conservation, f.conservation);
    }
    if let Some(rlrp::forward::LogitPasses::Cropped(p)) = &plan {
        assert!(p.cropped_passes() > 100, "{} passes cropped", p.cropped_passes());
    }
}

/// x [1, 1, 4, 4] → Conv 2×3×3 → `flatten` → Gemm → 3 logits.
fn conv_gemm(flatten: impl FnOnce(&mut OnnxBuilder)) -> Vec<u8> {
    let mut b = OnnxBuilder::new("x", &[1, 1, 4, 4]);
    let mut rng = Rng::new(5);
    let mut draw = |n: usize| (0..n).map(|_| rng.uniform_in(-1.0, 1.0) as f32).collect::<Vec<_>>();
    b.init("w", &[2, 1, 3, 3], &draw(18));
    b.init("bias", &[2], &draw(2));
    b.init("fc", &[3, 8], &draw(24));
    b.init("fc_b", &[3], &draw(3));
    b.node("Conv", &["x", "w", "bias"], "c", vec![]);
    flatten(&mut b);
    b.node("Gemm", &["f", "fc", "fc_b"], "y", vec![common::onnx_builder::attr::int("transB", 1)]);
    b.output("y", &[1, 3]);
    b.build()
}

fn ramp() -> Tensor {
    Tensor::from_shape_fn(IxDyn(&[1, 1, 4, 4]), |ix| (ix[2] * 4 + ix[3]) as f32 / 16.0)
}

#[test]
fn a_reshape_to_a_literal_batch_of_one_is_batched() {
    // PyTorch's x.view(1, -1), as EfficientNet-Lite0 has it: Reshape to the literal [1, 8].
    let bytes = conv_gemm(|b| {
        b.init_i64("flat", &[2], &[1, 8]);
        b.node("Reshape", &["c", "flat"], "f", vec![]);
    });
    let model = Model::from_onnx_bytes(&bytes, &LoadOptions::default()).unwrap();
    let (plan, note) = choose_logit_plan(&model, &bytes, 8, 4, &ramp());
    assert!(note.is_none(), "{note:?}");
    assert_eq!(plan.unwrap().batch(), 8);
}

#[test]
fn a_model_for_batch_one_falls_back_with_a_note() {
    // Flatten from axis 0 puts the batch into the features: [B, 2, 2, 2] → [1, 8·B], which the
    // Gemm refuses for B > 1.
    let bytes = conv_gemm(|b| {
        b.node("Flatten", &["c"], "f", vec![common::onnx_builder::attr::int("axis", 0)]);
    });
    let model = Model::from_onnx_bytes(&bytes, &LoadOptions::default()).unwrap();
    let x = ramp();
    let (plan, note) = choose_logit_plan(&model, &bytes, 8, 4, &x);
    let note = note.expect("a note saying the batch failed");
    assert!(note.contains("batch 8 failed"), "{note}");
    // The batch-1 logits-only plan still works and agrees.
    let plan = plan.expect("the batch-1 plan");
    assert_eq!(plan.batch(), 1);
    let want = model.logits(&model.forward(&x).unwrap()).unwrap().to_vec();
    let got = plan.run(std::slice::from_ref(&x)).unwrap().remove(0);
    for (a, b) in want.iter().zip(&got) {
        assert!((a - b).abs() < 1e-5, "{want:?} vs {got:?}");
    }
    // Batch 0 asks for no plan at all.
    assert!(matches!(choose_logit_plan(&model, &bytes, 0, 4, &x), (None, None)));
}
