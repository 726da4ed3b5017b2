//! The architecture zoo (../shared/zoo, made with PyTorch independently of this project): small
//! EfficientNet, MobileNetV3, ShuffleNetV2, RegNetY, ConvNeXt, ViT and MobileViT networks with
//! squeeze-and-excitation gates, written-out SiLU/GELU, HardSwish, ReduceMean, LayerNorm (fused and
//! channels-first), attention and class tokens (RLRP.md, "Gates, global reductions, normalisations
//! and attention").
//!
//! - Our `gradient`, `gradient-x-input` and `lrp0` equal PyTorch's autograd of the original network
//!   and its conservative-propagation LRP-0 (gates, standard deviations and attention weights
//!   detached) to 1e-4 relative L1, unless float32 itself cannot reach that: then the floor is
//!   measured (our own result under a 1e-7 relative perturbation of the input) and printed, and the
//!   case is held to 4× it.
//! - Every method gives a finite, non-blank map on every model; R-LRP keeps ‖R‖₁ = |f_c| after
//!   every layer of the chain networks (RLRP.md property 1).
use crate::common;
use common::*;
use rlrp::model::graph::Op;
use rlrp::model::{LoadOptions, Model};
use rlrp::relevance::{explain, ExplainOptions, Method};
use rlrp::tensor::Tensor;

#[derive(serde::Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    model_file: String,
    input_file: String,
    output_file: String,
    method: String,
    target_class: usize,
    logit: f64,
}

const MODELS: &[&str] = &[
    "test_efficientnet",
    "mobilenetv3_small_050",
    "shufflenet_v2_x0_5",
    "regnety_002",
    "test_convnext",
    "test_vit",
    "mobilevit_xxs",
];

fn manifest() -> Manifest {
    serde_json::from_slice(&read("zoo/manifest.json")).expect("zoo manifest")
}

