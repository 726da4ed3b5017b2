//! Every model in ../shared/models explains every shared image of its kind with every method, from
//! the image file through its sidecar (repository `models/`), with finite results; the int8 models'
//! R-LRP heatmaps agree with their f32 twins.
use crate::common;
use common::*;
use rlrp::explain::options_for;
use rlrp::heatmap::channel_sum;
use rlrp::model::{LoadOptions, Model};
use rlrp::preprocess::preprocess_bytes;
use rlrp::relevance::{explain, Method, MethodParams};
use rlrp::report::top_k;
use rlrp::sidecar::{find_sidecar, Layout, Sidecar};
use std::path::{Path, PathBuf};

fn sidecar_for(file: &str) -> Sidecar {
    let repo_models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    find_sidecar(&shared().join("models").join(file), &[&repo_models]).expect("sidecar").expect("sidecar exists")
}

fn images(mnist: bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(shared().join("images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("mnist") == mnist)
        .collect();
    v.sort();
    v
}

/// Label encoded in an MNIST file name: mnist_test_00000_label7.png → 7.
fn mnist_label(p: &Path) -> usize {
    let s = p.file_stem().unwrap().to_string_lossy();
    s.rsplit("label").next().unwrap().parse().unwrap()
}

fn explain_all(file: &str) {
    let sc = sidecar_for(file);
    let model = Model::from_onnx_bytes(&read(&format!("models/{file}")), &LoadOptions::default()).unwrap();
    let mnist = file.starts_with("mnist");
    let mut correct = 0;
    let imgs = images(mnist);
    for img in &imgs {
        let pre = preprocess_bytes(&std::fs::read(img).unwrap(), &sc).unwrap();
        let acts = model.forward(&pre.tensor).unwrap();
        let logits = model.logits(&acts).unwrap();
        let top = top_k(logits, 5, Some(&sc));
        if mnist && top[0].class == mnist_label(img) {
            correct += 1;
        }
        let name = img.file_name().unwrap().to_string_lossy();
        if name == "coffee.png" {
            assert_eq!(top[0].class, 967, "{file}: coffee should be espresso, got {:?}", top[0]);
        }
        if name == "chelsea.png" {
            assert!([281, 282, 285].contains(&top[0].class), "{file}: chelsea should be a cat, got {:?}", top[0]);
        }
        for method in Method::ALL {
            let opts = options_for(None, MethodParams::default(), Some(&sc));
            let e = explain(&model, &acts, method, &opts, &mut no_progress()).unwrap();
            assert_eq!(e.non_finite, 0, "{file} {name} {}: non-finite relevance", method.name());
            assert!(e.relevance.iter().any(|&v| v != 0.0), "{file} {name} {}: all-zero relevance", method.name());
            assert_eq!(e.target, top[0].class);
            if matches!(method, Method::Rlrp | Method::RlrpDivfree) {
                let l1 = e.layers.last().unwrap().l1;
                assert!(l1 > 0.0 && l1.is_finite());
                assert!(e.kappa.is_some_and(f64::is_finite));
            }
        }
    }
    if mnist {
        // The models have ≥ 97 % test accuracy; these 21 digits are all classified right by onnxruntime.
        assert!(correct + 1 >= imgs.len(), "{file}: only {correct} of {} digits right", imgs.len());
    }
    println!("{file}: {} images × {} methods explained", imgs.len(), Method::ALL.len());
}

#[test]
fn mnist_simple_cnn_models() {
    explain_all("mnist_simple_cnn_fp32_opset13.onnx");
    explain_all("mnist_simple_cnn_int8_weightonly_dq.onnx");
}

#[test]
fn mnist_vgg_mini_models() {
    explain_all("mnist_vgg_mini_fp32_opset13.onnx");
    explain_all("mnist_vgg_mini_int8_weightonly_dq.onnx");
}

#[test]
fn mnist_resnet_mini_models() {
    explain_all("mnist_resnet_mini_fp32_opset13.onnx");
    explain_all("mnist_resnet_mini_bn_fp32_opset13.onnx");
    explain_all("mnist_resnet_mini_int8_weightonly_dq.onnx");
}

#[test]
fn efficientnet_lite0_fp32() {
    explain_all("efficientnet_lite0_fp32_opset13.onnx");
}

#[test]
fn efficientnet_lite0_int8_weightonly() {
    explain_all("efficientnet_lite0_int8_weightonly_dq.onnx");
}

#[test]
fn efficientnet_lite0_int8_static_qdq() {
    explain_all("efficientnet_lite0_int8_static_qdq.onnx");
}

/// The BatchNorm-folding path: the model with 15 separate BatchNormalization nodes explains exactly
/// like the exporter-folded one.
#[test]
fn batchnorm_folding_matches_exporter_folding() {
    let folded = model("mnist_resnet_mini_fp32_opset13.onnx");
    let with_bn = model("mnist_resnet_mini_bn_fp32_opset13.onnx");
    assert!(with_bn.info.operators.get("BatchNormalization") == Some(&15));
    assert_eq!(folded.graph.weighted_layer_count(), with_bn.graph.weighted_layer_count());
    let x = npy("golden/mnist_resnet_mini/mnist_test_00001_label2__input.npy");
    for method in [Method::Rlrp, Method::RlrpDivfree, Method::Epsilon, Method::Gradient] {
        let (a, b) = (folded.forward(&x).unwrap(), with_bn.forward(&x).unwrap());
        let opts = options_for(None, MethodParams::default(), None);
        let ea = explain(&folded, &a, method, &opts, &mut no_progress()).unwrap();
        let eb = explain(&with_bn, &b, method, &opts, &mut no_progress()).unwrap();
        let err = rel_l1(&eb.relevance, &ea.relevance);
        assert!(err < 1e-4, "{}: BN-folded vs exporter-folded differ by {err:e}", method.name());
    }
}

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|&v| v as f64).sum::<f64>() / n, b.iter().map(|&v| v as f64).sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    sab / (saa * sbb).sqrt()
}

