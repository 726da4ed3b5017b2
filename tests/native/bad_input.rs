//! Bad input: every failure a user can cause is a typed [`Error`] with a clear message, never a panic.
//! Models are the shared files (cut up) or small ONNX graphs written by `common::onnx_builder`.
use crate::common;
use common::onnx_builder::{attr, OnnxBuilder, Rng, FLOAT, INT64};
use common::*;
use rlrp::model::{LoadOptions, Model};
use rlrp::relevance::{explain, ExplainOptions, Method, MethodParams};
use rlrp::tensor::{ndarray, Tensor};
use rlrp::Error;

fn load(bytes: &[u8]) -> rlrp::Result<Model> {
    Model::from_onnx_bytes(bytes, &LoadOptions::default())
}

/// Loads bytes that must fail; returns the error (a panic inside the loader fails the test too).
fn load_err(bytes: &[u8], what: &str) -> Error {
    match load(bytes) {
        Ok(_) => panic!("{what}: loaded without an error"),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.trim().is_empty(), "{what}: empty error message");
            println!("{what:<40} → {msg}");
            e
        }
    }
}

fn tensor(shape: &[usize], values: Vec<f32>) -> Tensor {
    Tensor::from_shape_vec(ndarray::IxDyn(shape), values).expect("shape")
}

/// x [1, 4] → Gemm 4→3 (node "fc1") → Relu → `middle` → Gemm 3→2 (node "fc2") → [1, 2]. `middle`
/// inserts nodes between "r" and "m" (or nothing: `None` wires "r" straight into fc2).
fn mlp(middle: Option<&dyn Fn(&mut OnnxBuilder)>) -> OnnxBuilder {
    let mut b = OnnxBuilder::new("x", &[1, 4]);
    b.init("W1", &[4, 3], &[0.5, -0.2, 0.1, 0.3, 0.8, -0.5, -0.4, 0.2, 0.6, 0.1, -0.3, 0.7]);
    b.init("B1", &[3], &[0.1, 0.0, -0.1]);
    b.init("W2", &[3, 2], &[1.0, -1.0, 0.5, 0.25, -0.75, 2.0]);
    b.init("B2", &[2], &[0.05, -0.05]);
    b.named_node("fc1", "Gemm", &["x", "W1", "B1"], &["h"], vec![]);
    b.named_node("relu1", "Relu", &["h"], &["r"], vec![]);
    let second = match middle {
        Some(f) => {
            f(&mut b);
            "m"
        }
        None => "r",
    };
    b.named_node("fc2", "Gemm", &[second, "W2", "B2"], &["logits"], vec![]);
    b
}

fn mlp_bytes(middle: Option<&dyn Fn(&mut OnnxBuilder)>) -> Vec<u8> {
    let mut b = mlp(middle);
    b.output("logits", &[1, 2]);
    b.build()
}

fn x4() -> Tensor {
    tensor(&[1, 4], vec![1.0, -0.5, 2.0, 0.25])
}

// ---------------------------------------------------------------------------------------------
// Files that are not (whole) ONNX models.

