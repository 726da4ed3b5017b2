//! The properties every implementation must show (RLRP.md, "Properties every implementation must show in
//! tests"), on the shared real models and on small ONNX networks written by `common::onnx_builder`:
//!
//! 1. ‖R^(l)‖₁ = M = |f_c(x)| at every layer between skip merges (and, per layer, equal to the independent
//!    oracle's norms in `golden/*/*__layer_l1.json`);
//! 2. no NaN/Inf for any input, including the oracle's constructed cases (a pre-activation of 1e-7 fed by
//!    inputs of 1000, z = 0 with a zero logit, a skip add with y = 2⁻²⁴), zero and ×1000 inputs;
//! 3. on bias-free ReLU networks without skips the normalised heatmap does not change when the input is
//!    scaled by s > 0;
//! 6. a negative target logit gives the same heatmap and sign convention as a positive one;
//!
//! plus the start mass (start = |f_c|) and κ = ΣR_input / f_c. Property 4 lives in tests/native/kernels.rs,
//! property 5 in tests/native/golden.rs.
use crate::common;
use common::onnx_builder::{self, attr, OnnxBuilder, Rng};
use common::*;
use rlrp::model::graph::Op;
use rlrp::model::{LoadOptions, Model};
use rlrp::relevance::{explain, ExplainOptions, Explanation, Family, Method, MethodParams};
use rlrp::tensor::{ndarray, Tensor};
use std::collections::HashMap;

const SIMPLE_CNN: &str = "mnist_simple_cnn_fp32_opset13.onnx";
const VGG_MINI: &str = "mnist_vgg_mini_fp32_opset13.onnx";
const RESNET_MINI: &str = "mnist_resnet_mini_fp32_opset13.onnx";
const RESNET_MINI_BN: &str = "mnist_resnet_mini_bn_fp32_opset13.onnx";
const LITE0: &str = "efficientnet_lite0_fp32_opset13.onnx";
const RLRP_BOTH: [Method; 2] = [Method::Rlrp, Method::RlrpDivfree];

// ---------------------------------------------------------------------------------------------
// Helpers.

fn load(bytes: &[u8]) -> Model {
    Model::from_onnx_bytes(bytes, &LoadOptions::default()).unwrap_or_else(|e| panic!("loading: {e}"))
}

fn tensor(shape: &[usize], values: Vec<f32>) -> Tensor {
    Tensor::from_shape_vec(ndarray::IxDyn(shape), values).expect("shape")
}

fn filled(shape: &[usize], v: f32) -> Tensor {
    Tensor::from_elem(ndarray::IxDyn(shape), v)
}

fn run(model: &Model, input: &Tensor, method: Method, target: Option<usize>) -> Explanation {
    let acts = model.forward(input).unwrap_or_else(|e| panic!("forward: {e}"));
    let opts = ExplainOptions { target, ..Default::default() };
    explain(model, &acts, method, &opts, &mut no_progress()).unwrap_or_else(|e| panic!("{}: {e}", method.name()))
}

fn logits(model: &Model, input: &Tensor) -> Vec<f32> {
    let acts = model.forward(input).unwrap_or_else(|e| panic!("forward: {e}"));
    model.logits(&acts).expect("logits").to_vec()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.iter().copied().collect()
}

fn l1(t: &Tensor) -> f64 {
    t.iter().map(|v| v.abs() as f64).sum()
}

fn max_abs(t: &Tensor) -> f64 {
    t.iter().fold(0.0, |m, v| m.max(v.abs() as f64))
}

/// max |a − b| / max |b|.
fn max_diff_over_max(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let d = a.iter().zip(b.iter()).fold(0.0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs()));
    d / max_abs(b).max(1e-300)
}