/// int8 R-LRP heatmaps vs their f32 twins (same image, same target = the f32 prediction): Pearson
/// correlation of the channel-summed maps. Printed for the closing report, asserted against a floor.
#[test]
fn int8_rlrp_heatmaps_agree_with_f32() {
    let pairs = [
        ("mnist_simple_cnn_fp32_opset13.onnx", "mnist_simple_cnn_int8_weightonly_dq.onnx", 0.99),
        ("mnist_vgg_mini_fp32_opset13.onnx", "mnist_vgg_mini_int8_weightonly_dq.onnx", 0.99),
        ("mnist_resnet_mini_fp32_opset13.onnx", "mnist_resnet_mini_int8_weightonly_dq.onnx", 0.99),
        ("efficientnet_lite0_fp32_opset13.onnx", "efficientnet_lite0_int8_weightonly_dq.onnx", 0.85),
        ("efficientnet_lite0_fp32_opset13.onnx", "efficientnet_lite0_int8_static_qdq.onnx", 0.85),
    ];
    for (f32_file, int8_file, floor) in pairs {
        let sc = sidecar_for(f32_file);
        let (mf, mq) = (model(f32_file), model(int8_file));
        for img in images(f32_file.starts_with("mnist")).iter().take(4) {
            let pre = preprocess_bytes(&std::fs::read(img).unwrap(), &sc).unwrap();
            let (af, aq) = (mf.forward(&pre.tensor).unwrap(), mq.forward(&pre.tensor).unwrap());
            let target = rlrp::relevance::argmax(mf.logits(&af).unwrap());
            for method in [Method::Rlrp, Method::RlrpDivfree] {
                let opts = options_for(Some(target), MethodParams::default(), Some(&sc));
                let ef = explain(&mf, &af, method, &opts, &mut no_progress()).unwrap();
                let eq = explain(&mq, &aq, method, &opts, &mut no_progress()).unwrap();
                let (_, _, hf) = channel_sum(&ef.relevance, Layout::Nchw);
                let (_, _, hq) = channel_sum(&eq.relevance, Layout::Nchw);
                let r = pearson(&hf, &hq);
                println!(
                    "{int8_file:<45} {:<28} {:<13} correlation with f32: {r:.4}",
                    img.file_name().unwrap().to_string_lossy(),
                    method.name()
                );
                assert!(r >= floor, "{int8_file} {}: correlation {r:.3} < {floor}", method.name());
            }
        }
    }
}