fn load(name: &str) -> Model {
    let bytes = read(&format!("zoo/{name}.onnx"));
    Model::from_onnx_bytes(&bytes, &LoadOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn relevance(model: &Model, x: &Tensor, method: Method, target: usize) -> rlrp::relevance::Explanation {
    let acts = model.forward(x).expect("forward");
    let opts = ExplainOptions { target: Some(target), ..Default::default() };
    explain(model, &acts, method, &opts, &mut no_progress()).unwrap_or_else(|e| panic!("{method:?}: {e}"))
}

/// x ⊙ (1 + 1e-7·noise): a perturbation at float32 rounding level.
fn perturbed(x: &Tensor) -> Tensor {
    let mut rng = rng::Rng::new(7);
    let noise = rng.sym_vec(x.len(), 1.0);
    let mut y = x.clone();
    y.iter_mut().zip(noise).for_each(|(v, n)| *v *= 1.0 + 1e-7 * n);
    y
}

#[test]
fn zoo_references_gradient_gradient_x_input_lrp0() {
    let m = manifest();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for name in MODELS {
        let model = load(name);
        for case in m.cases.iter().filter(|c| c.model_file == format!("{name}.onnx")) {
            let x = npy(&format!("zoo/{}", case.input_file));
            let acts = model.forward(&x).expect("forward");
            let logit = model.logits(&acts).unwrap()[case.target_class] as f64;
            let logit_err = (logit - case.logit).abs() / case.logit.abs().max(1e-12);
            let method = match case.method.as_str() {
                "gradient" => Method::Gradient,
                "gradient_x_input" => Method::GradientXInput,
                "lrp0_cp" => Method::Lrp0,
                other => panic!("unknown zoo method {other}"),
            };
            let ours = relevance(&model, &x, method, case.target_class);
            let reference = npy(&format!("zoo/{}", case.output_file));
            let err = rel_l1(&ours.relevance, &reference);
            let mut tolerance = 1e-4;
            let mut floor_note = String::new();
            if err > tolerance {
                let moved = relevance(&model, &perturbed(&x), method, case.target_class);
                let floor = rel_l1(&moved.relevance, &ours.relevance);
                tolerance = tolerance.max(4.0 * floor);
                floor_note = format!("  float32 floor {floor:.1e}");
            }
            let line = format!(
                "{:<45} rel L1 {err:.2e} (tolerance {tolerance:.1e}){floor_note}  logit rel diff {logit_err:.1e}",
                case.output_file
            );
            if err.is_nan() || err > tolerance || logit_err > 1e-4 {
                failures.push(line.clone());
            }
            report.push(line);
        }
    }
    println!("{}", report.join("\n"));
    assert_eq!(report.len(), 3 * MODELS.len(), "every zoo model has three references");
    assert!(failures.is_empty(), "cases above tolerance:\n{}", failures.join("\n"));
}

#[test]
fn zoo_every_method_is_finite_and_r_lrp_keeps_its_mass() {
    let m = manifest();
    for name in MODELS {
        let model = load(name);
        let case = m.cases.iter().find(|c| c.model_file == format!("{name}.onnx")).expect("a case");
        let x = npy(&format!("zoo/{}", case.input_file));
        // Property 1 holds between merges: after every layer of a chain (gate branches take no
        // relevance). Skip splits, and signed relevance summed where branches meet again (ShuffleNet's
        // two branches from one tensor), change ‖R‖₁.
        let is_chain =
            !model.graph.nodes.iter().any(|n| matches!(n.op, Op::Add { .. } | Op::Concat { .. } | Op::Slice(_)));
        for method in Method::ALL {
            let e = relevance(&model, &x, method, case.target_class);
            assert_eq!(e.non_finite, 0, "{name} {method:?}: non-finite relevance");
            assert!(e.relevance.iter().all(|v| v.is_finite()), "{name} {method:?}");
            assert!(e.relevance.iter().any(|&v| v != 0.0), "{name} {method:?}: a blank map");
            if matches!(method, Method::Rlrp | Method::RlrpDivfree) && is_chain {
                let mass = e.start as f64;
                for layer in &e.layers {
                    let rel = (layer.l1 - mass).abs() / mass;
                    assert!(
                        rel < 1e-4,
                        "{name} {method:?}: ‖R‖₁ = {} after {} ({}), M = {mass}",
                        layer.l1,
                        layer.node,
                        layer.op
                    );
                }
            }
        }
    }
}

#[test]
fn zoo_patterns_are_recognised() {
    // What the importer made of each architecture: fused activations, gates, attention, norms.
    let count = |model: &Model, f: &dyn Fn(&Op) -> bool| model.graph.nodes.iter().filter(|n| f(&n.op)).count();
    let fused = |name: &'static str| move |op: &Op| matches!(op, Op::Activation(rlrp::model::graph::Activation::Fused(f)) if f.name == name);
    let efficientnet = load("test_efficientnet");
    assert_eq!(count(&efficientnet, &fused("SiLU")), 11, "SiLU as x·Sigmoid(x)");
    assert_eq!(count(&efficientnet, &|op| matches!(op, Op::Gate { divide: false, .. })), 2, "SE gates");
    let convnext = load("test_convnext");
    assert_eq!(count(&convnext, &fused("GELU (tanh)")), 9, "GELU, tanh form");
    assert_eq!(count(&convnext, &|op| matches!(op, Op::LayerNorm(_))), 14);
    let vit = load("test_vit");
    assert_eq!(count(&vit, &fused("GELU")), 6, "GELU, Erf form");
    assert_eq!(count(&vit, &|op| matches!(op, Op::MatMul { weights: Some(_), .. })), 6, "attention A·V");
    assert_eq!(count(&vit, &|op| matches!(op, Op::Softmax { .. })), 6);
    assert_eq!(count(&vit, &|op| matches!(op, Op::Gather { .. })), 1, "the class token");
    let mobilenet = load("mobilenetv3_small_050");
    assert_eq!(count(&mobilenet, &|op| matches!(op, Op::Gate { .. })), 9, "SE gates (HardSigmoid)");
}

/// RLRP.md property 3 on the zoo's ReLU network (ShuffleNetV2: Conv, ReLU, MaxPool, channel split
/// and shuffle, ReduceMean): with every bias zeroed, R-LRP's normalised heatmap does not change when
/// the input is scaled.
#[test]
fn zoo_bias_free_relu_network_is_scale_invariant_under_r_lrp() {
    use common::onnx_builder::{decode, edit_initializer};
    let mut proto = decode(&read("zoo/shufflenet_v2_x0_5.onnx"));
    let graph = proto.graph.as_ref().unwrap();
    let identity_source = |name: &str| -> String {
        let mut at = name.to_string();
        while let Some(n) = graph.node.iter().find(|n| n.op_type == "Identity" && n.output.first() == Some(&at)) {
            at = n.input[0].clone();
        }
        at
    };
    let mut biases: Vec<String> = graph
        .node
        .iter()
        .filter(|n| matches!(n.op_type.as_str(), "Conv" | "Gemm"))
        .filter_map(|n| n.input.get(2).filter(|s| !s.is_empty()).map(|b| identity_source(b)))
        .collect();
    biases.sort();
    biases.dedup();
    assert!(!biases.is_empty(), "ShuffleNet has biases (shared initialisers behind Identity nodes)");
    for b in &biases {
        edit_initializer(&mut proto, b, |v| v.iter_mut().for_each(|x| *x = 0.0));
    }
    let model = Model::from_onnx_bytes(&prost::Message::encode_to_vec(&proto), &LoadOptions::default()).unwrap();
    let x = npy("zoo/shufflenet_v2_x0_5_x.npy");
    let target = 510;
    let normalised = |x: &Tensor| {
        let e = relevance(&model, x, Method::Rlrp, target);
        let l1: f64 = e.relevance.iter().map(|v| v.abs() as f64).sum();
        e.relevance.mapv(|v| (v as f64 / l1) as f32)
    };
    let base = normalised(&x);
    for s in [0.25f32, 3.0] {
        let scaled = normalised(&x.mapv(|v| v * s));
        let err = rel_l1(&scaled, &base);
        assert!(err < 1e-4, "scaling the input by {s} moved the normalised R-LRP heatmap by {err:.2e}");
    }
}