/// R / ‖R‖₁.
fn normalised(t: &Tensor) -> Tensor {
    let n = l1(t);
    t.mapv(|v| (v as f64 / n) as f32)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

fn mnist_digit(k: usize) -> Tensor {
    let all = npy("images/mnist_eval_500_x.npy");
    let px: Vec<f32> = all.iter().skip(k * 784).take(784).map(|p| p / 255.0).collect();
    tensor(&[1, 1, 28, 28], px)
}

fn golden_input(model: &str, case: &str) -> Tensor {
    npy(&format!("golden/{model}/{case}__input.npy"))
}

fn assert_all_finite(e: &Explanation, what: &str) {
    assert_eq!(e.non_finite, 0, "{what}: {} non-finite relevance values were zeroed", e.non_finite);
    assert!(e.relevance.iter().all(|v| v.is_finite()), "{what}: non-finite relevance");
    assert!(e.logit.is_finite() && e.start.is_finite(), "{what}: non-finite logit/start");
    for l in &e.layers {
        assert!(l.l1.is_finite() && l.sum.is_finite(), "{what}: non-finite mass at layer {}", l.node);
    }
}

/// Largest relative change of ‖R‖₁ across the nodes that conserve it by construction: every node that is
/// not a skip Add, has one computed input, and is the only reader of that input (so the relevance at the
/// input is exactly this node's message; no fan-out sum in between). Returns (max deviation, node count).
fn max_single_reader_dev(model: &Model, e: &Explanation) -> (f64, usize) {
    let g = &model.graph;
    let by_node: HashMap<&str, f64> = e.layers.iter().map(|l| (l.node.as_str(), l.l1)).collect();
    let input_l1 = e.layers.last().expect("input entry").l1;
    let value_l1 = |v: usize| -> f64 {
        if v == g.input {
            input_l1
        } else {
            by_node[g.nodes[g.producer(v).expect("producer")].name.as_str()]
        }
    };
    let readers = g.reader_counts();
    let (mut worst, mut count) = (0.0f64, 0);
    for n in &g.nodes {
        if matches!(n.op, Op::Add { .. }) || n.inputs.len() != 1 || readers[n.inputs[0]] != 1 {
            continue;
        }
        let out = by_node[n.name.as_str()];
        let inp = value_l1(n.inputs[0]);
        worst = worst.max((inp - out).abs() / out.max(1e-30));
        count += 1;
    }
    (worst, count)
}

// ---------------------------------------------------------------------------------------------
// Constructed networks.

/// x [1, 2] → Gemm(W1, B1) → Relu → Gemm(W2, B2) → logits [1, 2]. Weights are `[in, out]` row-major.
fn dense_2_2_2(w1: [f32; 4], b1: [f32; 2], w2: [f32; 4], b2: [f32; 2]) -> Vec<u8> {
    let mut b = OnnxBuilder::new("x", &[1, 2]);
    b.init("W1", &[2, 2], &w1);
    b.init("B1", &[2], &b1);
    b.init("W2", &[2, 2], &w2);
    b.init("B2", &[2], &b2);
    b.node("Gemm", &["x", "W1", "B1"], "z", vec![]);
    b.node("Relu", &["z"], "h", vec![]);
    b.node("Gemm", &["h", "W2", "B2"], "logits", vec![]);
    b.output("logits", &[1, 2]);
    b.build()
}

/// The oracle's `dense_z_1e-7` case (manifest.json → oracle_constructed_cases_property2), reconstructed
/// from its numbers: x = [1000, 1000]; hidden neuron 0 has weights [1, −1] and bias 1e-7, so
/// z₀ = 1000 − 1000 + 1e-7 = 1e-7 (inputs of 1000, pre-activation 1e-7); hidden neuron 1 has weights
/// [1e-3, 0] (z₁ = 1); the logit is 1e7·h₀ + 1·h₁ = 2 (M = 2). This reproduces all three published
/// results bit for bit: R-LRP [1.0004997, −0.9995002] (= 2·[1001, −1000]/2001 in f32), and Zennit
/// Epsilon(1e-6) ±909090496 (= 1000·(2/2.000001)/(1e-7 + 1e-6) in f32; neuron 1 adds 1.0, below the f32
/// spacing of 64 there).
fn dense_z_1e7() -> Vec<u8> {
    dense_2_2_2([1.0, 1e-3, -1.0, 0.0], [1e-7, 0.0], [1e7, 0.0, 1.0, 0.0], [0.0, 0.0])
}

/// The oracle's `dense_z_0_and_logit_0`: z₀ = 1000 − 1000 = 0 exactly, z₁ = −1 (dead), logit 0.
fn dense_z_0_logit_0() -> Vec<u8> {
    dense_2_2_2([1.0, -1e-3, -1.0, 0.0], [0.0, 0.0], [1e7, 0.0, 1.0, 0.0], [0.0, 0.0])
}

/// The oracle's `skip_y_6e-8`, reconstructed: y = x + x·W with W = −(1 − 2⁻²⁴)·I and x = [1, 1], so the
/// skip add has a = 1, b = −(1 − 2⁻²⁴) and y = 2⁻²⁴ ≈ 5.96e-8 in both elements; the logits are y itself
/// (two equal logits: the target is class 0, first on ties) and M = 2⁻²⁴. The paper form gives
/// R_in = [2, 0] (max|R|/M = 2²⁵ = 33554432), the division-free form [2⁻²⁴, 0] (max|R|/M = 1), exactly
/// the oracle's numbers.
fn skip_y_6e8() -> Vec<u8> {
    let k = -(1.0 - 2f32.powi(-24));
    let mut b = OnnxBuilder::new("x", &[1, 2]);
    b.init("W", &[2, 2], &[k, 0.0, 0.0, k]);
    b.named_node("branch", "Gemm", &["x", "W"], &["bx"], vec![]);
    b.named_node("skip", "Add", &["x", "bx"], &["y"], vec![]);
    b.output("y", &[1, 2]);
    b.build()
}

/// A small CNN on x [1, 2, 12, 12]: Conv 3×3 (4, pad 1) → Relu → pool 2×2 → Conv 3×3 (6, stride 2, pad 1)
/// → Relu → Flatten → Gemm 16 → Relu → Gemm 5. `pool` is "MaxPool" or "AveragePool"; without `bias` no
/// layer has a bias input.
fn small_cnn(seed: u64, bias: bool, pool: &str) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut b = OnnxBuilder::new("x", &[1, 2, 12, 12]);
    let w1 = rng.sym_vec(4 * 2 * 9, 0.5);
    b.init("W1", &[4, 2, 3, 3], &w1);
    let w2 = rng.sym_vec(6 * 4 * 9, 0.3);
    b.init_raw("W2", &[6, 4, 3, 3], &w2);
    let w3 = rng.sym_vec(54 * 16, 0.3);
    b.init("W3", &[54, 16], &w3);
    let w4 = rng.sym_vec(16 * 5, 0.5);
    b.init("W4", &[16, 5], &w4);
    let (i1, i2, i3, i4): (Vec<&str>, Vec<&str>, Vec<&str>, Vec<&str>) = if bias {
        let v = rng.sym_vec(4, 0.1);
        b.init("B1", &[4], &v);
        let v = rng.sym_vec(6, 0.1);
        b.init("B2", &[6], &v);
        let v = rng.sym_vec(16, 0.1);
        b.init("B3", &[16], &v);
        let v = rng.sym_vec(5, 0.1);
        b.init("B4", &[5], &v);
        (vec!["x", "W1", "B1"], vec!["p", "W2", "B2"], vec!["f", "W3", "B3"], vec!["h3", "W4", "B4"])
    } else {
        (vec!["x", "W1"], vec!["p", "W2"], vec!["f", "W3"], vec!["h3", "W4"])
    };
    b.node("Conv", &i1, "c1", vec![attr::ints("kernel_shape", &[3, 3]), attr::ints("pads", &[1, 1, 1, 1])]);
    b.node("Relu", &["c1"], "h1", vec![]);
    b.node(pool, &["h1"], "p", vec![attr::ints("kernel_shape", &[2, 2]), attr::ints("strides", &[2, 2])]);
    b.node(
        "Conv",
        &i2,
        "c2",
        vec![attr::ints("kernel_shape", &[3, 3]), attr::ints("strides", &[2, 2]), attr::ints("pads", &[1, 1, 1, 1])],
    );
    b.node("Relu", &["c2"], "h2", vec![]);
    b.node("Flatten", &["h2"], "f", vec![attr::int("axis", 1)]);
    b.node("Gemm", &i3, "g3", vec![]);
    b.node("Relu", &["g3"], "h3", vec![]);
    b.node("Gemm", &i4, "logits", vec![attr::float("alpha", 1.0), attr::float("beta", 1.0)]);
    b.output("logits", &[1, 5]);
    b.build()
}

/// A residual block on x [1, 2, 8, 8]: a = Relu(Conv(x)); y = Conv(Relu(Conv(a))) + a; Relu →
/// GlobalAveragePool → Flatten → Gemm 3.
fn small_resnet(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut b = OnnxBuilder::new("x", &[1, 2, 8, 8]);
    let conv = vec![attr::ints("kernel_shape", &[3, 3]), attr::ints("pads", &[1, 1, 1, 1])];
    for (name, cin) in [("1", 2usize), ("2", 4), ("3", 4)] {
        let w = rng.sym_vec(4 * cin * 9, 0.4);
        b.init(&format!("W{name}"), &[4, cin as i64, 3, 3], &w);
        let v = rng.sym_vec(4, 0.1);
        b.init(&format!("B{name}"), &[4], &v);
    }
    let w = rng.sym_vec(4 * 3, 0.8);
    b.init("W4", &[4, 3], &w);
    b.init("B4", &[3], &[0.1, -0.2, 0.05]);
    b.node("Conv", &["x", "W1", "B1"], "c1", conv.clone());
    b.node("Relu", &["c1"], "a", vec![]);
    b.node("Conv", &["a", "W2", "B2"], "c2", conv.clone());
    b.node("Relu", &["c2"], "h2", vec![]);
    b.node("Conv", &["h2", "W3", "B3"], "c3", conv);
    b.node("Add", &["c3", "a"], "y", vec![]);
    b.node("Relu", &["y"], "hy", vec![]);
    b.node("GlobalAveragePool", &["hy"], "gap", vec![]);
    b.node("Flatten", &["gap"], "f", vec![]);
    b.node("Gemm", &["f", "W4", "B4"], "logits", vec![]);
    b.output("logits", &[1, 3]);
    b.build()
}