#[test]
fn empty_bytes() {
    let e = load_err(&[], "empty");
    assert!(matches!(e, Error::OnnxDecode(_)), "{e:?}");
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn random_bytes() {
    for seed in 0..20 {
        let bytes = Rng::new(seed).bytes(64 + 97 * seed as usize);
        let e = load_err(&bytes, &format!("random bytes (seed {seed})"));
        assert!(matches!(e, Error::OnnxDecode(_)), "seed {seed}: {e:?}");
    }
}

#[test]
fn truncated_real_model() {
    let bytes = read("models/mnist_simple_cnn_fp32_opset13.onnx");
    for (what, len) in
        [("first half", bytes.len() / 2), ("first 1000 bytes", 1000), ("all but 1 byte", bytes.len() - 1)]
    {
        let e = load_err(&bytes[..len], &format!("truncated model ({what})"));
        assert!(matches!(e, Error::OnnxDecode(_)), "{what}: {e:?}");
        assert!(e.to_string().contains("truncated"), "{what}: the message should suggest truncation: {e}");
    }
}

#[test]
fn text_file() {
    let e = load_err(&read("RLRP.md"), "a Markdown file");
    assert!(matches!(e, Error::OnnxDecode(_)), "{e:?}");
    let e = load_err(b"{\"model\": \"not onnx\"}\n", "a JSON text");
    assert!(matches!(e, Error::OnnxDecode(_)), "{e:?}");
}

#[test]
fn other_file_types() {
    let png = read("images/mnist_test_00000_label7.png");
    let e = load_err(&png, "a PNG image");
    assert!(matches!(e, Error::OnnxDecode(_) | Error::InvalidModel(_)), "{e:?}");
    let npy = read("golden/mnist_simple_cnn/mnist_test_00000_label7__input.npy");
    let e = load_err(&npy, "a .npy array");
    assert!(matches!(e, Error::OnnxDecode(_) | Error::InvalidModel(_)), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Models with operators or structures the relevance pass has no rule for.

#[test]
fn unsupported_operator_cos() {
    let bytes = mlp_bytes(Some(&|b: &mut OnnxBuilder| b.named_node("my_cos", "Cos", &["r"], &["m"], vec![])));
    let e = load_err(&bytes, "a Cos node");
    assert!(matches!(&e, Error::UnsupportedOperator { op, node } if op == "Cos" && node == "my_cos"), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("Cos") && msg.contains("my_cos"), "{msg}");
}

#[test]
fn element_wise_function_without_relevance_rule_on_the_signal_path() {
    // Erf is known (GELU is written with it) but erf(x) alone is not x ⊙ g(x): no relevance rule.
    let bytes = mlp_bytes(Some(&|b: &mut OnnxBuilder| b.named_node("my_erf", "Erf", &["r"], &["m"], vec![])));
    let e = load_err(&bytes, "an Erf node on the relevance path");
    assert!(matches!(&e, Error::UnsupportedUsage { op, node, .. } if op == "Erf" && node == "my_erf"), "{e:?}");
    assert!(e.to_string().contains("x ⊙ g(x)"), "{e}");
}

#[test]
fn unsupported_operator_without_node_name() {
    // A node without a name is named after its operator and output tensor.
    let bytes = mlp_bytes(Some(&|b: &mut OnnxBuilder| b.named_node("", "Cos", &["r"], &["m"], vec![])));
    let e = load_err(&bytes, "an unnamed Cos node");
    assert!(matches!(&e, Error::UnsupportedOperator { op, .. } if op == "Cos"), "{e:?}");
    assert!(e.to_string().contains("Cos:m"), "{e}");
}

#[test]
fn unsupported_operator_lstm() {
    // x [seq 1, batch 1, 4] → LSTM (hidden 3) → Y_h [1, 1, 3] → Flatten → [1, 3].
    let mut b = OnnxBuilder::new("x", &[1, 1, 4]);
    let mut rng = Rng::new(1);
    let w = rng.sym_vec(12 * 4, 0.5);
    b.init("W", &[1, 12, 4], &w);
    let r = rng.sym_vec(12 * 3, 0.5);
    b.init("R", &[1, 12, 3], &r);
    b.named_node("the_lstm", "LSTM", &["x", "W", "R"], &["Y", "Y_h"], vec![attr::int("hidden_size", 3)]);
    b.named_node("flat", "Flatten", &["Y_h"], &["out"], vec![attr::int("axis", 1)]);
    b.output("out", &[1, 3]);
    let e = load_err(&b.build(), "an LSTM node");
    assert!(matches!(&e, Error::UnsupportedOperator { op, node } if op == "LSTM" && node == "the_lstm"), "{e:?}");
    assert!(e.to_string().contains("LSTM") && e.to_string().contains("the_lstm"));
}

#[test]
fn unsupported_custom_domain_operator() {
    let bytes = mlp_bytes(Some(&|b: &mut OnnxBuilder| b.domain_node("com.microsoft", "fused", "Gelu", &["r"], "m")));
    let e = load_err(&bytes, "a com.microsoft node");
    assert!(
        matches!(&e, Error::UnsupportedOperator { op, node } if op.contains("com.microsoft") && node == "fused"),
        "{e:?}"
    );
}

#[test]
fn product_of_two_computed_tensors() {
    // A second dense layer h2 beside h: h ⊙ h2 has no gate (neither side a Sigmoid-like factor nor
    // an activation's output, as a GLU's gate is; neither broadcast), r − max(h2) is a broadcast
    // difference that is not a centring; a quotient by a computed tensor is a normaliser, and
    // r − h2 of one shape the skip sum of r and −h2.
    for op in ["Mul", "Sub"] {
        let bytes = mlp_bytes(Some(&|b: &mut OnnxBuilder| {
            b.named_node("fc1b", "Gemm", &["x", "W1", "B1"], &["h2"], vec![]);
            if op == "Sub" {
                b.named_node("max", "ReduceMax", &["h2"], &["s"], vec![attr::ints("axes", &[1])]);
            } else {
                b.named_node("same", "Identity", &["h2"], &["s"], vec![]);
            }
            b.named_node("gate", op, &[if op == "Mul" { "h" } else { "r" }, "s"], &["m"], vec![]);
        }));
        let e = load_err(&bytes, &format!("{op} of two computed tensors"));
        assert!(matches!(&e, Error::UnsupportedUsage { op: o, node, .. } if o == op && node == "gate"), "{e:?}");
        assert!(e.to_string().contains(op) && e.to_string().contains("gate"), "{e}");
    }
}

#[test]
fn conv_with_computed_weights() {
    // Conv(x, W = Relu(x)): the weight is computed, not a constant.
    let mut b = OnnxBuilder::new("x", &[1, 1, 3, 3]);
    b.named_node("wr", "Relu", &["x"], &["w"], vec![]);
    b.named_node("dyn_conv", "Conv", &["x", "w"], &["c"], vec![attr::ints("kernel_shape", &[3, 3])]);
    b.named_node("flat", "Flatten", &["c"], &["out"], vec![]);
    b.output("out", &[1, 1]);
    let e = load_err(&b.build(), "a Conv with computed weights");
    assert!(matches!(&e, Error::UnsupportedUsage { op, node, .. } if op == "Conv" && node == "dyn_conv"), "{e:?}");
}

#[test]
fn nan_in_a_weight() {
    let mut b = OnnxBuilder::new("x", &[1, 4]);
    b.init("W1", &[4, 3], &[0.5, f32::NAN, 0.1, 0.3, 0.8, -0.5, -0.4, 0.2, 0.6, 0.1, -0.3, 0.7]);
    b.named_node("fc1", "Gemm", &["x", "W1"], &["h"], vec![]);
    b.named_node("relu1", "Relu", &["h"], &["out"], vec![]);
    b.output("out", &[1, 3]);
    let e = load_err(&b.build(), "NaN in a Gemm weight");
    assert!(matches!(&e, Error::NonFiniteWeights { node, count: 1 } if node == "fc1"), "{e:?}");
    assert!(e.to_string().contains("fc1"), "{e}");
}

#[test]
fn infinity_in_a_conv_bias() {
    let mut b = OnnxBuilder::new("x", &[1, 1, 4, 4]);
    b.init("W", &[2, 1, 3, 3], &[0.1; 18]);
    b.init("B", &[2], &[0.0, f32::INFINITY]);
    b.named_node("conv_inf", "Conv", &["x", "W", "B"], &["c"], vec![attr::ints("kernel_shape", &[3, 3])]);
    b.named_node("flat", "Flatten", &["c"], &["out"], vec![]);
    b.output("out", &[1, 8]);
    let e = load_err(&b.build(), "Inf in a Conv bias");
    assert!(matches!(&e, Error::NonFiniteWeights { node, count: 1 } if node == "conv_inf"), "{e:?}");
}

#[test]
fn softmax_in_the_middle_is_an_error() {
    let bytes = mlp_bytes(Some(&|b: &mut OnnxBuilder| {
        b.named_node("mid_softmax", "Softmax", &["r"], &["m"], vec![attr::int("axis", 1)])
    }));
    let e = load_err(&bytes, "a Softmax inside the network");
    assert!(
        matches!(&e, Error::UnsupportedUsage { op, node, .. } if op == "Softmax" && node == "mid_softmax"),
        "{e:?}"
    );
    assert!(e.to_string().contains("Softmax"), "{e}");
}

#[test]
fn trailing_softmax_is_removed() {
    let plain = load(&mlp_bytes(None)).unwrap();
    for op in ["Softmax", "LogSoftmax"] {
        let mut b = mlp(None);
        b.named_node("final", op, &["logits"], &["probs"], vec![attr::int("axis", 1)]);
        b.output("probs", &[1, 2]);
        let with = load(&b.build()).unwrap_or_else(|e| panic!("a trailing {op} must load: {e}"));
        assert_eq!(with.graph.nodes.len(), plain.graph.nodes.len(), "the {op} node is removed");
        let (a, b) = (plain.forward(&x4()).unwrap(), with.forward(&x4()).unwrap());
        assert_eq!(plain.logits(&a).unwrap(), with.logits(&b).unwrap(), "relevance starts at the logits, not the {op}");
        for method in Method::ALL {
            for target in [None, Some(1)] {
                let opts = ExplainOptions { target, ..Default::default() };
                let ea = explain(&plain, &a, method, &opts, &mut no_progress()).unwrap();
                let eb = explain(&with, &b, method, &opts, &mut no_progress()).unwrap();
                assert_eq!((ea.target, ea.logit, ea.start), (eb.target, eb.logit, eb.start));
                let (ra, rb): (Vec<f32>, Vec<f32>) =
                    (ea.relevance.iter().copied().collect(), eb.relevance.iter().copied().collect());
                assert_eq!(ra, rb, "{op} {}: the explanation differs from the net without it", method.name());
            }
        }
    }
}

#[test]
fn model_with_two_inputs() {
    let mut b = OnnxBuilder::new("x", &[1, 4]);
    b.input("y", FLOAT, &[1, 4]);
    b.named_node("sum", "Add", &["x", "y"], &["s"], vec![]);
    b.init("W", &[4, 2], &[1.0; 8]);
    b.named_node("fc", "Gemm", &["s", "W"], &["out"], vec![]);
    b.output("out", &[1, 2]);
    let e = load_err(&b.build(), "two inputs");
    assert!(matches!(&e, Error::InvalidModel(m) if m.contains("2 inputs")), "{e:?}");
}

#[test]
fn integer_input() {
    let mut b = OnnxBuilder::new_typed("x", INT64, &[1, 4]);
    b.named_node("cast", "Cast", &["x"], &["xf"], vec![attr::int("to", 1)]);
    b.init("W", &[4, 2], &[1.0; 8]);
    b.named_node("fc", "Gemm", &["xf", "W"], &["out"], vec![]);
    b.output("out", &[1, 2]);
    let e = load_err(&b.build(), "an int64 input");
    assert!(matches!(&e, Error::InvalidModel(m) if m.contains("element type")), "{e:?}");
}

#[test]
fn output_that_does_not_depend_on_the_input() {
    let mut b = OnnxBuilder::new("x", &[1, 4]);
    b.init("C", &[1, 2], &[1.0, 2.0]);
    b.named_node("const_relu", "Relu", &["C"], &["out"], vec![]);
    b.output("out", &[1, 2]);
    let e = load_err(&b.build(), "output independent of the input");
    assert!(matches!(e, Error::InvalidModel(_)), "{e:?}");
}

#[test]
fn output_that_is_not_a_classifier() {
    // [1, 2, 2, 2] logits: not [1, classes].
    let mut b = OnnxBuilder::new("x", &[1, 1, 2, 2]);
    b.init("W", &[2, 1, 1, 1], &[1.0, -1.0]);
    b.named_node("conv", "Conv", &["x", "W"], &["out"], vec![attr::ints("kernel_shape", &[1, 1])]);
    b.output("out", &[1, 2, 2, 2]);
    let e = load_err(&b.build(), "a 4-D output");
    assert!(matches!(&e, Error::InvalidModel(m) if m.contains("classifier")), "{e:?}");
}

#[test]
fn missing_tensor() {
    let mut b = OnnxBuilder::new("x", &[1, 4]);
    b.named_node("fc", "Gemm", &["x", "W_missing"], &["out"], vec![]);
    b.output("out", &[1, 2]);
    let e = load_err(&b.build(), "a Gemm reading a missing tensor");
    // Found by tract (a weight input is not on the traced data path): an Engine error naming the tensor.
    assert!(matches!(&e, Error::InvalidModel(m) | Error::Engine(m) if m.contains("W_missing")), "{e:?}");
}

#[test]
fn graph_with_a_cycle() {
    let mut b = OnnxBuilder::new("x", &[1, 2]);
    b.named_node("a", "Add", &["x", "q"], &["p"], vec![]);
    b.named_node("b", "Relu", &["p"], &["q"], vec![]);
    b.output("q", &[1, 2]);
    let e = load_err(&b.build(), "a cycle");
    assert!(matches!(&e, Error::InvalidModel(m) if m.contains("cycle")), "{e:?}");
}

#[test]
fn unsupported_attribute_values() {
    // Gemm with transA = 1 on the computed input.
    let mut b = OnnxBuilder::new("x", &[4, 1]);
    b.init("W", &[4, 2], &[1.0; 8]);
    b.named_node("ta", "Gemm", &["x", "W"], &["out"], vec![attr::int("transA", 1)]);
    b.output("out", &[1, 2]);
    let e = load_err(&b.build(), "Gemm transA = 1");
    assert!(matches!(&e, Error::UnsupportedUsage { op, node, .. } if op == "Gemm" && node == "ta"), "{e:?}");
    // Reflect padding has no relevance rule in RLRP.md (only constant padding: cropped back).
    let mut b = OnnxBuilder::new("x", &[1, 1, 4, 4]);
    b.init_i64("pads", &[8], &[0, 0, 1, 1, 0, 0, 1, 1]);
    b.named_node("reflect", "Pad", &["x", "pads"], &["p"], vec![attr::string("mode", "reflect")]);
    b.named_node("flat", "Flatten", &["p"], &["out"], vec![]);
    b.output("out", &[1, 36]);
    let e = load_err(&b.build(), "reflect Pad");
    assert!(matches!(&e, Error::UnsupportedUsage { op, node, .. } if op == "Pad" && node == "reflect"), "{e:?}");
}

/// Free dimensions: a free batch is set to 1; any other free dimension is an error asking for the input
/// shape.
#[test]
fn free_input_dimensions() {
    let mut b = mlp(None);
    b.output("logits", &[1, 2]);
    b.free_dim("x", 0, "N");
    let model = load(&b.build()).unwrap_or_else(|e| panic!("a free batch dimension must load: {e}"));
    assert_eq!(model.input_shape(), &[1, 4]);
    assert!(model.forward(&x4()).is_ok());
    b.free_dim("x", 1, "F");
    let e = load_err(&b.build(), "a free feature dimension");
    assert!(matches!(&e, Error::InvalidModel(m) if m.contains("free dimension") && m.contains("input shape")), "{e:?}");
}

/// ... and with the input shape given (LoadOptions::input_shape, as the error message asks), it loads.
#[test]
fn free_input_dimension_with_a_given_shape() {
    let mut b = mlp(None);
    b.output("logits", &[1, 2]);
    b.free_dim("x", 0, "N").free_dim("x", 1, "F");
    let opts = LoadOptions { input_shape: Some(vec![1, 4]), ..Default::default() };
    let model = Model::from_onnx_bytes(&b.build(), &opts).unwrap_or_else(|e| panic!("with an input shape: {e}"));
    assert_eq!(model.input_shape(), &[1, 4]);
    assert!(model.forward(&x4()).is_ok());
}

/// Initializers also listed as graph inputs (IR < 4 files) are constants, not extra inputs.
#[test]
fn initializers_listed_as_inputs() {
    let mut b = mlp(None);
    b.output("logits", &[1, 2]);
    let plain = load(&b.build()).unwrap();
    for name in ["W1", "B1", "W2", "B2"] {
        b.initializer_as_input(name);
    }
    let listed = load(&b.build()).unwrap_or_else(|e| panic!("initializers listed as inputs: {e}"));
    let (a, c) = (plain.forward(&x4()).unwrap(), listed.forward(&x4()).unwrap());
    assert_eq!(plain.logits(&a).unwrap(), listed.logits(&c).unwrap());
    let ea = explain(&plain, &a, Method::Rlrp, &ExplainOptions::default(), &mut no_progress()).unwrap();
    let ec = explain(&listed, &c, Method::Rlrp, &ExplainOptions::default(), &mut no_progress()).unwrap();
    assert_eq!(ea.relevance, ec.relevance);
}

// ---------------------------------------------------------------------------------------------
// Bad inputs and requests for a good model.

#[test]
fn input_of_the_wrong_shape() {
    let model = load(&mlp_bytes(None)).unwrap();
    for shape in [vec![1, 3], vec![4], vec![1, 1, 4], vec![2, 4], vec![1, 0]] {
        let n = shape.iter().product();
        let e = match model.forward(&tensor(&shape, vec![0.5; n])) {
            Ok(_) => panic!("shape {shape:?} was accepted"),
            Err(e) => e,
        };
        assert!(matches!(&e, Error::InputShape { expected, got } if expected == &[1, 4] && got == &shape), "{e:?}");
        assert!(e.to_string().contains("[1, 4]"), "{e}");
    }
    // The same through LoadOptions: an input shape of the wrong rank.
    let opts = LoadOptions { input_shape: Some(vec![1, 2, 2]), ..Default::default() };
    match Model::from_onnx_bytes(&mlp_bytes(None), &opts) {
        Err(Error::InputShape { expected, got }) => assert_eq!((expected, got), (vec![1, 4], vec![1, 2, 2])),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a rank-3 input shape was accepted"),
    }
}

#[test]
fn load_options_shape_the_weights_cannot_take() {
    // The model declares a fixed 1×1×28×28 input: any other shape is refused up front (InputShape);
    // were it free, the Gemm (64·7·7 features) could not take a 32×32 input's 64·8·8 anyway.
    let bytes = read("models/mnist_simple_cnn_fp32_opset13.onnx");
    for shape in [vec![1, 1, 32, 32], vec![1, 3, 28, 28], vec![1, 1, 2, 2]] {
        let opts = LoadOptions { input_shape: Some(shape.clone()), ..Default::default() };
        match Model::from_onnx_bytes(&bytes, &opts) {
            Ok(_) => panic!("input shape {shape:?} was accepted"),
            Err(e) => {
                println!("{:<40} → {e}", format!("input shape {shape:?}"));
                assert!(
                    matches!(
                        e,
                        Error::InputShape { .. }
                            | Error::Engine(_)
                            | Error::UnsupportedUsage { .. }
                            | Error::InvalidModel(_)
                    ),
                    "{e:?}"
                );
            }
        }
    }
}

#[test]
fn real_model_input_of_the_wrong_shape() {
    let model = model("mnist_simple_cnn_fp32_opset13.onnx");
    for shape in [vec![1, 28, 28], vec![1, 1, 28, 27], vec![1, 3, 28, 28], vec![28, 28]] {
        let n = shape.iter().product();
        let e = model.forward(&tensor(&shape, vec![0.0; n])).map(|_| ()).expect_err("must fail");
        assert!(matches!(&e, Error::InputShape { got, .. } if got == &shape), "{e:?}");
    }
}

#[test]
fn non_finite_input() {
    let model = load(&mlp_bytes(None)).unwrap();
    for (bad, count) in [(vec![f32::NAN, 0.0, 0.0, 0.0], 1), (vec![f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1.0], 3)]
    {
        let e = model.forward(&tensor(&[1, 4], bad)).map(|_| ()).expect_err("must fail");
        assert!(matches!(e, Error::NonFiniteInput(c) if c == count), "{e:?}");
        assert!(e.to_string().contains(&count.to_string()), "{e}");
    }
}

#[test]
fn class_index_out_of_range() {
    let model = load(&mlp_bytes(None)).unwrap();
    let acts = model.forward(&x4()).unwrap();
    for method in [Method::Rlrp, Method::Epsilon, Method::Gradient] {
        for target in [2, 10, usize::MAX] {
            let opts = ExplainOptions { target: Some(target), ..Default::default() };
            let e = explain(&model, &acts, method, &opts, &mut no_progress()).map(|_| ()).expect_err("must fail");
            assert!(
                matches!(&e, Error::Request(m) if m.contains(&target.to_string()) && m.contains("2 classes")),
                "{e:?}"
            );
        }
    }
}

#[test]
fn bad_method_parameters_and_names() {
    let model = load(&mlp_bytes(None)).unwrap();
    let acts = model.forward(&x4()).unwrap();
    let bad = [
        MethodParams { epsilon: f32::NAN, ..Default::default() },
        MethodParams { epsilon: -1.0, ..Default::default() },
        MethodParams { gamma: f32::INFINITY, ..Default::default() },
        MethodParams { alpha: 2.0, beta: 2.0, ..Default::default() },
        MethodParams { input_range: Some((1.0, -1.0)), ..Default::default() },
    ];
    for params in bad {
        let opts = ExplainOptions { params: params.clone(), ..Default::default() };
        let e = explain(&model, &acts, Method::Epsilon, &opts, &mut no_progress()).map(|_| ()).expect_err("must fail");
        assert!(matches!(e, Error::Request(_)), "{params:?}: {e:?}");
    }
    let e = Method::parse("lrp-delta").map(|_| ()).expect_err("unknown method");
    assert!(matches!(&e, Error::Request(m) if m.contains("lrp-delta") && m.contains("rlrp")), "{e:?}");
}

#[test]
fn cancelled_walk() {
    let model = load(&mlp_bytes(None)).unwrap();
    let acts = model.forward(&x4()).unwrap();
    let e = explain(&model, &acts, Method::Rlrp, &ExplainOptions::default(), &mut |_, _| false)
        .map(|_| ())
        .expect_err("cancelled");
    assert!(matches!(e, Error::Cancelled), "{e:?}");
}

/// A training-mode BatchNormalization of the weights that cannot be folded (its running
/// statistics are read further on; its scale does not match the channels) is refused with the
/// node named, and one on the data path (batch statistics of one image) is refused too: no
/// panic, no model that computes something else.
#[test]
fn weight_standardisation_that_cannot_be_folded() {
    let conv_of = |scale_len: usize, read_running: bool, on_data: bool| {
        let mut b = OnnxBuilder::new("x", &[1, 2, 4, 4]);
        b.init("Wflat", &[1, 3, 18], &Rng::new(7).sym_vec(54, 0.5));
        b.init("gain", &[scale_len as i64], &vec![1.0; scale_len]);
        b.init("zero", &[scale_len as i64], &vec![0.0; scale_len]);
        b.init_i64("shape", &[4], &[3, 2, 3, 3]);
        let training = vec![attr::int("training_mode", 1)];
        // the normalisation of the image (on the data path) or of the weights
        let (name, data, normalised) = if on_data { ("bn", "x", "xn") } else { ("ws", "Wflat", "Wn") };
        b.named_node(
            name,
            "BatchNormalization",
            &[data, "gain", "zero", "zero", "zero"],
            &[normalised, "m", "v"],
            training,
        );
        if on_data {
            b.init("W", &[3, 2, 3, 3], &Rng::new(8).sym_vec(54, 0.5));
            b.named_node("conv", "Conv", &["xn", "W"], &["c"], vec![]);
        } else {
            b.named_node("ws_shape", "Reshape", &["Wn", "shape"], &["W"], vec![]);
            b.named_node("conv", "Conv", &["x", "W"], &["c"], vec![]);
        }
        let out = if read_running {
            b.named_node("uses_mean", "Add", &["c", "m"], &["cm"], vec![]);
            "cm"
        } else {
            "c"
        };
        b.named_node("flat", "Flatten", &[out], &["logits"], vec![]);
        b.output("logits", &[1, 12]);
        b.build()
    };
    for (what, bytes, node, why) in [
        ("running statistics read", conv_of(3, true, false), "ws", "running statistics"),
        ("scale of the wrong length", conv_of(2, false, false), "ws", "2 scales and 2 biases for 3 channels"),
        ("on the data path", conv_of(2, false, true), "bn", "eval mode"),
    ] {
        let e = load_err(&bytes, what);
        assert!(matches!(e, Error::InvalidModel(_)), "{what}: {e:?}");
        let e = e.to_string();
        assert!(e.contains(node) && e.contains(why), "{what}: {e}");
    }
    // and the foldable form loads
    load(&conv_of(3, false, false)).expect("a weight standardisation folds");
}
