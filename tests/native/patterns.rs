//! The pattern matchers of the importer (RLRP.md, "Gates, global reductions, normalisations and
//! attention"), on small hand-built ONNX graphs: each written-out form becomes the op it means, the
//! near-misses do not, and every new backward step is the exact vector-Jacobian product (the
//! gradient equals central finite differences of the forward pass, which tract computes).
use crate::common;
use common::onnx_builder::{attr, OnnxBuilder};
use common::rng::Rng;
use common::*;
use rlrp::model::graph::{Activation, Linear, Op};
use rlrp::model::{LoadOptions, Model};
use rlrp::relevance::{explain, ExplainOptions, Method};
use rlrp::tensor::{ndarray, Tensor};

fn load(b: &OnnxBuilder) -> Model {
    Model::from_onnx_bytes(&b.build(), &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn input(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    Tensor::from_shape_vec(ndarray::IxDyn(shape), rng.sym_vec(shape.iter().product(), 1.5)).unwrap()
}

fn ops(m: &Model) -> Vec<&Op> {
    m.graph.nodes.iter().map(|n| &n.op).collect()
}

/// Our gradient of logit `target` against central differences of the forward pass (f64 steps in
/// f32 arithmetic: 2e-3 relative).
fn check_gradient(m: &Model, x: &Tensor, target: usize) {
    let acts = m.forward(x).unwrap();
    let opts = ExplainOptions { target: Some(target), ..Default::default() };
    let g = explain(m, &acts, Method::Gradient, &opts, &mut no_progress()).unwrap().relevance;
    let f = |x: &Tensor| m.logits(&m.forward(x).unwrap()).unwrap()[target] as f64;
    let h = 1e-2f32;
    let mut worst = 0f64;
    let scale = g.iter().map(|v| v.abs() as f64).fold(1e-6, f64::max);
    for i in 0..x.len() {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp.as_slice_mut().unwrap()[i] += h;
        xm.as_slice_mut().unwrap()[i] -= h;
        let fd = (f(&xp) - f(&xm)) / (2.0 * h as f64);
        worst = worst.max((fd - g.as_slice().unwrap()[i] as f64).abs() / scale);
    }
    assert!(worst < 2e-3, "gradient vs finite differences: worst relative error {worst:.2e}");
}

/// x [1, 6] → Gemm (6 → 5) → `middle` (reads "h", writes "m") → Gemm (5 → 3).
fn dense_sandwich(middle: &dyn Fn(&mut OnnxBuilder)) -> OnnxBuilder {
    let mut rng = Rng::new(3);
    let mut b = OnnxBuilder::new("x", &[1, 6]);
    b.init("W1", &[6, 5], &rng.sym_vec(30, 0.8));
    b.init("B1", &[5], &rng.sym_vec(5, 0.3));
    b.init("W2", &[5, 3], &rng.sym_vec(15, 0.8));
    b.init("B2", &[3], &rng.sym_vec(3, 0.3));
    b.init("W3", &[6, 5], &rng.sym_vec(30, 0.8));
    b.named_node("fc1", "Gemm", &["x", "W1", "B1"], &["h"], vec![]);
    middle(&mut b);
    b.named_node("fc2", "Gemm", &["m", "W2", "B2"], &["logits"], vec![]);
    b.output("logits", &[1, 3]);
    b
}

fn scalar(b: &mut OnnxBuilder, name: &str, v: f32) -> String {
    b.init(name, &[], &[v])
}

#[test]
fn silu_written_out_is_one_activation() {
    let b = dense_sandwich(&|b| {
        b.named_node("sig", "Sigmoid", &["h"], &["s"], vec![]);
        b.named_node("silu", "Mul", &["h", "s"], &["m"], vec![]);
    });
    let m = load(&b);
    assert!(
        matches!(ops(&m)[1], Op::Activation(Activation::Fused(f)) if f.name == "SiLU" && f.self_gated),
        "{:?}",
        ops(&m)
    );
    assert_eq!(m.graph.nodes.len(), 3);
    check_gradient(&m, &input(&[1, 6], 1), 0);
}

#[test]
fn gelu_erf_and_tanh_forms_are_recognised() {
    let erf = dense_sandwich(&|b| {
        let r2 = scalar(b, "r2", std::f32::consts::SQRT_2);
        let one = scalar(b, "one", 1.0);
        let half = scalar(b, "half", 0.5);
        b.node("Div", &["h", &r2], "d", vec![]);
        b.node("Erf", &["d"], "e", vec![]);
        b.node("Add", &["e", &one], "a", vec![]);
        b.node("Mul", &["h", "a"], "p", vec![]);
        b.node("Mul", &["p", &half], "m", vec![]);
    });
    let m = load(&erf);
    assert!(matches!(ops(&m)[1], Op::Activation(Activation::Fused(f)) if f.name == "GELU"), "{:?}", ops(&m));
    check_gradient(&m, &input(&[1, 6], 2), 1);
    // tanh form as timm exports it: x·x, x·x², 0.044715·x³, x + ·, √(2/π)·, Tanh, 1 + ·, x·, 0.5·
    let tanh = dense_sandwich(&|b| {
        let c0 = scalar(b, "c0", 0.044715);
        let c1 = scalar(b, "c1", (2.0f32 / std::f32::consts::PI).sqrt());
        let one = scalar(b, "one", 1.0);
        let half = scalar(b, "half", 0.5);
        b.node("Mul", &["h", "h"], "x2", vec![]);
        b.node("Mul", &["h", "x2"], "x3", vec![]);
        b.node("Mul", &[&c0, "x3"], "k", vec![]);
        b.node("Add", &["h", "k"], "s", vec![]);
        b.node("Mul", &[&c1, "s"], "t0", vec![]);
        b.node("Tanh", &["t0"], "t", vec![]);
        b.node("Add", &[&one, "t"], "a", vec![]);
        b.node("Mul", &["h", "a"], "p", vec![]);
        b.node("Mul", &[&half, "p"], "m", vec![]);
    });
    let m = load(&tanh);
    assert!(matches!(ops(&m)[1], Op::Activation(Activation::Fused(f)) if f.name == "GELU (tanh)"), "{:?}", ops(&m));
    check_gradient(&m, &input(&[1, 6], 3), 2);
}

#[test]
fn a_sigmoid_of_another_tensor_is_a_gate_not_an_activation() {
    // x · Sigmoid(y), y ≠ x: a gate (RLRP.md), never fused.
    let b = dense_sandwich(&|b| {
        b.named_node("fc1b", "Gemm", &["x", "W3", "B1"], &["y"], vec![]);
        b.named_node("sig", "Sigmoid", &["y"], &["s"], vec![]);
        b.named_node("gate", "Mul", &["h", "s"], &["m"], vec![]);
    });
    let m = load(&b);
    assert!(ops(&m).iter().any(|op| matches!(op, Op::Gate { gate: 1, divide: false })), "{:?}", ops(&m));
    assert!(!ops(&m).iter().any(|op| matches!(op, Op::Activation(Activation::Fused(_)))));
    let x = input(&[1, 6], 4);
    check_gradient(&m, &x, 0);
    // Relevance flows through the signal only, and stays finite.
    let acts = m.forward(&x).unwrap();
    let e =
        explain(&m, &acts, Method::Lrp0, &ExplainOptions { target: Some(0), ..Default::default() }, &mut no_progress())
            .unwrap();
    let kappa = e.kappa.unwrap();
    assert!(kappa.is_finite() && e.non_finite == 0);
}

#[test]
fn silu_whose_sigmoid_is_read_elsewhere_stays_a_gate() {
    // The Sigmoid's output is also read by a dense layer: the region cannot be fused, and the
    // product is a gate on h (its Sigmoid factor).
    let mut b = dense_sandwich(&|b| {
        b.named_node("sig", "Sigmoid", &["h"], &["s"], vec![]);
        b.named_node("silu", "Mul", &["h", "s"], &["m"], vec![]);
    });
    b.named_node("aux", "Gemm", &["s", "W2", "B2"], &["a"], vec![]);
    b.named_node("sum", "Add", &["logits", "a"], &["out"], vec![]);
    let mut proto = b.proto();
    proto.graph.as_mut().unwrap().output[0].name = "out".into();
    let bytes = prost::Message::encode_to_vec(&proto);
    let m = Model::from_onnx_bytes(&bytes, &LoadOptions::default()).unwrap();
    assert!(ops(&m).iter().any(|op| matches!(op, Op::Gate { gate: 1, .. })), "{:?}", ops(&m));
    assert!(!ops(&m).iter().any(|op| matches!(op, Op::Activation(Activation::Fused(_)))));
    check_gradient(&m, &input(&[1, 6], 5), 1);
}

/// x [1, 4, 6] (4 tokens of 6 features) → `norm` (reads "x", writes "n") → MatMul (6 → 3) → mean over
/// tokens → [1, 3].
fn token_model(norm: &dyn Fn(&mut OnnxBuilder)) -> OnnxBuilder {
    let mut rng = Rng::new(9);
    let mut b = OnnxBuilder::new("x", &[1, 4, 6]);
    b.init("gamma", &[6], &rng.sym_vec(6, 1.0));
    b.init("beta", &[6], &rng.sym_vec(6, 0.5));
    b.init("W", &[6, 3], &rng.sym_vec(18, 0.8));
    norm(&mut b);
    b.node("MatMul", &["n", "W"], "y", vec![]);
    b.node("ReduceMean", &["y"], "logits", vec![attr::ints("axes", &[1]), attr::int("keepdims", 0)]);
    b.output("logits", &[1, 3]);
    b.opset(17);
    b
}

#[test]
fn layer_norm_written_out_equals_the_fused_operator() {
    let fused = token_model(&|b| {
        b.node(
            "LayerNormalization",
            &["x", "gamma", "beta"],
            "n",
            vec![attr::int("axis", -1), attr::float("epsilon", 1e-5)],
        );
    });
    let written = token_model(&|b| {
        let two = scalar(b, "two", 2.0);
        let eps = scalar(b, "eps", 1e-5);
        b.node("ReduceMean", &["x"], "mu", vec![attr::ints("axes", &[-1])]);
        b.node("Sub", &["x", "mu"], "c", vec![]);
        b.node("Pow", &["c", &two], "c2", vec![]);
        b.node("ReduceMean", &["c2"], "var", vec![attr::ints("axes", &[-1])]);
        b.node("Add", &["var", &eps], "ve", vec![]);
        b.node("Sqrt", &["ve"], "sd", vec![]);
        b.node("Div", &["c", "sd"], "xh", vec![]);
        b.node("Mul", &["xh", "gamma"], "g", vec![]);
        b.node("Add", &["g", "beta"], "n", vec![]);
    });
    let (mf, mw) = (load(&fused), load(&written));
    assert!(ops(&mf).iter().any(|op| matches!(op, Op::LayerNorm(_))));
    assert!(ops(&mw).iter().any(|op| matches!(op, Op::Linear(Linear::Centre(_)))), "{:?}", ops(&mw));
    assert!(ops(&mw).iter().any(|op| matches!(op, Op::Gate { gate: 1, divide: true })), "{:?}", ops(&mw));
    let x = input(&[1, 4, 6], 6);
    check_gradient(&mf, &x, 0);
    check_gradient(&mw, &x, 0);
    for method in [Method::Gradient, Method::Lrp0, Method::Rlrp, Method::Epsilon, Method::EpsilonPlusFlat] {
        let run = |m: &Model| {
            let acts = m.forward(&x).unwrap();
            explain(m, &acts, method, &ExplainOptions { target: Some(1), ..Default::default() }, &mut no_progress())
                .unwrap()
                .relevance
        };
        let err = rel_l1(&run(&mw), &run(&mf));
        assert!(err < 1e-4, "{method:?}: written-out vs fused LayerNorm differ by {err:.2e}");
    }
}

/// Self-attention's start over 4 tokens of 6 features: x [1, 4, 6], its dense maps q, k and v
/// (weights Wq, Wk, Wv) and the head's weight W [6, 3], drawn from `seed`.
fn qkv(seed: u64) -> OnnxBuilder {
    let mut rng = Rng::new(seed);
    let mut b = OnnxBuilder::new("x", &[1, 4, 6]);
    for w in ["Wq", "Wk", "Wv"] {
        b.init(w, &[6, 6], &rng.sym_vec(36, 0.6));
    }
    b.init("W", &[6, 3], &rng.sym_vec(18, 0.8));
    for (w, out) in [("Wq", "q"), ("Wk", "k"), ("Wv", "v")] {
        b.node("MatMul", &["x", w], out, vec![]);
    }
    b
}

#[test]
fn attention_weights_are_constants_for_relevance() {
    // Single-head self-attention over 4 tokens: softmax(q kᵀ / √d) v, with q, k, v dense maps of x.
    let mut b = qkv(11);
    let scale = scalar(&mut b, "scale", 1.0 / 6f32.sqrt());
    b.node("Transpose", &["k"], "kt", vec![attr::ints("perm", &[0, 2, 1])]);
    b.node("MatMul", &["q", "kt"], "s0", vec![]);
    b.node("Mul", &["s0", &scale], "s", vec![]);
    b.node("Softmax", &["s"], "a", vec![attr::int("axis", -1)]);
    b.node("MatMul", &["a", "v"], "o", vec![]);
    b.node("MatMul", &["o", "W"], "y", vec![]);
    b.node("ReduceMean", &["y"], "logits", vec![attr::ints("axes", &[1]), attr::int("keepdims", 0)]);
    b.output("logits", &[1, 3]);
    b.opset(17);
    let m = load(&b);
    assert!(ops(&m).iter().any(|op| matches!(op, Op::MatMul { weights: Some(0), .. })), "{:?}", ops(&m));
    assert!(ops(&m).iter().any(|op| matches!(op, Op::MatMul { weights: None, .. })), "q·kᵀ is bilinear");
    let x = input(&[1, 4, 6], 12);
    check_gradient(&m, &x, 2);
    // LRP-0 with the attention weights frozen is linear in x: scaling x scales R by s² (R = x ⊙ ∂f/∂x
    // of a map that is linear in x once A is fixed) — checked through conservation instead: no bias,
    // so ΣR = f_c exactly.
    let acts = m.forward(&x).unwrap();
    let e =
        explain(&m, &acts, Method::Lrp0, &ExplainOptions { target: Some(2), ..Default::default() }, &mut no_progress())
            .unwrap();
    assert!((e.kappa.unwrap() - 1.0).abs() < 1e-4, "bias-free attention under CP conserves: κ = {:?}", e.kappa);
}

#[test]
fn attention_written_with_einsum() {
    // MaxViT writes q·kᵀ and A·v as Einsum.
    let mut b = qkv(13);
    b.node("Einsum", &["q", "k"], "s", vec![attr::string("equation", "B I D, B J D -> B I J")]);
    b.node("Softmax", &["s"], "a", vec![attr::int("axis", -1)]);
    b.node("Einsum", &["a", "v"], "o", vec![attr::string("equation", "bij,bjd->bid")]);
    b.node("MatMul", &["o", "W"], "y", vec![]);
    b.node("ReduceMean", &["y"], "logits", vec![attr::ints("axes", &[1]), attr::int("keepdims", 0)]);
    b.output("logits", &[1, 3]);
    b.opset(17);
    let m = load(&b);
    assert!(
        ops(&m).iter().any(|op| matches!(op, Op::MatMul { weights: Some(0), transpose_b: false })),
        "{:?}",
        ops(&m)
    );
    assert!(ops(&m).iter().any(|op| matches!(op, Op::MatMul { weights: None, transpose_b: true })), "{:?}", ops(&m));
    let x = input(&[1, 4, 6], 14);
    check_gradient(&m, &x, 1);
    let acts = m.forward(&x).unwrap();
    let e =
        explain(&m, &acts, Method::Lrp0, &ExplainOptions { target: Some(1), ..Default::default() }, &mut no_progress())
            .unwrap();
    assert!((e.kappa.unwrap() - 1.0).abs() < 1e-4, "κ = {:?}", e.kappa);
}

#[test]
fn an_einsum_that_is_not_a_matrix_product_is_refused() {
    let mut b = OnnxBuilder::new("x", &[1, 4, 6]);
    b.init("W", &[6, 3], &[0.1; 18]);
    b.node("MatMul", &["x", "W"], "y", vec![]);
    b.named_node("outer", "Einsum", &["y", "y"], &["z"], vec![attr::string("equation", "bij,bij->bij")]);
    b.node("ReduceMean", &["z"], "logits", vec![attr::ints("axes", &[1]), attr::int("keepdims", 0)]);
    b.output("logits", &[1, 3]);
    b.opset(17);
    let e = Model::from_onnx_bytes(&b.build(), &LoadOptions::default()).err().expect("refused");
    assert!(e.to_string().contains("bij,bij->bij") && e.to_string().contains("outer"), "{e}");
}

#[test]
fn tile_and_expand_sum_relevance_over_the_copies() {
    // x [1, 6] → Gemm → h [1, 5] → Tile ×(1, 2) → [1, 10] → Gemm (10 → 3); and Expand of [1, 1, 5]
    // to [1, 2, 5]. Gradients are exact; LRP-0 of these bias-free routing ops conserves.
    let mut rng = Rng::new(21);
    let mut b = OnnxBuilder::new("x", &[1, 6]);
    b.init("W1", &[6, 5], &rng.sym_vec(30, 0.8));
    b.init("W2", &[10, 3], &rng.sym_vec(30, 0.8));
    b.init_i64("reps", &[2], &[1, 2]);
    b.node("Gemm", &["x", "W1"], "h", vec![]);
    b.node("Tile", &["h", "reps"], "t", vec![]);
    b.node("Gemm", &["t", "W2"], "logits", vec![]);
    b.output("logits", &[1, 3]);
    let m = load(&b);
    assert!(ops(&m).iter().any(|op| matches!(op, Op::Tile)), "{:?}", ops(&m));
    let x = input(&[1, 6], 22);
    check_gradient(&m, &x, 0);
    let acts = m.forward(&x).unwrap();
    let e =
        explain(&m, &acts, Method::Lrp0, &ExplainOptions { target: Some(0), ..Default::default() }, &mut no_progress())
            .unwrap();
    assert!((e.kappa.unwrap() - 1.0).abs() < 1e-4, "κ = {:?}", e.kappa);

    let mut b = OnnxBuilder::new("x", &[1, 6]);
    b.init("W1", &[6, 5], &rng.sym_vec(30, 0.8));
    b.init("W3", &[10, 3], &rng.sym_vec(30, 0.8));
    b.init_i64("shape3", &[3], &[1, 1, 5]);
    b.init_i64("target", &[3], &[1, 2, 5]);
    b.init_i64("flat", &[2], &[1, 10]);
    b.node("Gemm", &["x", "W1"], "h", vec![]);
    b.node("Reshape", &["h", "shape3"], "h3", vec![]);
    b.node("Expand", &["h3", "target"], "e", vec![]);
    b.node("Relu", &["e"], "er", vec![]);
    b.node("Reshape", &["er", "flat"], "f", vec![]);
    b.node("Gemm", &["f", "W3"], "logits", vec![]);
    b.output("logits", &[1, 3]);
    let m = load(&b);
    assert!(ops(&m).iter().any(|op| matches!(op, Op::Broadcast)), "{:?}", ops(&m));
    check_gradient(&m, &x, 2);
}

#[test]
fn hardswish_written_out_is_one_activation() {
    let b = dense_sandwich(&|b| {
        b.named_node(
            "hs",
            "HardSigmoid",
            &["h"],
            &["s"],
            vec![attr::float("alpha", 1.0 / 6.0), attr::float("beta", 0.5)],
        );
        b.named_node("hswish", "Mul", &["h", "s"], &["m"], vec![]);
    });
    let m = load(&b);
    assert!(matches!(ops(&m)[1], Op::Activation(Activation::Fused(f)) if f.name == "HardSwish"), "{:?}", ops(&m));
    check_gradient(&m, &input(&[1, 6], 31), 0);
}

/// ConvNeXt's LayerNorm2d, normalising the channels of NCHW: as Transpose → LayerNormalization →
/// Transpose, and written out with ReduceMean over axis 1. Both are one centring over the channels,
/// a constant scale and a diagonal layer, and agree for every method.
#[test]
fn channels_first_layer_norm_in_both_forms() {
    let build = |written: bool| {
        let mut rng = Rng::new(41);
        let mut b = OnnxBuilder::new("x", &[1, 3, 4, 4]);
        b.init("Wc", &[5, 3, 1, 1], &rng.sym_vec(15, 0.8));
        let (gamma, beta) = (rng.sym_vec(5, 1.0), rng.sym_vec(5, 0.5));
        b.init("g", &[5], &gamma);
        b.init("bb", &[5], &beta);
        b.init("g4", &[1, 5, 1, 1], &gamma);
        b.init("b4", &[1, 5, 1, 1], &beta);
        b.init("Wf", &[5, 2], &rng.sym_vec(10, 0.8));
        b.node("Conv", &["x", "Wc"], "c", vec![attr::ints("kernel_shape", &[1, 1])]);
        if written {
            let two = scalar(&mut b, "two", 2.0);
            let eps = scalar(&mut b, "eps", 1e-6);
            b.node("ReduceMean", &["c"], "mu", vec![attr::ints("axes", &[1])]);
            b.node("Sub", &["c", "mu"], "d", vec![]);
            b.node("Pow", &["d", &two], "d2", vec![]);
            b.node("ReduceMean", &["d2"], "var", vec![attr::ints("axes", &[1])]);
            b.node("Add", &["var", &eps], "ve", vec![]);
            b.node("Sqrt", &["ve"], "sd", vec![]);
            b.node("Div", &["d", "sd"], "xh", vec![]);
            b.node("Mul", &["xh", "g4"], "gx", vec![]);
            b.node("Add", &["gx", "b4"], "n", vec![]);
        } else {
            b.node("Transpose", &["c"], "ct", vec![attr::ints("perm", &[0, 2, 3, 1])]);
            b.node(
                "LayerNormalization",
                &["ct", "g", "bb"],
                "nt",
                vec![attr::int("axis", -1), attr::float("epsilon", 1e-6)],
            );
            b.node("Transpose", &["nt"], "n", vec![attr::ints("perm", &[0, 3, 1, 2])]);
        }
        b.node("GlobalAveragePool", &["n"], "p", vec![]);
        b.node("Flatten", &["p"], "pf", vec![]);
        b.node("Gemm", &["pf", "Wf"], "logits", vec![]);
        b.output("logits", &[1, 2]);
        b.opset(17);
        load(&b)
    };
    let (mw, mf) = (build(true), build(false));
    // The written-out form: the centring is over the channels (inner = 16 positions).
    assert!(
        ops(&mw).iter().any(|op| matches!(op, Op::Linear(Linear::Centre(a)) if a.n == 5 && a.inner == 16)),
        "{:?}",
        ops(&mw)
    );
    let x = input(&[1, 3, 4, 4], 42);
    check_gradient(&mw, &x, 1);
    check_gradient(&mf, &x, 1);
    for method in [Method::Gradient, Method::Lrp0, Method::Rlrp, Method::Epsilon, Method::EpsilonGammaBox] {
        let run = |m: &Model| {
            let acts = m.forward(&x).unwrap();
            explain(m, &acts, method, &ExplainOptions { target: Some(0), ..Default::default() }, &mut no_progress())
                .unwrap()
                .relevance
        };
        let err = rel_l1(&run(&mw), &run(&mf));
        assert!(err < 1e-4, "{method:?}: the two forms of LayerNorm2d differ by {err:.2e}");
    }
}

#[test]
fn extreme_slice_and_gather_indices_are_clamped_or_refused_without_panicking() {
    for (starts, ends, steps) in [(i64::MIN, i64::MAX, 1i64), (0, 3, i64::MAX), (i64::MAX, i64::MIN, 1)] {
        let mut b = OnnxBuilder::new("x", &[1, 6]);
        b.init("W", &[6, 3], &[0.1; 18]);
        b.init_i64("s", &[1], &[starts]);
        b.init_i64("e", &[1], &[ends]);
        b.init_i64("a", &[1], &[1]);
        b.init_i64("st", &[1], &[steps]);
        b.node("Slice", &["x", "s", "e", "a", "st"], "y", vec![]);
        b.node("Gemm", &["y", "W"], "logits", vec![]);
        b.output("logits", &[1, 3]);
        // Loads (clamped as ONNX says) or fails with an error, in tract's inference or in ours; never a panic.
        let _ = Model::from_onnx_bytes(&b.build(), &LoadOptions::default());
    }
    let mut b = OnnxBuilder::new("x", &[1, 6]);
    b.init_i64("ix", &[1], &[i64::MIN]);
    b.node("Gather", &["x", "ix"], "logits", vec![attr::int("axis", 1)]);
    b.output("logits", &[1, 1]);
    assert!(Model::from_onnx_bytes(&b.build(), &LoadOptions::default()).is_err());
}

/// x [1, 2, 6, 6] → Conv 3×3 (2 → 4) → Relu → `middle` (reads "r", writes "m", [1, 4, 6, 6]) →
/// GlobalAveragePool → Flatten → Gemm (4 → 3).
fn conv_sandwich(middle: &dyn Fn(&mut OnnxBuilder)) -> OnnxBuilder {
    let mut rng = Rng::new(11);
    let mut b = OnnxBuilder::new("x", &[1, 2, 6, 6]);
    b.init("Wc", &[4, 2, 3, 3], &rng.sym_vec(72, 0.6));
    b.init("Bc", &[4], &rng.sym_vec(4, 0.3));
    b.init("Wd", &[4, 3], &rng.sym_vec(12, 0.8));
    b.init("Bd", &[3], &rng.sym_vec(3, 0.2));
    b.named_node("conv", "Conv", &["x", "Wc", "Bc"], &["c"], vec![attr::ints("pads", &[1, 1, 1, 1])]);
    b.named_node("relu", "Relu", &["c"], &["r"], vec![]);
    middle(&mut b);
    b.named_node("gap", "GlobalAveragePool", &["m"], &["g"], vec![]);
    b.named_node("flat", "Flatten", &["g"], &["f"], vec![]);
    b.named_node("fc", "Gemm", &["f", "Wd", "Bd"], &["logits"], vec![]);
    b.output("logits", &[1, 3]);
    b
}

/// LRP-0 against Gradient × Input on a network that is piecewise linear at x (RLRP.md: with the
/// normalisers held constant they are equal; here there are none): the largest difference relative
/// to the largest |gradient × input|.
fn lrp0_against_gradient_times_input(m: &Model, x: &Tensor, target: usize) -> f64 {
    let acts = m.forward(x).unwrap();
    let opts = ExplainOptions { target: Some(target), ..Default::default() };
    let lrp0 = explain(m, &acts, Method::Lrp0, &opts, &mut no_progress()).unwrap().relevance;
    let gxi = explain(m, &acts, Method::GradientXInput, &opts, &mut no_progress()).unwrap().relevance;
    let scale = gxi.iter().fold(1e-12f32, |s, v| s.max(v.abs()));
    lrp0.iter().zip(gxi.iter()).fold(0f32, |w, (a, b)| w.max((a - b).abs())) as f64 / scale as f64
}

/// The gradient of each of the three logits is exact at x, and R-LRP, LRP-0, ε and γ explain
/// logit 0 with finite, non-zero maps.
fn exact_gradients_and_finite_maps(m: &Model, x: &Tensor) {
    for target in 0..3 {
        check_gradient(m, x, target);
    }
    every_method_gives_a_finite_nonzero_map(m, x, 0, &[Method::Rlrp, Method::Lrp0, Method::Epsilon, Method::Gamma]);
}

/// Every method in `methods` explains `target` at x with a finite map that is not zero everywhere.
fn every_method_gives_a_finite_nonzero_map(m: &Model, x: &Tensor, target: usize, methods: &[Method]) {
    let acts = m.forward(x).unwrap();
    let opts = ExplainOptions { target: Some(target), ..Default::default() };
    for &method in methods {
        let r = explain(m, &acts, method, &opts, &mut no_progress()).unwrap().relevance;
        assert!(r.iter().all(|v| v.is_finite()) && r.iter().any(|&v| v != 0.0), "{method:?}");
    }
}

/// `Sub(pool(x), x)` (PoolFormer's and EfficientFormer's token mixer): a difference of two computed
/// tensors is the skip sum of a and −b. Its gradient is the exact vector-Jacobian product (central
/// differences of tract's forward pass), LRP-0 stays Gradient × Input (b's share is that of −b), and
/// every relevance method gives a finite, non-zero map. A difference whose operands broadcast is
/// still refused, by name.
#[test]
fn a_difference_of_two_computed_tensors_is_a_skip_sum_with_a_sign() {
    let pool_minus_x = conv_sandwich(&|b| {
        let pool = vec![
            attr::ints("kernel_shape", &[3, 3]),
            attr::ints("pads", &[1, 1, 1, 1]),
            attr::int("count_include_pad", 0),
        ];
        b.named_node("pool", "AveragePool", &["r"], &["p"], pool);
        b.named_node("mixer", "Sub", &["p", "r"], &["m"], vec![]);
    });
    let m = load(&pool_minus_x);
    assert!(ops(&m).iter().any(|op| matches!(op, Op::Add { subtract: true })), "{:?}", ops(&m));
    for (seed, target) in [(21, 0), (22, 1), (23, 2)] {
        let x = input(&[1, 2, 6, 6], seed);
        check_gradient(&m, &x, target);
        let worst = lrp0_against_gradient_times_input(&m, &x, target);
        assert!(worst < 1e-4, "LRP-0 vs Gradient × Input: {worst:.2e}");
        every_method_gives_a_finite_nonzero_map(
            &m,
            &x,
            target,
            &[Method::Rlrp, Method::RlrpDivfree, Method::Epsilon, Method::Gamma, Method::Alphabeta],
        );
    }
    // the other order, x − pool(x), is the same op with the roles swapped
    let x_minus_pool = conv_sandwich(&|b| {
        b.named_node(
            "pool",
            "AveragePool",
            &["r"],
            &["p"],
            vec![attr::ints("kernel_shape", &[3, 3]), attr::ints("pads", &[1, 1, 1, 1])],
        );
        b.named_node("mixer", "Sub", &["r", "p"], &["m"], vec![]);
    });
    let m = load(&x_minus_pool);
    let x = input(&[1, 2, 6, 6], 24);
    check_gradient(&m, &x, 1);
    assert!(lrp0_against_gradient_times_input(&m, &x, 1) < 1e-4);
    // a broadcast difference that is not x − mean(x): refused, naming the node
    let broadcast = conv_sandwich(&|b| {
        b.named_node("gmax", "GlobalMaxPool", &["r"], &["gm"], vec![]);
        b.named_node("mixer", "Sub", &["r", "gm"], &["m"], vec![]);
    });
    let err = Model::from_onnx_bytes(&broadcast.build(), &LoadOptions::default()).err().expect("refused").to_string();
    assert!(err.contains("mixer") && err.contains("difference"), "{err}");
}

/// InstanceNormalization, and GroupNorm as exporters write it (Reshape to [N, groups, rest],
/// InstanceNormalization with unit scale, Reshape back, per-channel Mul and Add), are a LayerNorm over
/// the axes after the channels with a per-channel affine. The gradient (standard deviation
/// included) is the exact vector-Jacobian product of tract's forward pass; every relevance method
/// gives a finite, non-zero map.
#[test]
fn instance_and_group_normalisation_are_layer_norms_per_channel() {
    let mut rng = Rng::new(31);
    let (scale, bias) = (rng.sym_vec(4, 1.0), rng.sym_vec(4, 0.5));
    let instance = conv_sandwich(&|b| {
        b.init("S", &[4], &scale);
        b.init("B", &[4], &bias);
        b.named_node("inorm", "InstanceNormalization", &["c", "S", "B"], &["n"], vec![attr::float("epsilon", 1e-3)]);
        b.named_node("after", "Tanh", &["n"], &["m"], vec![]);
    });
    let (gamma, beta) = (rng.sym_vec(4, 1.0), rng.sym_vec(4, 0.5));
    let group = conv_sandwich(&|b| {
        b.init_i64("grouped", &[3], &[1, 2, 72]);
        b.init_i64("back", &[4], &[1, 4, 6, 6]);
        b.init("ones", &[2], &[1.0, 1.0]);
        b.init("zeros", &[2], &[0.0, 0.0]);
        b.init("G", &[4, 1, 1], &gamma);
        b.init("Be", &[4, 1, 1], &beta);
        b.named_node("to_groups", "Reshape", &["c", "grouped"], &["rg"], vec![]);
        b.named_node("gnorm", "InstanceNormalization", &["rg", "ones", "zeros"], &["ng"], vec![]);
        b.named_node("from_groups", "Reshape", &["ng", "back"], &["nb"], vec![]);
        b.named_node("gamma", "Mul", &["nb", "G"], &["ga"], vec![]);
        b.named_node("beta", "Add", &["ga", "Be"], &["n"], vec![]);
        b.named_node("after", "Tanh", &["n"], &["m"], vec![]);
    });
    // (each normalises the convolution's output and a Tanh follows: a channel that a ReLU zeroed
    // would have no variance to differentiate, a global mean right after the normalisation would
    // be constant, and central differences need a smooth function)
    for (builder, seed) in [(instance, 41), (group, 42)] {
        let m = load(&builder);
        assert!(ops(&m).iter().any(|op| matches!(op, Op::LayerNorm(_))), "{:?}", ops(&m));
        let x = input(&[1, 2, 6, 6], seed);
        for target in 0..3 {
            check_gradient(&m, &x, target);
        }
        every_method_gives_a_finite_nonzero_map(
            &m,
            &x,
            0,
            &[Method::Rlrp, Method::Lrp0, Method::Epsilon, Method::Gamma, Method::Alphabeta],
        );
    }
}

/// Weight standardisation as NFNets and BiT ResNets export it: the convolution's weight is a
/// training-mode BatchNormalization (three outputs, two of them unread) of the weight reshaped to
/// [1, out, in·k·k], reshaped back. tract 0.23 cannot run that node; it is folded at load into the
/// standardised weight, which must be what a hand computation (f64) of ONNX's training-mode
/// formula gives: the model equals the one with that weight as an initialiser, logits and
/// explanations alike, and its gradient is the exact vector-Jacobian product.
#[test]
fn weight_standardisation_is_folded_into_the_weight() {
    let mut rng = Rng::new(51);
    let w = rng.sym_vec(72, 0.6);
    let (gain, eps, dense) = (rng.sym_vec(4, 1.0), 1e-4f32, rng.sym_vec(12, 0.8));
    // the standardised weight: per output channel, (w − mean) / sqrt(var + ε) · gain
    let mut standard = vec![0f32; 72];
    for (c, (filter, out)) in w.chunks(18).zip(standard.chunks_mut(18)).enumerate() {
        let mean = filter.iter().map(|&v| v as f64).sum::<f64>() / 18.0;
        let var = filter.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 18.0;
        for (o, &v) in out.iter_mut().zip(filter) {
            *o = ((v as f64 - mean) / (var + eps as f64).sqrt() * gain[c] as f64) as f32;
        }
    }
    let model = |folded_by_us: bool| {
        let mut b = OnnxBuilder::new("x", &[1, 2, 6, 6]);
        if folded_by_us {
            b.init("Wflat", &[1, 4, 18], &w);
            b.init("gain", &[4], &gain);
            b.init("zero", &[4], &[0.0; 4]);
            b.init("running", &[4], &[0.0; 4]);
            b.init_i64("shape", &[4], &[4, 2, 3, 3]);
            let attrs = vec![attr::float("epsilon", eps), attr::float("momentum", 1.0), attr::int("training_mode", 1)];
            b.named_node(
                "ws",
                "BatchNormalization",
                &["Wflat", "gain", "zero", "running", "running"],
                &["Wstd", "mean_out", "var_out"],
                attrs,
            );
            b.named_node("ws_shape", "Reshape", &["Wstd", "shape"], &["Wc"], vec![]);
        } else {
            b.init("Wc", &[4, 2, 3, 3], &standard);
        }
        b.init("Bc", &[4], &[0.1, -0.2, 0.3, 0.0]);
        b.init("Wd", &[4, 3], &dense);
        b.named_node("conv", "Conv", &["x", "Wc", "Bc"], &["c"], vec![attr::ints("pads", &[1, 1, 1, 1])]);
        b.named_node("act", "Tanh", &["c"], &["t"], vec![]);
        b.named_node("gap", "GlobalAveragePool", &["t"], &["g"], vec![]);
        b.named_node("flat", "Flatten", &["g"], &["f"], vec![]);
        b.named_node("fc", "Gemm", &["f", "Wd"], &["logits"], vec![]);
        b.output("logits", &[1, 3]);
        load(&b)
    };
    let (ours, reference) = (model(true), model(false));
    let x = input(&[1, 2, 6, 6], 52);
    let (acts, ref_acts) = (ours.forward(&x).unwrap(), reference.forward(&x).unwrap());
    let (logits, ref_logits) = (ours.logits(&acts).unwrap(), reference.logits(&ref_acts).unwrap());
    for (a, b) in logits.iter().zip(ref_logits.iter()) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{logits:?} vs {ref_logits:?}");
    }
    let opts = ExplainOptions { target: Some(1), ..Default::default() };
    for method in [Method::Rlrp, Method::Epsilon, Method::Gradient] {
        let r = explain(&ours, &acts, method, &opts, &mut no_progress()).unwrap().relevance;
        let r_ref = explain(&reference, &ref_acts, method, &opts, &mut no_progress()).unwrap().relevance;
        assert!(rel_l1(&r, &r_ref) < 1e-5, "{method:?}: {:.2e}", rel_l1(&r, &r_ref));
    }
    check_gradient(&ours, &x, 2);
}

/// LRN across channels (AlexNet and GoogLeNet as Caffe exported them), with odd and even window
/// sizes (ONNX's window is uneven for an even size): its gradient is the exact vector-Jacobian
/// product of tract's forward pass, and every relevance method passes it (a normaliser: a constant
/// scale for relevance) to a finite, non-zero map.
#[test]
fn local_response_normalisation_is_a_normaliser() {
    for (size, seed) in [(3, 61), (4, 62), (5, 63)] {
        let b = conv_sandwich(&|b| {
            let attrs = vec![
                attr::int("size", size),
                attr::float("alpha", 0.8),
                attr::float("beta", 0.75),
                attr::float("bias", 1.5),
            ];
            b.named_node("lrn", "LRN", &["c"], &["n"], attrs);
            b.named_node("after", "Tanh", &["n"], &["m"], vec![]);
        });
        let m = load(&b);
        assert!(ops(&m).iter().any(|op| matches!(op, Op::Lrn(_))), "{:?}", ops(&m));
        let x = input(&[1, 2, 6, 6], seed);
        exact_gradients_and_finite_maps(&m, &x);
    }
}

/// `x / max(‖x‖₂, ε)` over the channels (F.normalize, as XCiT's and Swin-V2's cosine attention and
/// EdgeNeXt write it, with or without an Expand of the norm): ReduceL2 computes a normaliser, a
/// constant scale for relevance (RLRP.md), so relevance passes the division unchanged and the norm's
/// branch gets none; the gradient is the exact vector-Jacobian product. A norm on the relevance path
/// (the output computed from ‖x‖ itself) has no rule: the model is refused by name, as for any
/// operator relevance cannot pass.
#[test]
fn an_l2_normaliser_is_a_constant_scale() {
    for expand in [false, true] {
        let b = conv_sandwich(&|b| {
            b.named_node("norm", "ReduceL2", &["r"], &["n"], vec![attr::ints("axes", &[1]), attr::int("keepdims", 1)]);
            let eps = scalar(b, "eps", 1e-6);
            b.named_node("clamp", "Clip", &["n", &eps], &["d"], vec![]);
            let d = if expand {
                b.init_i64("shape", &[4], &[1, 4, 6, 6]);
                b.named_node("expand", "Expand", &["d", "shape"], &["e"], vec![]);
                "e"
            } else {
                "d"
            };
            b.named_node("div", "Div", &["r", d], &["m"], vec![]);
        });
        let m = load(&b);
        let kinds: Vec<&str> = ops(&m).iter().map(|op| op.kind()).collect();
        assert!(
            kinds.contains(&"ReduceL2") && ops(&m).iter().any(|op| matches!(op, Op::Gate { gate: 1, divide: true })),
            "{kinds:?}"
        );
        let x = input(&[1, 2, 6, 6], 71);
        exact_gradients_and_finite_maps(&m, &x);
    }
    let norm_of_the_maps = conv_sandwich(&|b| {
        b.named_node("norm", "ReduceL2", &["r"], &["m"], vec![attr::ints("axes", &[2, 3]), attr::int("keepdims", 1)]);
    });
    let e = Model::from_onnx_bytes(&norm_of_the_maps.build(), &LoadOptions::default()).err().expect("refused");
    assert!(e.to_string().contains("node 'norm': relevance would flow into a Euclidean norm (ReduceL2)"), "{e}");
}

/// One Resize case: opset, attributes, and the scales (f32) or sizes (i64) it is given.
struct ResizeCase {
    opset: i64,
    attrs: Vec<(&'static str, &'static str)>,
    ints: Vec<(&'static str, i64)>,
    scales: Option<Vec<f32>>,
    sizes: Option<Vec<i64>>,
    /// opset 18's `axes`: which axes the scales or sizes name
    axes: Option<Vec<i64>>,
}

fn resize_case(opset: i64, attrs: &[(&'static str, &'static str)], ints: &[(&'static str, i64)]) -> ResizeCase {
    ResizeCase { opset, attrs: attrs.to_vec(), ints: ints.to_vec(), scales: None, sizes: None, axes: None }
}

/// conv_sandwich with a Resize of the convolution's output in the middle (its ReLU left unread, so
/// dropped: the network is linear), then a Tanh with `squash` (which keeps the Resize's output).
fn resize_model(case: &ResizeCase, squash: bool) -> OnnxBuilder {
    let mut b = conv_sandwich(&|b| {
        let mut attrs: Vec<_> = case.attrs.iter().map(|&(k, v)| attr::string(k, v)).collect();
        attrs.extend(case.ints.iter().map(|&(k, v)| attr::int(k, v)));
        attrs.extend(case.axes.as_ref().map(|a| attr::ints("axes", a)));
        let scales = case.scales.as_ref().map(|s| b.init("scales", &[s.len() as i64], s));
        let sizes = case.sizes.as_ref().map(|s| b.init_i64("sizes", &[s.len() as i64], s));
        let inputs: Vec<&str> = if case.opset <= 10 {
            vec!["c", scales.as_deref().expect("opset 10 takes scales")]
        } else {
            let mut v = vec!["c", "", scales.as_deref().unwrap_or("")];
            if let Some(s) = sizes.as_deref() {
                v.push(s);
            }
            v
        };
        if squash {
            b.named_node("resize", "Resize", &inputs, &["z"], attrs);
            b.named_node("squash", "Tanh", &["z"], &["m"], vec![]);
        } else {
            b.named_node("resize", "Resize", &inputs, &["m"], attrs);
        }
    });
    b.opset(case.opset);
    b
}

/// Resize (nearest, linear, cubic; its coordinate transformations, nearest modes, antialiasing,
/// `exclude_outside`, scales or sizes, opsets 10, 13 and 18) is the linear layer tract computes:
/// our forward map of the layer equals tract's output, its transpose is the exact vector-Jacobian
/// product (the gradient against central differences of tract's forward pass), LRP-0 equals
/// Gradient × Input (in a linear network: conv, Resize, pooling, dense), and every method gives a
/// finite, non-zero map. `tf_crop_and_resize` (a constant outside the crop) is refused by name.
#[test]
fn a_resize_is_the_linear_layer_tract_computes() {
    let mut cases = vec![
        ResizeCase {
            scales: Some(vec![1.0, 1.0, 2.0, 2.0]),
            ..resize_case(13, &[("coordinate_transformation_mode", "asymmetric"), ("nearest_mode", "floor")], &[])
        },
        ResizeCase { scales: Some(vec![1.0, 1.0, 2.0, 3.0]), ..resize_case(10, &[("mode", "nearest")], &[]) },
        ResizeCase {
            sizes: Some(vec![1, 4, 9, 4]),
            ..resize_case(13, &[("mode", "nearest"), ("nearest_mode", "round_prefer_ceil")], &[])
        },
        ResizeCase { sizes: Some(vec![1, 4, 9, 11]), ..resize_case(13, &[("mode", "linear")], &[]) },
        ResizeCase {
            scales: Some(vec![1.0, 1.0, 1.5, 0.5]),
            ..resize_case(13, &[("mode", "linear"), ("coordinate_transformation_mode", "align_corners")], &[])
        },
        ResizeCase {
            sizes: Some(vec![1, 4, 10, 5]),
            ..resize_case(13, &[("mode", "cubic"), ("coordinate_transformation_mode", "pytorch_half_pixel")], &[])
        },
        ResizeCase {
            sizes: Some(vec![1, 4, 4, 8]),
            ..resize_case(13, &[("mode", "cubic")], &[("exclude_outside", 1)])
        },
        ResizeCase { sizes: Some(vec![1, 4, 3, 4]), ..resize_case(18, &[("mode", "linear")], &[("antialias", 1)]) },
        ResizeCase { sizes: Some(vec![1, 4, 4, 3]), ..resize_case(18, &[("mode", "cubic")], &[("antialias", 1)]) },
    ];
    cases.push(ResizeCase {
        scales: Some(vec![1.5, 2.0]),
        axes: Some(vec![3, -2]),
        ..resize_case(18, &[("mode", "linear")], &[])
    });
    for (i, case) in cases.iter().enumerate() {
        let load = |squash: bool| {
            Model::from_onnx_bytes(&resize_model(case, squash).build(), &LoadOptions::default())
                .unwrap_or_else(|e| panic!("case {i}: {e}"))
        };
        let m = load(true);
        let node = m.graph.nodes.iter().find(|n| n.name == "resize").expect("the Resize node");
        let Op::Linear(layer @ Linear::Resize(_)) = &node.op else { panic!("case {i}: {:?}", node.op) };
        let x = input(&[1, 2, 6, 6], 80 + i as u64);
        let acts = m.forward(&x).unwrap();
        let (input_act, output_act) = (acts.get(node.inputs[0]).unwrap(), acts.get(node.output).unwrap());
        let ours = layer.forward_with(&input_act, None, None, output_act.shape());
        let worst = ours.iter().zip(output_act.iter()).fold(0f32, |w, (a, b)| w.max((a - b).abs()));
        assert!(worst < 1e-5, "case {i}: our forward map differs from tract's by {worst}");
        check_gradient(&m, &x, i % 3);
        let m = load(false);
        check_gradient(&m, &x, i % 3);
        let gap = lrp0_against_gradient_times_input(&m, &x, i % 3);
        assert!(gap < 1e-4, "case {i}: LRP-0 against gradient × input: {gap:.2e}");
        every_method_gives_a_finite_nonzero_map(
            &m,
            &x,
            0,
            &[Method::Rlrp, Method::Epsilon, Method::Gamma, Method::Alphabeta],
        );
    }
    let mut crop =
        resize_case(13, &[("mode", "linear"), ("coordinate_transformation_mode", "tf_crop_and_resize")], &[]);
    crop.sizes = Some(vec![1, 4, 4, 4]);
    let e =
        Model::from_onnx_bytes(&resize_model(&crop, false).build(), &LoadOptions::default()).err().expect("refused");
    assert!(e.to_string().contains("tf_crop_and_resize"), "{e}");
}

/// Attention whose weights are mixed or renormalised after their Softmax is still attention
/// (RLRP.md: "with the Softmax in between"): ConViT's gated positional attention (the Softmax
/// blended with a constant map, then divided by its row sums) and CaiT's talking heads (a linear
/// map of the weights after the Softmax). The weights are constants for relevance: LRP-0 of this
/// bias-free network conserves (κ = 1); the gradient is exact. A product whose two sides both come
/// from a Softmax is not attention, and is refused by name.
#[test]
fn attention_weights_mixed_after_their_softmax_are_still_attention_weights() {
    let attention = |after_softmax: &dyn Fn(&mut OnnxBuilder) -> String| {
        let mut b = qkv(13);
        b.node("Transpose", &["k"], "kt", vec![attr::ints("perm", &[0, 2, 1])]);
        b.node("MatMul", &["q", "kt"], "s", vec![]);
        b.node("Softmax", &["s"], "a", vec![attr::int("axis", -1)]);
        let weights = after_softmax(&mut b);
        b.named_node("mix", "MatMul", &[&weights, "v"], &["o"], vec![]);
        b.node("MatMul", &["o", "W"], "y", vec![]);
        b.node("ReduceMean", &["y"], "logits", vec![attr::ints("axes", &[1]), attr::int("keepdims", 0)]);
        b.output("logits", &[1, 3]);
        b.opset(17);
        b
    };
    let gated = attention(&|b| {
        let mut rng = Rng::new(14);
        let positional: Vec<f32> = rng.sym_vec(16, 1.0).iter().map(|v| 0.3 * v.abs()).collect();
        b.init("P", &[1, 4, 4], &positional);
        let g = scalar(b, "g", 0.7);
        b.node("Mul", &["a", &g], "ga", vec![]);
        b.node("Add", &["ga", "P"], "blend", vec![]);
        b.init_i64("last", &[1], &[-1]);
        b.node("ReduceSum", &["blend", "last"], "rows", vec![attr::int("keepdims", 1)]);
        b.node("Div", &["blend", "rows"], "weights", vec![]);
        "weights".into()
    });
    let talking_heads = attention(&|b| {
        let mut rng = Rng::new(15);
        b.init("Wh", &[4, 4], &rng.sym_vec(16, 0.8));
        b.node("Transpose", &["a"], "at", vec![attr::ints("perm", &[0, 2, 1])]);
        b.node("MatMul", &["at", "Wh"], "mixed", vec![]);
        b.node("Transpose", &["mixed"], "weights", vec![attr::ints("perm", &[0, 2, 1])]);
        "weights".into()
    });
    for (what, b) in [("gated", gated), ("talking heads", talking_heads)] {
        let m = load(&b);
        let mix = m.graph.nodes.iter().find(|n| n.name == "mix").expect("the mixing product");
        assert!(matches!(mix.op, Op::MatMul { weights: Some(0), .. }), "{what}: {:?}", mix.op);
        let x = input(&[1, 4, 6], 16);
        check_gradient(&m, &x, 1);
        let acts = m.forward(&x).unwrap();
        let opts = ExplainOptions { target: Some(1), ..Default::default() };
        let e = explain(&m, &acts, Method::Lrp0, &opts, &mut no_progress()).unwrap();
        assert!((e.kappa.unwrap() - 1.0).abs() < 1e-4, "{what}: κ = {:?}", e.kappa);
        every_method_gives_a_finite_nonzero_map(&m, &x, 1, &[Method::Rlrp, Method::Epsilon, Method::Gamma]);
    }
    let both_sides = attention(&|b| {
        b.node("Transpose", &["a"], "at", vec![attr::ints("perm", &[0, 2, 1])]);
        b.node("MatMul", &["a", "at"], "weights", vec![]);
        "weights".into()
    });
    let e = Model::from_onnx_bytes(&both_sides.build(), &LoadOptions::default()).err().expect("refused");
    assert!(e.to_string().contains("neither attention"), "{e}");
}

/// GLU's variants (RLRP.md's "GLU halves"): in SwiGLU `SiLU(h·Wa) ⊙ (h·Wb)`, GEGLU (GELU) and ReGLU
/// (ReLU) the activated half gates the other, as σ does in GLU itself: a gate, constant for
/// relevance, which flows only into the linear half; the gradient is the exact product rule. A
/// product of two activated halves names no gate and is refused by name. (At this x the ReLU gate
/// is zero at one of its five outputs and positive at the others.)
#[test]
fn the_activated_half_of_a_glu_variant_is_its_gate() {
    let glu = |activation: &'static str| {
        let mut rng = Rng::new(21);
        let (wa, wb) = (rng.sym_vec(25, 0.8), rng.sym_vec(25, 0.8));
        let mut b = dense_sandwich(&|b| {
            b.init("Wa", &[5, 5], &wa);
            b.init("Wb", &[5, 5], &wb);
            b.node("MatMul", &["h", "Wa"], "a", vec![]);
            b.node("MatMul", &["h", "Wb"], "b", vec![]);
            match activation {
                "SiLU" => {
                    b.node("Sigmoid", &["a"], "sa", vec![]);
                    b.node("Mul", &["a", "sa"], "act", vec![]);
                }
                "both" => {
                    b.node("Relu", &["a"], "act", vec![]);
                    b.node("Relu", &["b"], "rb", vec![]);
                }
                op => {
                    b.node(op, &["a"], "act", vec![]);
                }
            }
            let other = if activation == "both" { "rb" } else { "b" };
            b.named_node("glu", "Mul", &[other, "act"], &["m"], vec![]);
        });
        b.opset(20);
        b
    };
    for activation in ["SiLU", "Gelu", "Relu"] {
        let m = load(&glu(activation));
        let node = m.graph.nodes.iter().find(|n| n.name == "glu").expect("the product");
        assert!(matches!(node.op, Op::Gate { gate: 1, divide: false }), "{activation}: {:?}", node.op);
        let x = input(&[1, 6], 23);
        exact_gradients_and_finite_maps(&m, &x);
    }
    let e = Model::from_onnx_bytes(&glu("both").build(), &LoadOptions::default()).err().expect("refused");
    assert!(e.to_string().contains("node 'glu'") && e.to_string().contains("recognisably the gate"), "{e}");
}