/// One linear layer: f = x·W + b over x [1, 6], 2 classes (no ReLU at all).
fn linear_net(w: &[f32], bias: [f32; 2]) -> Vec<u8> {
    let mut b = OnnxBuilder::new("x", &[1, 6]);
    b.init("W", &[6, 2], w);
    b.init("B", &[2], &bias);
    b.node("Gemm", &["x", "W", "B"], "logits", vec![]);
    b.output("logits", &[1, 2]);
    b.build()
}

/// A model whose output Gemm has its bias (and, with `negate_weights`, its weights) edited: the twin of
/// property 6. `shift` is added to the bias of class `c`.
fn output_layer_twin(bytes: &[u8], c: usize, shift: f32, negate_weights: bool) -> Vec<u8> {
    use prost::Message;
    let mut proto = onnx_builder::decode(bytes);
    let node = onnx_builder::output_node(&proto).clone();
    assert_eq!(node.op_type, "Gemm", "the output node must be a Gemm");
    onnx_builder::edit_initializer(&mut proto, &node.input[2], |b| {
        b[c] += shift;
        if negate_weights {
            b.iter_mut().for_each(|v| *v = -*v);
        }
    });
    if negate_weights {
        onnx_builder::edit_initializer(&mut proto, &node.input[1], |w| w.iter_mut().for_each(|v| *v = -*v));
    }
    proto.encode_to_vec()
}

// ---------------------------------------------------------------------------------------------
// Property 1: ‖R^(l)‖₁ = M at every layer between skip merges.

/// Chains (no skip): every entry of `layers`, from the logits down to the input, has ‖R‖₁ = M.
fn check_chain_every_layer(model: &Model, input: &Tensor, what: &str) -> f64 {
    let mut worst = 0.0f64;
    for method in RLRP_BOTH {
        let e = run(model, input, method, None);
        assert_all_finite(&e, what);
        assert_eq!(e.layers.len(), model.graph.nodes.len() + 1, "{what}: every node and the input are listed");
        let m = e.start as f64;
        assert_eq!(m, e.logit.abs() as f64);
        for l in &e.layers {
            let d = rel(l.l1, m);
            assert!(
                d <= 1e-4,
                "{what} {}: ‖R‖₁ = {} at {} ({}), M = {m} (rel. dev. {d:.2e})",
                method.name(),
                l.l1,
                l.node,
                l.op
            );
            worst = worst.max(d);
        }
    }
    worst
}

#[test]
fn p1_chain_models_every_layer_has_mass_m() {
    let mut report = Vec::new();
    let int8 = ["mnist_simple_cnn_int8_weightonly_dq.onnx", "mnist_vgg_mini_int8_weightonly_dq.onnx"];
    for file in [SIMPLE_CNN, VGG_MINI, int8[0], int8[1]] {
        let model = model(file);
        let name = file.split("_fp32").next().unwrap().split("_int8").next().unwrap();
        let mut inputs = vec![
            ("golden 00000", golden_input(name, "mnist_test_00000_label7")),
            ("golden 00001", golden_input(name, "mnist_test_00001_label2")),
        ];
        for k in [0, 1, 2, 3, 4, 5, 6, 7] {
            inputs.push(("eval digit", mnist_digit(k * 37)));
        }
        let mut worst = 0.0f64;
        for (label, x) in &inputs {
            worst = worst.max(check_chain_every_layer(&model, x, &format!("{file} {label}")));
        }
        report.push(format!(
            "{file}: {} inputs × 2 variants, max |‖R‖₁ − M| / M over all layers = {worst:.2e}",
            inputs.len()
        ));
    }
    // Constructed chains: MaxPool and AveragePool variants, with and without biases.
    let mut worst = 0.0f64;
    for (seed, bias, pool) in
        [(1, true, "MaxPool"), (2, true, "AveragePool"), (3, false, "MaxPool"), (4, false, "AveragePool")]
    {
        let model = load(&small_cnn(seed, bias, pool));
        for s in 0..4 {
            let x = tensor(&[1, 2, 12, 12], Rng::new(100 + s).sym_vec(288, 1.0));
            worst = worst.max(check_chain_every_layer(&model, &x, &format!("small_cnn({seed}, {bias}, {pool})")));
        }
    }
    report.push(format!("constructed CNNs: 4 nets × 4 inputs × 2 variants, max rel. dev = {worst:.2e}"));
    println!("{}", report.join("\n"));
}