/// Static QDQ exports drop the Relu/Clip whose range the activation's QuantizeLinear already
/// saturates to. The gradient must see that saturation (Op::Saturate): passed through as an
/// identity, the gradient of Lite0 static QDQ grew by ×3–30 per layer to ‖R‖₁ ≈ 1e13·|logit|.
/// Measured with the saturation: ‖R‖₁ 0.94× the f32 model's, Pearson r 0.75 on chelsea.
#[test]
fn static_qdq_gradient_sees_the_quantiser_saturation() {
    let (f32_file, qdq_file) = ("efficientnet_lite0_fp32_opset13.onnx", "efficientnet_lite0_int8_static_qdq.onnx");
    let sc = sidecar_for(f32_file);
    let (mf, mq) = (model(f32_file), model(qdq_file));
    let img = images(false).into_iter().find(|p| p.ends_with("chelsea.png")).expect("chelsea.png");
    let pre = preprocess_bytes(&std::fs::read(img).unwrap(), &sc).unwrap();
    let (af, aq) = (mf.forward(&pre.tensor).unwrap(), mq.forward(&pre.tensor).unwrap());
    let target = rlrp::relevance::argmax(mf.logits(&af).unwrap());
    let opts = options_for(Some(target), MethodParams::default(), Some(&sc));
    let ef = explain(&mf, &af, Method::Gradient, &opts, &mut no_progress()).unwrap();
    let eq = explain(&mq, &aq, Method::Gradient, &opts, &mut no_progress()).unwrap();
    let l1 = |t: &rlrp::tensor::Tensor| t.iter().map(|v| v.abs() as f64).sum::<f64>();
    let ratio = l1(&eq.relevance) / l1(&ef.relevance);
    let r = pearson(eq.relevance.as_slice().unwrap(), ef.relevance.as_slice().unwrap());
    println!("static QDQ gradient vs f32: ‖R‖₁ ratio {ratio:.3}, Pearson r {r:.3}");
    assert!((0.5..2.0).contains(&ratio), "‖R‖₁ of the static QDQ gradient is {ratio:.3e}× the f32 model's");
    assert!(r >= 0.6, "static QDQ gradient vs f32: Pearson r {r:.3}");
}

/// The forward plan for R-LRP alone (no activation's input kept, so tract fuses Conv + Clip)
/// keeps fewer values, gives R-LRP the same map bit for bit as the plan for every method, and
/// refuses the methods it does not serve with a message naming what is missing; after
/// `keep_everything` the same model serves them all.
#[test]
fn the_rlrp_plan_gives_rlrp_the_same_map_and_refuses_other_methods() {
    for file in ["efficientnet_lite0_int8_weightonly_dq.onnx", "mnist_resnet_mini_fp32_opset13.onnx"] {
        let bytes = read(&format!("models/{file}"));
        let everything = Model::from_onnx_bytes(&bytes, &LoadOptions::default()).unwrap();
        let lean_options = LoadOptions { keep: rlrp::forward::Keep::Rlrp, ..Default::default() };
        let mut lean = Model::from_onnx_bytes(&bytes, &lean_options).unwrap();
        let graph = &everything.graph;
        let (all, rlrp_only) = (
            rlrp::forward::values_to_keep(graph, rlrp::forward::Keep::Everything),
            rlrp::forward::values_to_keep(graph, rlrp::forward::Keep::Rlrp),
        );
        assert!(rlrp_only.len() < all.len(), "{file}: {} of {} values", rlrp_only.len(), all.len());
        assert!(rlrp_only.iter().all(|v| all.contains(v)));
        assert!(lean.serves(Method::Rlrp) && lean.serves(Method::RlrpDivfree));
        assert!(!lean.serves(Method::Gradient) && !lean.serves(Method::Epsilon) && everything.serves(Method::Gamma));

        let shape = everything.input_shape().to_vec();
        let n: usize = shape.iter().product();
        let x = rlrp::tensor::Tensor::from_shape_vec(
            rlrp::tensor::ndarray::IxDyn(&shape),
            (0..n).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect(),
        )
        .unwrap();
        let opts = options_for(None, MethodParams::default(), None);
        let (full_acts, lean_acts) = (everything.forward(&x).unwrap(), lean.forward(&x).unwrap());
        assert_eq!(everything.logits(&full_acts).unwrap(), lean.logits(&lean_acts).unwrap(), "{file}");
        for method in [Method::Rlrp, Method::RlrpDivfree] {
            let a = explain(&everything, &full_acts, method, &opts, &mut no_progress()).unwrap();
            let b = explain(&lean, &lean_acts, method, &opts, &mut no_progress()).unwrap();
            assert_eq!(a.relevance, b.relevance, "{file} {method:?}");
        }
        for method in [Method::Gradient, Method::Epsilon, Method::Alphabeta] {
            let e = explain(&lean, &lean_acts, method, &opts, &mut no_progress()).unwrap_err().to_string();
            assert!(e.contains("kept only what R-LRP reads") && e.contains(method.name()), "{e}");
        }
        lean.keep_everything(&bytes).unwrap();
        let acts = lean.forward(&x).unwrap();
        for method in [Method::Gradient, Method::Epsilon] {
            let a = explain(&everything, &full_acts, method, &opts, &mut no_progress()).unwrap();
            let b = explain(&lean, &acts, method, &opts, &mut no_progress()).unwrap();
            assert_eq!(a.relevance, b.relevance, "{file} {method:?}");
        }
        let other = read("models/mnist_simple_cnn_fp32_opset13.onnx");
        let mut again = Model::from_onnx_bytes(&bytes, &lean_options).unwrap();
        assert!(again.keep_everything(&other).is_err(), "{file}: another model's bytes");
    }
}