/// A chain through every single-input operator with a rule: x [1, 3, 6, 6] → Pad (constant) → Conv →
/// BatchNormalization (folded into the Conv) → Relu → Mul and Add by per-channel constants (diagonal
/// linear layers) → LeakyRelu → AveragePool → Transpose → Reshape → Gemm → Tanh → Clip → Dropout → Gemm
/// (transB) → Softmax (removed).
fn every_op_chain(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut b = OnnxBuilder::new("x", &[1, 3, 6, 6]);
    b.init_i64("pads", &[8], &[0, 0, 1, 1, 0, 0, 1, 1]);
    let w = rng.sym_vec(4 * 3 * 9, 0.4);
    b.init("Wc", &[4, 3, 3, 3], &w);
    let v = rng.sym_vec(4, 0.1);
    b.init("Bc", &[4], &v);
    b.init("bn_scale", &[4], &[1.5, 0.5, -1.0, 2.0]);
    b.init("bn_bias", &[4], &[0.1, -0.1, 0.2, 0.0]);
    b.init("bn_mean", &[4], &[0.05, 0.0, -0.1, 0.2]);
    b.init("bn_var", &[4], &[1.0, 0.5, 2.0, 0.25]);
    b.init("S", &[1, 4, 1, 1], &[0.5, -2.0, 1.5, 1.0]);
    b.init("T", &[1, 4, 1, 1], &[0.1, 0.0, -0.2, 0.3]);
    b.init_i64("shape", &[2], &[1, 36]);
    let w = rng.sym_vec(36 * 8, 0.4);
    b.init("Wd", &[36, 8], &w);
    let v = rng.sym_vec(8, 0.1);
    b.init("Bd", &[8], &v);
    let w = rng.sym_vec(4 * 8, 0.6);
    b.init("Wo", &[4, 8], &w);
    b.init("Bo", &[4], &[0.0, 0.1, -0.1, 0.05]);
    b.init("lo", &[], &[-0.8]);
    b.init("hi", &[], &[0.8]);
    b.node("Pad", &["x", "pads"], "p", vec![]);
    b.node("Conv", &["p", "Wc", "Bc"], "c", vec![attr::ints("kernel_shape", &[3, 3])]);
    b.node(
        "BatchNormalization",
        &["c", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
        "bn",
        vec![attr::float("epsilon", 1e-5)],
    );
    b.node("Relu", &["bn"], "r", vec![]);
    b.node("Mul", &["r", "S"], "ms", vec![]);
    b.node("Add", &["ms", "T"], "at", vec![]);
    b.node("LeakyRelu", &["at"], "lr", vec![attr::float("alpha", 0.1)]);
    b.node("AveragePool", &["lr"], "ap", vec![attr::ints("kernel_shape", &[2, 2]), attr::ints("strides", &[2, 2])]);
    b.node("Transpose", &["ap"], "tr", vec![attr::ints("perm", &[0, 2, 3, 1])]);
    b.node("Reshape", &["tr", "shape"], "flat", vec![]);
    b.node("Gemm", &["flat", "Wd", "Bd"], "d", vec![]);
    b.node("Tanh", &["d"], "t", vec![]);
    b.node("Clip", &["t", "lo", "hi"], "cl", vec![]);
    b.node("Dropout", &["cl"], "dr", vec![]);
    b.node("Gemm", &["dr", "Wo", "Bo"], "logits", vec![attr::int("transB", 1)]);
    b.node("Softmax", &["logits"], "probs", vec![attr::int("axis", 1)]);
    b.output("probs", &[1, 4]);
    b.build()
}

#[test]
fn p1_constructed_chain_of_every_single_input_op() {
    let mut worst = 0.0f64;
    for seed in [31, 32, 33] {
        let model = load(&every_op_chain(seed));
        let ops: Vec<&str> = model.graph.nodes.iter().map(|n| n.onnx_op.as_str()).collect();
        assert!(ops.contains(&"Conv+BatchNormalization"), "BatchNorm after Conv is folded: {ops:?}");
        assert!(!ops.contains(&"Softmax"), "the trailing Softmax is removed: {ops:?}");
        for s in 0..3 {
            let x = tensor(&[1, 3, 6, 6], Rng::new(300 + s).sym_vec(108, 1.0));
            worst = worst.max(check_chain_every_layer(&model, &x, &format!("every_op_chain({seed})")));
            let acts = model.forward(&x).unwrap();
            for method in Method::ALL {
                let e = explain(&model, &acts, method, &ExplainOptions::default(), &mut no_progress()).unwrap();
                assert_all_finite(&e, method.name());
            }
        }
    }
    println!("every-op chain: 3 nets × 3 inputs × 2 variants, max |‖R‖₁ − M| / M over all layers = {worst:.2e}");
}

#[test]
fn p1_skip_models_mass_is_kept_between_merges() {
    let mut report = Vec::new();
    let mut cases: Vec<(String, Model, Tensor)> = Vec::new();
    for file in [RESNET_MINI, RESNET_MINI_BN, "mnist_resnet_mini_int8_weightonly_dq.onnx"] {
        for case in ["mnist_test_00000_label7", "mnist_test_00001_label2"] {
            cases.push((
                format!("{file} {case}"),
                load(&read(&format!("models/{file}"))),
                golden_input("mnist_resnet_mini", case),
            ));
        }
    }
    for seed in [7, 8] {
        let x = tensor(&[1, 2, 8, 8], Rng::new(seed).sym_vec(128, 1.0));
        cases.push((format!("small_resnet({seed})"), load(&small_resnet(seed)), x));
    }
    for (what, model, x) in &cases {
        assert!(model.has_skip_connections());
        for method in RLRP_BOTH {
            let e = run(model, x, method, None);
            assert_all_finite(&e, what);
            assert_eq!(rel(e.layers[0].l1, e.start as f64), 0.0, "the walk starts from M");
            let (dev, count) = max_single_reader_dev(model, &e);
            assert!(count >= 5, "{what}: only {count} nodes checked");
            assert!(dev <= 1e-4, "{what} {}: ‖R‖₁ changes by {dev:.2e} across a non-merge node", method.name());
            report.push(format!("{what:<52} {:<13} {count:>2} non-merge nodes, max rel. dev {dev:.2e}", method.name()));
        }
    }
    // EfficientNet-Lite0 (9 skip adds): the same, on one photo.
    let lite = model(LITE0);
    let x = golden_input("efficientnet_lite0", "chelsea");
    for method in RLRP_BOTH {
        let e = run(&lite, &x, method, None);
        assert_all_finite(&e, "lite0");
        let (dev, count) = max_single_reader_dev(&lite, &e);
        assert!(count >= 50, "lite0: only {count} nodes checked");
        assert!(dev <= 1e-4, "lite0 {}: ‖R‖₁ changes by {dev:.2e} across a non-merge node", method.name());
        report.push(format!(
            "{:<52} {:<13} {count:>2} non-merge nodes, max rel. dev {dev:.2e}",
            "efficientnet_lite0 chelsea",
            method.name()
        ));
    }
    println!("{}", report.join("\n"));
}

#[derive(serde::Deserialize)]
struct OracleLayers {
    input_file: String,
    target_class: usize,
    logit: f64,
    #[serde(rename = "M")]
    m: f64,
    layers: Vec<OracleLayer>,
}

#[derive(serde::Deserialize)]
struct OracleLayer {
    node: String,
    op: String,
    shape: Vec<usize>,
    l1: f64,
}

/// Our ONNX operator → a kind shared with the oracle's torch.fx operators; None = no counterpart.
fn onnx_kind(op: &str) -> Option<&'static str> {
    Some(match op.split('+').next().unwrap_or(op) {
        "Conv" => "conv",
        "Gemm" | "MatMul" => "dense",
        "Relu" | "Clip" => "activation",
        "Add" => "add",
        "Flatten" | "Reshape" => "reshape",
        "GlobalAveragePool" => "global-avg-pool",
        "Input" => "input",
        "Dropout" | "Identity" => return None,
        other => panic!("unexpected ONNX op {other}"),
    })
}

fn fx_kind(l: &OracleLayer) -> Option<&'static str> {
    Some(match l.op.as_str() {
        "Conv2d" | "Conv2dStaticSamePadding" => "conv",
        "Linear" => "dense",
        "ReLU" | "ReLU6" => "activation",
        "add" => "add",
        "Flatten" | "flatten" | "view" | "reshape" => "reshape",
        "AdaptiveAvgPool2d" => "global-avg-pool",
        "Dropout" | "Identity" => return None,
        op if op == l.node => "input", // the fx placeholder: node = op = argument name
        other => panic!("unexpected fx op {other}"),
    })
}

/// Property 1 against the oracle, layer by layer.
///
/// Alignment: both lists are in backward (reverse topological) order and both walks visit the graph in
/// the same order (torch.fx traces the forward in execution order; torch.onnx exports nodes in the same
/// order; our trace is a post-order DFS from the logits that visits the first input of an Add first,
/// i.e. the residual branch before the shortcut, as the forward does). Node names differ (ONNX
/// "/layer1/layer1.0/conv1/Conv" vs fx "layer1_0_conv1"), so entries are matched by position after
/// dropping the nodes that exist on one side only (the fx Dropout of Lite0, absent from the eval-mode
/// ONNX export), and each matched pair must agree in kind (Conv ↔ Conv2d, Gemm ↔ Linear, Relu/Clip ↔
/// ReLU/ReLU6, Add ↔ add, Flatten/Reshape ↔ flatten/view, GlobalAveragePool ↔ AdaptiveAvgPool2d, input ↔
/// placeholder) and in shape before their ‖R‖₁ are compared (1e-4 relative).
fn compare_with_oracle_layers(model_file: &str, json: &str, method: Method) -> (f64, usize) {
    let oracle: OracleLayers = serde_json::from_slice(&read(json)).expect("layer_l1 json");
    let model = model(model_file);
    let x = npy(&format!("golden/{}", oracle.input_file));
    let e = run(&model, &x, method, Some(oracle.target_class));
    assert!(rel(e.logit as f64, oracle.logit) < 1e-5, "{json}: logit {} vs oracle {}", e.logit, oracle.logit);
    assert!(rel(e.start as f64, oracle.m) < 1e-5);
    let ours: Vec<(&'static str, &rlrp::relevance::LayerMass)> =
        e.layers.iter().filter_map(|l| onnx_kind(&l.op).map(|k| (k, l))).collect();
    let theirs: Vec<(&'static str, &OracleLayer)> =
        oracle.layers.iter().filter_map(|l| fx_kind(l).map(|k| (k, l))).collect();
    assert_eq!(ours.len(), theirs.len(), "{json}: node counts differ after dropping one-sided nodes");
    let mut worst = 0.0f64;
    for (i, ((ka, a), (kb, b))) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(ka, kb, "{json} #{i}: ours {} ({}) vs oracle {} ({})", a.node, a.op, b.node, b.op);
        assert_eq!(a.shape, b.shape, "{json} #{i}: shapes of {} and {}", a.node, b.node);
        let d = rel(a.l1, b.l1);
        assert!(d <= 1e-4, "{json} #{i}: ‖R‖₁ {} at {} vs oracle {} at {} (rel {d:.2e})", a.l1, a.node, b.l1, b.node);
        worst = worst.max(d);
    }
    (worst, ours.len())
}

#[test]
fn p1_layer_masses_match_the_oracle_resnet() {
    for (method, suffix) in [(Method::Rlrp, "rlrp"), (Method::RlrpDivfree, "rlrp_divfree_skip")] {
        let json = format!("golden/mnist_resnet_mini/mnist_test_00000_label7__{suffix}__layer_l1.json");
        let (worst, n) = compare_with_oracle_layers(RESNET_MINI, &json, method);
        println!("mnist_resnet_mini {suffix}: {n} layers aligned, max rel. ‖R‖₁ difference to the oracle {worst:.2e}");
        // The same network exported with its 15 BatchNormalization nodes kept: folded at load time, it
        // must give the same per-layer masses.
        let (worst, n) = compare_with_oracle_layers(RESNET_MINI_BN, &json, method);
        println!(
            "mnist_resnet_mini_bn {suffix}: {n} layers aligned, max rel. ‖R‖₁ difference to the oracle {worst:.2e}"
        );
    }
}

#[test]
fn p1_layer_masses_match_the_oracle_lite0() {
    for (method, suffix) in [(Method::Rlrp, "rlrp"), (Method::RlrpDivfree, "rlrp_divfree_skip")] {
        let json = format!("golden/efficientnet_lite0/chelsea__{suffix}__layer_l1.json");
        let (worst, n) = compare_with_oracle_layers(LITE0, &json, method);
        println!("efficientnet_lite0 {suffix}: {n} layers aligned, max rel. ‖R‖₁ difference to the oracle {worst:.2e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Property 2: no NaN or Inf for any input.

#[test]
fn p2_dense_pre_activation_1e_7_with_inputs_of_1000() {
    let model = load(&dense_z_1e7());
    let x = tensor(&[1, 2], vec![1000.0, 1000.0]);
    let logit = logits(&model, &x)[0];
    assert!(
        (logit - 2.0).abs() < 1e-6,
        "logit {logit}: the constructed net must compute z₀ = 1e-7 exactly (logit 1e7·z₀ + 1 = 2)"
    );
    let acts = model.forward(&x).unwrap();
    let mut report = Vec::new();
    for method in Method::ALL {
        let opts = ExplainOptions { target: Some(0), ..Default::default() };
        let e = explain(&model, &acts, method, &opts, &mut no_progress()).unwrap();
        assert_all_finite(&e, method.name());
        report.push(format!(
            "{:<18} R = {:?}  max|R|/|f| = {:.3e}",
            method.name(),
            values(&e.relevance),
            max_abs(&e.relevance) / 2.0
        ));
    }
    println!("{}", report.join("\n"));

    // R-LRP (both forms: no skip here): the oracle's numbers, bounded by M = 2.
    for method in RLRP_BOTH {
        let e = run(&model, &x, method, None);
        assert_eq!(e.start, 2.0);
        let r = values(&e.relevance);
        for (got, want) in r.iter().zip([1.000_499_7_f32, -0.999_500_2]) {
            assert!((got - want).abs() <= 1e-6, "{}: R = {r:?}, oracle [1.0004997, -0.9995002]", method.name());
        }
        assert!(rel(l1(&e.relevance), 2.0) < 1e-6);
        assert!(max_abs(&e.relevance) <= 2.0 * (1.0 + 1e-6), "R-LRP is bounded by M");
        let kappa = e.kappa.unwrap();
        assert!((kappa - (r[0] + r[1]) as f64 / 2.0).abs() < 1e-9);
    }
    // LRP-ε with ε = 1e-6: the oracle's Zennit value ±909090496 (≈ 4.5e8 × M).
    let eps = run(&model, &x, Method::Epsilon, None);
    let r = values(&eps.relevance);
    assert!(rel(r[0] as f64, 909_090_496.0) < 1e-5 && rel(r[1] as f64, -909_090_496.0) < 1e-5, "LRP-ε: {r:?}");
    // LRP-0: 1000 · 1/1e-7 = ±1e10 (5e9 × M).
    let lrp0 = run(&model, &x, Method::Lrp0, None);
    let r = values(&lrp0.relevance);
    assert!(rel(r[0] as f64, 1e10) < 1e-4 && rel(r[1] as f64, -1e10) < 1e-4, "LRP-0: {r:?}");
}

#[test]
fn p2_zero_pre_activation_and_zero_logit() {
    let model = load(&dense_z_0_logit_0());
    let x = tensor(&[1, 2], vec![1000.0, 1000.0]);
    assert_eq!(logits(&model, &x), vec![0.0, 0.0]);
    for method in Method::ALL {
        let e = run(&model, &x, method, None);
        assert_all_finite(&e, method.name());
        assert_eq!(e.target, 0);
        assert_eq!(e.logit, 0.0);
        assert!(e.kappa.is_none(), "κ is undefined for a zero logit");
        match method.family() {
            Family::Rlrp { .. } => assert_eq!(e.start, 1.0, "M = 1 when f_c = 0"),
            Family::Lrp => assert_eq!(e.start, 0.0),
            Family::Gradient => assert_eq!(e.start, 1.0),
        }
        // Dead ReLUs everywhere: zero relevance for every method (the oracle: R = [0, 0]).
        assert_eq!(values(&e.relevance), vec![0.0, 0.0], "{}", method.name());
    }
}

#[test]
fn p2_skip_add_with_y_of_6e_8() {
    let model = load(&skip_y_6e8());
    let x = tensor(&[1, 2], vec![1.0, 1.0]);
    let m = 2f32.powi(-24);
    assert_eq!(logits(&model, &x), vec![m, m], "y = 2⁻²⁴ (oracle: 5.960464477539063e-08)");
    let paper = run(&model, &x, Method::Rlrp, None);
    let divfree = run(&model, &x, Method::RlrpDivfree, None);
    assert_eq!((paper.target, paper.start, divfree.start), (0, m, m));
    let (rp, rd) = (values(&paper.relevance), values(&divfree.relevance));
    // The oracle: paper [2.0, 0.0], max|R|/M = 33554432; division-free [5.960464e-8, 0.0], max|R|/M = 1.
    assert!((rp[0] - 2.0).abs() <= 2.5e-7 && rp[1] == 0.0, "paper form: {rp:?}");
    assert!(rel(rd[0] as f64, m as f64) < 1e-6 && rd[1] == 0.0, "division-free: {rd:?}");
    let amp_paper = max_abs(&paper.relevance) / m as f64;
    let amp_divfree = max_abs(&divfree.relevance) / m as f64;
    assert!(rel(amp_paper, 33_554_432.0) < 1e-6 && rel(amp_divfree, 1.0) < 1e-6);
    // Inside the network: the relevance reaching the residual branch (the Gemm) is ≈ 1 = 2²⁴·M in the
    // paper form, ≈ M/2 in the division-free form.
    let branch = |e: &Explanation| e.layers.iter().find(|l| l.node == "branch").expect("branch").l1 / m as f64;
    assert!(rel(branch(&paper), 16_777_215.0) < 1e-6, "paper: branch mass {}", branch(&paper));
    assert!(branch(&divfree) <= 0.5 + 1e-6, "division-free: branch mass {}", branch(&divfree));
    // Division-free skips conserve the mass through the merge: ‖R_in‖₁ = M.
    assert!(rel(l1(&divfree.relevance), m as f64) < 1e-6);
    let mut report = vec![
        format!("paper form     R = {rp:?}  max|R|/M = {amp_paper:.4e}  branch ‖R‖₁/M = {:.4e}", branch(&paper)),
        format!("division-free  R = {rd:?}  max|R|/M = {amp_divfree:.4e}  branch ‖R‖₁/M = {:.4e}", branch(&divfree)),
    ];
    for method in Method::ALL {
        let e = run(&model, &x, method, Some(0));
        assert_all_finite(&e, method.name());
        report.push(format!(
            "{:<18} R = {:?}  max|R|/|f| = {:.3e}",
            method.name(),
            values(&e.relevance),
            max_abs(&e.relevance) / m as f64
        ));
    }
    println!("{}", report.join("\n"));
}

#[derive(serde::Deserialize)]
struct OracleChecks {
    oracle_property_checks: HashMap<String, HashMap<String, serde_json::Value>>,
}

/// Zero and constant-1000 inputs on every shared fp32 model, both R-LRP forms: finite, and the same
/// input-relevance L1 and κ as the oracle (`oracle_property_checks` → `property2/zeros|ones_x1000`).
#[test]
fn p2_zero_and_constant_1000_inputs_match_the_oracle() {
    let checks: OracleChecks = serde_json::from_slice(&read("golden/manifest.json")).unwrap();
    let mut report = Vec::new();
    for (name, file) in [
        ("mnist_simple_cnn", SIMPLE_CNN),
        ("mnist_vgg_mini", VGG_MINI),
        ("mnist_resnet_mini", RESNET_MINI),
        ("efficientnet_lite0", LITE0),
    ] {
        let model = model(file);
        let shape = model.input_shape().to_vec();
        for (label, v) in [("zeros", 0.0), ("ones_x1000", 1000.0)] {
            let x = filled(&shape, v);
            for (method, form) in [(Method::Rlrp, "paper"), (Method::RlrpDivfree, "divfree")] {
                let e = run(&model, &x, method, None);
                assert_all_finite(&e, &format!("{name} {label}"));
                let o = &checks.oracle_property_checks[name][&format!("property2/{label}/{form}")];
                let (ol1, okappa) = (o["l1"].as_f64().unwrap(), o["kappa"].as_f64().unwrap());
                let ours = l1(&e.relevance);
                let kappa = e.kappa.unwrap_or(0.0);
                report.push(format!(
                    "{name:<20} {label:<10} {form:<8} ‖R‖₁ {ours:<14.7} (oracle {ol1:<14.7}) κ {kappa:<11.6} (oracle {okappa:.6})"
                ));
                if v == 0.0 {
                    assert_eq!(ours, 0.0, "zero input → zero relevance (U = x ⊙ Wᵀ R = 0)");
                } else {
                    assert!(rel(ours, ol1) < 1e-3, "{name} {label} {form}: ‖R‖₁ {ours} vs oracle {ol1}");
                    assert!(
                        (kappa - okappa).abs() < 1e-3 * okappa.abs().max(1e-2),
                        "{name} {label} {form}: κ {kappa} vs {okappa}"
                    );
                }
            }
        }
    }
    println!("{}", report.join("\n"));
}

/// Random and noise inputs (×1000 too) on the real MNIST models: every method of `Method::ALL` finite.
#[test]
fn p2_noise_inputs_every_method_is_finite() {
    let mut report = Vec::new();
    for file in [SIMPLE_CNN, VGG_MINI, RESNET_MINI] {
        let model = model(file);
        let mut rng = Rng::new(42);
        let inputs = [
            ("uniform [0,1)", rng.sym_vec(784, 0.5).iter().map(|v| v + 0.5).collect::<Vec<_>>()),
            ("uniform [0,1) ×1000", rng.sym_vec(784, 500.0).iter().map(|v| v + 500.0).collect()),
            ("symmetric ×1000", rng.sym_vec(784, 1000.0)),
            ("sparse spikes ×1000", (0..784).map(|i| if i % 97 == 0 { 1000.0 } else { 0.0 }).collect()),
            ("digit ×1000", values(&mnist_digit(11)).iter().map(|v| v * 1000.0).collect()),
            ("tiny 1e-30", vec![1e-30; 784]),
            ("zeros", vec![0.0; 784]),
        ];
        let n_inputs = inputs.len();
        let mut worst = [0.0f64; 2];
        for (label, v) in inputs {
            let x = tensor(&[1, 1, 28, 28], v);
            let acts = model.forward(&x).unwrap();
            for method in Method::ALL {
                let e = explain(&model, &acts, method, &ExplainOptions::default(), &mut no_progress()).unwrap();
                assert_all_finite(&e, &format!("{file} {label} {}", method.name()));
                if let Family::Rlrp { divfree_skips } = method.family() {
                    let r = l1(&e.relevance) / e.start as f64;
                    if !model.has_skip_connections() {
                        // Chains: ‖R_in‖₁ = M exactly (or 0 if every message died): R-LRP cannot blow up.
                        assert!(r <= 1.0 + 1e-4, "{file} {label}: ‖R‖₁/M = {r}");
                    }
                    let k = divfree_skips as usize;
                    worst[k] = worst[k].max(r);
                }
            }
        }
        report.push(format!(
            "{file}: {n_inputs} inputs × {} methods finite; max ‖R_in‖₁/M: paper {:.3}, division-free {:.3}",
            Method::ALL.len(),
            worst[0],
            worst[1]
        ));
    }
    println!("{}", report.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Property 3: bias-free ReLU networks without skips: the normalised heatmap is scale-invariant.

fn check_scale_invariance(model: &Model, x: &Tensor, scales: &[f32], what: &str) -> f64 {
    let base = run(model, x, Method::Rlrp, None);
    let target = Some(base.target);
    let n0 = normalised(&base.relevance);
    let mut worst = 0.0f64;
    for &s in scales {
        let xs = x.mapv(|v| v * s);
        let e = run(model, &xs, Method::Rlrp, target);
        assert_all_finite(&e, what);
        assert!(
            rel(e.logit as f64 / base.logit as f64, s as f64) < 1e-4,
            "{what}: bias-free logits scale with the input"
        );
        let d = max_diff_over_max(&normalised(&e.relevance), &n0);
        assert!(d <= 1e-5, "{what}: scale {s}: normalised heatmap changes by {d:.2e} of its maximum");
        // The channel-summed heatmap is therefore unchanged too (same check, summed over axis 1).
        let h = |t: &Tensor| normalised(&t.sum_axis(ndarray::Axis(1)).into_dyn());
        assert!(max_diff_over_max(&h(&e.relevance), &h(&base.relevance)) <= 1e-5);
        worst = worst.max(d);
    }
    worst
}

#[test]
fn p3_bias_free_heatmap_is_scale_invariant() {
    let scales = [0.001, 0.01, 0.5, 3.0, 7.0, 1000.0];
    let mut report = Vec::new();
    for (seed, pool) in [(11, "AveragePool"), (12, "MaxPool")] {
        let model = load(&small_cnn(seed, false, pool));
        let mut worst = 0.0f64;
        for s in 0..3 {
            let x = tensor(&[1, 2, 12, 12], Rng::new(200 + s).sym_vec(288, 1.0));
            worst = worst.max(check_scale_invariance(&model, &x, &scales, &format!("small_cnn {pool}")));
        }
        report.push(format!("bias-free small CNN ({pool}): max |Δ normalised| / max = {worst:.2e}"));
    }
    // Bias-free copies of the real chains (as the oracle did; MaxPool commutes with s > 0 as well).
    for (name, file) in [("mnist_simple_cnn", SIMPLE_CNN), ("mnist_vgg_mini", VGG_MINI)] {
        let mut proto = onnx_builder::decode(&read(&format!("models/{file}")));
        let zeroed = onnx_builder::zero_biases(&mut proto);
        assert!(zeroed >= 4, "{file}: {zeroed} biases");
        let model = load(&prost::Message::encode_to_vec(&proto));
        let x = golden_input(name, "mnist_test_00000_label7");
        let worst = check_scale_invariance(&model, &x, &scales, name);
        report.push(format!("bias-free {name}: max |Δ normalised| / max = {worst:.2e}"));
    }
    println!("{}", report.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Property 6: a negative target logit gives the same heatmap and sign convention.

/// The twin with the target's output bias shifted by −2·f_c, so that its logit is −f_c (the oracle's
/// construction). Nothing the relevance depends on changes (R-LRP drops biases; M = |f_c| is the same),
/// so R-LRP's input relevance must be identical — no global sign flip — while κ changes sign with f_c.
fn check_negative_logit_twin(bytes: &[u8], x: &Tensor, what: &str) -> Vec<String> {
    let model = load(bytes);
    let mut lines = Vec::new();
    for method in RLRP_BOTH {
        let pos = run(&model, x, method, None);
        let c = pos.target;
        assert!(pos.logit > 0.0, "{what}: the test wants a positive logit first");
        let twin = load(&output_layer_twin(bytes, c, -2.0 * pos.logit, false));
        let neg = run(&twin, x, method, Some(c));
        assert!(rel(neg.logit as f64, -pos.logit as f64) < 1e-5, "{what}: twin logit {} vs −{}", neg.logit, pos.logit);
        assert!(rel(neg.start as f64, pos.start as f64) < 1e-5, "M = |f_c| is the same");
        let d = max_diff_over_max(&neg.relevance, &pos.relevance);
        assert!(
            d <= 1e-5,
            "{what} {}: heatmap changes by {d:.2e} of its max when the logit turns negative",
            method.name()
        );
        let (sp, sn) = (pos.relevance.sum(), neg.relevance.sum());
        assert!(sp.signum() == sn.signum() || sp == 0.0, "{what}: ΣR flips sign: {sp} vs {sn}");
        let (kp, kn) = (pos.kappa.unwrap(), neg.kappa.unwrap());
        assert!(rel(kn, -kp) < 1e-4, "{what}: κ must change sign with the logit: {kp} vs {kn}");
        lines.push(format!(
            "{what:<24} {:<13} f = {:+.5} / {:+.5}  max|ΔR|/max|R| = {d:.1e}  κ = {kp:+.6} / {kn:+.6}",
            method.name(),
            pos.logit,
            neg.logit
        ));
    }
    lines
}

#[test]
fn p6_negative_logit_same_heatmap_and_sign() {
    let mut report = Vec::new();
    for (name, file) in
        [("mnist_simple_cnn", SIMPLE_CNN), ("mnist_vgg_mini", VGG_MINI), ("mnist_resnet_mini", RESNET_MINI)]
    {
        let bytes = read(&format!("models/{file}"));
        for case in ["mnist_test_00000_label7", "mnist_test_00001_label2"] {
            report.extend(check_negative_logit_twin(&bytes, &golden_input(name, case), name));
        }
    }
    report.extend(check_negative_logit_twin(
        &small_cnn(21, true, "MaxPool"),
        &tensor(&[1, 2, 12, 12], Rng::new(5).sym_vec(288, 1.0)),
        "small_cnn",
    ));
    println!("{}", report.join("\n"));
}

/// On a purely linear net f(x) = w·x + b, R-LRP gives R = M·(x ⊙ w)/‖x ⊙ w‖₁: R_i has the sign of
/// x_i·∂f/∂x_i (Red = pushes the target's score up), whether the logit is positive or negative.
#[test]
fn p6_linear_net_sign_is_x_times_gradient() {
    let mut rng = Rng::new(9);
    let w = rng.sym_vec(12, 1.0);
    let xv = rng.sym_vec(6, 2.0);
    let x = tensor(&[1, 6], xv.clone());
    let mut signs_seen = (false, false);
    for bias in [50.0f32, 0.3, -0.3, -50.0] {
        let model = load(&linear_net(&w, [bias, 0.0]));
        let e = run(&model, &x, Method::Rlrp, Some(0));
        let gxi = values(&run(&model, &x, Method::GradientXInput, Some(0)).relevance);
        let r = values(&e.relevance);
        let f = e.logit;
        if f > 0.0 {
            signs_seen.0 = true;
        } else {
            signs_seen.1 = true;
        }
        let u: Vec<f64> = (0..6).map(|i| xv[i] as f64 * w[2 * i] as f64).collect();
        let norm: f64 = u.iter().map(|v| v.abs()).sum();
        for i in 0..6 {
            let want = f.abs() as f64 * u[i] / norm;
            assert!((r[i] as f64 - want).abs() <= 1e-6 * f.abs() as f64, "f = {f}: R[{i}] = {}, want {want}", r[i]);
            assert_eq!(r[i].signum(), gxi[i].signum(), "f = {f}: R-LRP and x·∂f/∂x disagree in sign at {i}");
        }
        let sum_u: f64 = u.iter().sum();
        assert!(rel(e.kappa.unwrap(), sum_u * f.abs() as f64 / norm / f as f64) < 1e-5);
    }
    assert_eq!(signs_seen, (true, true), "both signs of the logit were tested");
}

/// The twin with the whole output layer negated (weights and bias) computes −f. Its explanation of the
/// same class must be −R (what pushed f up now pushes the twin's score down: Red keeps meaning "pushes
/// the target's score up"), and κ = ΣR/f is unchanged because both ΣR and f flip. (A twin that only
/// shifts the bias keeps R identical and flips κ: `p6_negative_logit_same_heatmap_and_sign`.)
#[test]
fn p6_negated_output_layer_flips_relevance_keeps_kappa() {
    let mut report = Vec::new();
    let cases: Vec<(&str, Vec<u8>, Tensor)> = vec![
        (
            "mnist_simple_cnn",
            read(&format!("models/{SIMPLE_CNN}")),
            golden_input("mnist_simple_cnn", "mnist_test_00000_label7"),
        ),
        (
            "mnist_resnet_mini",
            read(&format!("models/{RESNET_MINI}")),
            golden_input("mnist_resnet_mini", "mnist_test_00001_label2"),
        ),
        ("small_cnn", small_cnn(22, true, "AveragePool"), tensor(&[1, 2, 12, 12], Rng::new(6).sym_vec(288, 1.0))),
    ];
    for (what, bytes, x) in cases {
        let model = load(&bytes);
        let twin = load(&output_layer_twin(&bytes, 0, 0.0, true));
        for method in RLRP_BOTH {
            let pos = run(&model, &x, method, None);
            let neg = run(&twin, &x, method, Some(pos.target));
            assert!(rel(neg.logit as f64, -pos.logit as f64) < 1e-5);
            let d = max_diff_over_max(&neg.relevance.mapv(|v| -v), &pos.relevance);
            assert!(d <= 1e-5, "{what} {}: twin relevance is not −R ({d:.2e})", method.name());
            let (kp, kn) = (pos.kappa.unwrap(), neg.kappa.unwrap());
            assert!(rel(kn, kp) < 1e-4, "{what}: κ {kp} vs {kn}");
            report.push(format!(
                "{what:<18} {:<13} max|R' + R|/max|R| = {d:.1e}  κ = {kp:+.6} / {kn:+.6}",
                method.name()
            ));
        }
    }
    println!("{}", report.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The start mass and κ.

#[test]
fn start_mass_and_kappa() {
    let cases: Vec<(String, Model, Tensor)> = vec![
        (
            SIMPLE_CNN.into(),
            load(&read(&format!("models/{SIMPLE_CNN}"))),
            golden_input("mnist_simple_cnn", "mnist_test_00000_label7"),
        ),
        (
            RESNET_MINI.into(),
            load(&read(&format!("models/{RESNET_MINI}"))),
            golden_input("mnist_resnet_mini", "mnist_test_00001_label2"),
        ),
        ("small_resnet".into(), load(&small_resnet(3)), tensor(&[1, 2, 8, 8], Rng::new(3).sym_vec(128, 1.0))),
    ];
    for (what, model, x) in &cases {
        let n = model.info.classes;
        for target in [None, Some(0), Some(n - 1)] {
            for method in Method::ALL {
                let e = run(model, x, method, target);
                let want_start = match method.family() {
                    Family::Rlrp { .. } => e.logit.abs(),
                    Family::Lrp => e.logit,
                    Family::Gradient => 1.0,
                };
                assert_eq!(e.start, want_start, "{what} {}: start", method.name());
                assert_eq!(e.layers[0].l1, e.start.abs() as f64, "the walk starts from the start mass");
                let sum: f64 = e.relevance.iter().map(|&v| v as f64).sum();
                let kappa = e.kappa.expect("non-zero logit");
                assert!(
                    rel(kappa, sum / e.logit as f64) < 1e-12,
                    "{what} {}: κ = {kappa}, ΣR/f = {}",
                    method.name(),
                    sum / e.logit as f64
                );
                assert!(rel(e.layers.last().unwrap().sum, sum) < 1e-12);
            }
        }
    }
    // M for a negative logit is |f_c|, for f_c = 0 it is 1 (p2_zero_pre_activation_and_zero_logit).
    let model = load(&linear_net(&[1.0; 12], [-100.0, 0.0]));
    let e = run(&model, &tensor(&[1, 6], vec![1.0; 6]), Method::Rlrp, Some(0));
    assert_eq!((e.logit, e.start), (-94.0, 94.0));
    assert!(rel(e.kappa.unwrap(), -1.0) < 1e-6, "κ = ΣR/f = 94/−94 = −1");
}

/// Method parameters the R-LRP family does not have cannot change it (RLRP.md: no hyperparameters).
#[test]
fn rlrp_ignores_lrp_parameters() {
    let model = model(SIMPLE_CNN);
    let x = golden_input("mnist_simple_cnn", "mnist_test_00000_label7");
    let acts = model.forward(&x).unwrap();
    let base = explain(&model, &acts, Method::Rlrp, &ExplainOptions::default(), &mut no_progress()).unwrap();
    let params = MethodParams {
        epsilon: 0.5,
        gamma: 2.0,
        alpha: 3.0,
        beta: 2.0,
        stabilizer: 0.1,
        input_range: Some((-5.0, 5.0)),
    };
    let opts = ExplainOptions { params, ..Default::default() };
    let other = explain(&model, &acts, Method::Rlrp, &opts, &mut no_progress()).unwrap();
    assert_eq!(values(&base.relevance), values(&other.relevance));
}
