//! Hostile input (issue 13): one regression test per reproducer class of the fuzzing campaign — a
//! clear error or warning, never a panic, an abort, a hang or runaway memory. The memory-hungry
//! cases run the real `rlrp` binary under `ulimit -v`, so an allocation the budget failed to stop
//! kills the child and fails the test instead of the machine; every case is timed.
use crate::common;
use common::onnx_builder::{attr, OnnxBuilder, Rng};
use rlrp::model::{LoadOptions, Model};
use rlrp::relevance::{explain, ExplainOptions, Method};
use rlrp::tensor::{ndarray, Tensor};
use rlrp::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn load(bytes: &[u8]) -> rlrp::Result<Model> {
    Model::from_onnx_bytes(bytes, &LoadOptions::default())
}

/// Loads `bytes`, which must fail within `limit`; returns the message.
fn refused(bytes: &[u8], limit: Duration, what: &str) -> String {
    let t = Instant::now();
    let e = match load(bytes) {
        Ok(_) => panic!("{what}: loaded"),
        Err(e) => e,
    };
    let took = t.elapsed();
    println!("{what:<36} {took:>8.2?} → {e}");
    assert!(took < limit, "{what}: took {took:?}");
    e.to_string()
}

/// x [1, 1, 8, 8] → Conv 4×1×3×3 (pad 1) → `body` → GlobalAveragePool → Flatten → Gemm 4→10.
/// `body` gets the builder and the name of the conv output, and returns the name of its own.
fn network(body: impl FnOnce(&mut OnnxBuilder, &str) -> String) -> Vec<u8> {
    network_with_input(&[1, 1, 8, 8], body)
}

fn network_with_input(input: &[i64], body: impl FnOnce(&mut OnnxBuilder, &str) -> String) -> Vec<u8> {
    let mut rng = Rng::new(13);
    let mut b = OnnxBuilder::new("x", input);
    b.init("cw", &[4, input[1], 3, 3], &rng.sym_vec(36 * input[1] as usize, 1.0));
    b.node("Conv", &["x", "cw"], "c0", vec![attr::ints("pads", &[1, 1, 1, 1])]);
    let last = body(&mut b, "c0");
    b.init("W", &[10, 4], &rng.sym_vec(40, 1.0));
    b.init("B", &[10], &[0.0; 10]);
    b.node("GlobalAveragePool", &[&last], "gap", vec![]);
    b.node("Flatten", &["gap"], "flat", vec![]);
    b.node("Gemm", &["flat", "W", "B"], "y", vec![attr::int("transB", 1)]);
    b.output("y", &[1, 10]);
    b.build()
}

/// `n` ReLUs in a chain (tract shares one zero constant among them).
fn relu_chain(n: usize) -> Vec<u8> {
    network(|b, x| {
        let mut prev = x.to_string();
        for i in 0..n {
            let out = format!("r{i}");
            b.node("Relu", &[&prev], &out, vec![]);
            prev = out;
        }
        prev
    })
}

/// `n` 1×1 convolutions in a chain.
fn conv_chain(n: usize) -> Vec<u8> {
    let mut rng = Rng::new(5);
    network(|b, x| {
        let mut prev = x.to_string();
        for i in 0..n {
            let (w, out) = (format!("w{i}"), format!("k{i}"));
            b.init(&w, &[4, 4, 1, 1], &rng.sym_vec(16, 1.0));
            b.node("Conv", &[&prev, &w], &out, vec![]);
            prev = out;
        }
        prev
    })
}

fn pad(pads: i64) -> Vec<u8> {
    network(|b, x| {
        b.init_i64("pads", &[8], &[0, 0, pads, pads, 0, 0, pads, pads]);
        b.node("Pad", &[x, "pads"], "p", vec![]);
        b.init("two", &[1], &[2.0]);
        b.node("Mul", &["p", "two"], "m", vec![]);
        "m".into()
    })
}

fn batch_norm(variance: f32, epsilon: f32) -> Vec<u8> {
    network(|b, x| {
        for (name, v) in [("g", 1.0), ("be", 0.0), ("mu", 0.0), ("var", variance)] {
            b.init(name, &[4], &[v; 4]);
        }
        b.node("BatchNormalization", &[x, "g", "be", "mu", "var"], "bn", vec![attr::float("epsilon", epsilon)]);
        b.node("Relu", &["bn"], "r", vec![]);
        "r".into()
    })
}

/// The Conv weights of [`network`] set to `w` everywhere.
fn first_weights(w: f32) -> Vec<u8> {
    let mut proto = common::onnx_builder::decode(&network(|b, x| {
        b.node("Relu", &[x], "r", vec![]);
        "r".into()
    }));
    common::onnx_builder::edit_initializer(&mut proto, "cw", |v| v.iter_mut().for_each(|x| *x = w));
    prost::Message::encode_to_vec(&proto)
}

fn input(value: f32) -> Tensor {
    let v: Vec<f32> = (0..64).map(|i| if value == 0.0 { 0.0 } else { value * (1.0 + (i % 7) as f32) }).collect();
    Tensor::from_shape_vec(ndarray::IxDyn(&[1, 1, 8, 8]), v).expect("shape")
}

/// Nodes that the output does not need never reach tract. Fuzzing found a dead Transpose of no
/// axes reading a BatchNorm's output: its shape rule made the BatchNorm's input a scalar, and
/// tract's BatchNorm rule indexed its channel axis out of bounds (a segfault natively; the file is
/// replayed by `fuzz_regressions`). Such a node also made tract refuse a model it need not analyse.
#[test]
fn dead_nodes_are_left_out_of_tracts_analysis() {
    let bytes = network(|b, x| {
        for (name, v) in [("g", 1.0), ("be", 0.0), ("mu", 0.0), ("var", 1.0)] {
            b.init(name, &[4], &[v; 4]);
        }
        b.node("BatchNormalization", &[x, "g", "be", "mu", "var"], "bn", vec![]);
        b.node("Transpose", &["bn"], "dead", vec![attr::ints("perm", &[])]);
        b.node("Relu", &["bn"], "r", vec![]);
        "r".into()
    });
    let model = load(&bytes).unwrap_or_else(|e| panic!("the dead node stopped the load: {e}"));
    let acts = model.forward(&input(0.5)).expect("forward");
    assert!(model.logits(&acts).expect("logits").iter().all(|v| v.is_finite()));
    let found = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/fuzz/onnx/dead_transpose_of_no_axes_after_batchnorm.onnx"
    ))
    .expect("the fuzzer's file");
    let e = load(&found).err().expect("the fuzzer's model is refused").to_string();
    assert!(e.contains("tract"), "{e}");
}

/// tract 0.23 loops over a LayerNormalization's axes up to its `axis` before checking it against the
/// rank: the fuzzer's axis of 2³¹ took 2.4 s to be refused, a larger one or a negative one past the
/// rank would never stop. Each is refused at once, by name; an axis in range still loads.
#[test]
fn a_layer_norm_axis_past_the_rank_is_refused_at_once() {
    let with_axis = |axis: i64| {
        network(|b, x| {
            b.init("g", &[8], &[1.0; 8]);
            b.init("be", &[8], &[0.0; 8]);
            b.node("LayerNormalization", &[x, "g", "be"], "ln", vec![attr::int("axis", axis)]);
            "ln".into()
        })
    };
    for axis in [-1, 3, -4] {
        let model = load(&with_axis(axis)).unwrap_or_else(|e| panic!("axis {axis}: {e}"));
        let acts = model.forward(&input(0.5)).expect("forward");
        assert!(model.logits(&acts).expect("logits").iter().all(|v| v.is_finite()));
    }
    for axis in [4, -5, 1 << 31, 1 << 62, i64::MAX, i64::MIN] {
        let e = refused(&with_axis(axis), Duration::from_secs(1), &format!("LayerNormalization axis {axis}"));
        assert!(e.contains(&format!("axis {axis} is out of range for an input of rank 4")), "{e}");
    }
    // a LayerNormalization of a constant (its rank from the initialiser's dims), added to the data
    let of_a_constant = |axis: i64| {
        network(|b, x| {
            b.init("k", &[1, 4, 8, 8], &(0..256).map(|i| (i % 7) as f32).collect::<Vec<_>>());
            b.init("g", &[8], &[1.0; 8]);
            b.init("be", &[8], &[0.0; 8]);
            b.node("LayerNormalization", &["k", "g", "be"], "lnk", vec![attr::int("axis", axis)]);
            b.node("Add", &[x, "lnk"], "sum", vec![]);
            "sum".into()
        })
    };
    let model = load(&of_a_constant(-1)).unwrap_or_else(|e| panic!("a LayerNormalization of a constant: {e}"));
    assert!(model.forward(&input(0.5)).is_ok());
    let e = refused(&of_a_constant(-5), Duration::from_secs(1), "a LayerNormalization of a constant, axis -5");
    assert!(e.contains("axis -5 is out of range for an input of rank 4"), "{e}");
    let found =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fuzz/onnx/layer_norm_axis_past_the_rank.onnx"))
            .expect("the fuzzer's file");
    let e = refused(&found, Duration::from_secs(1), "the fuzzer's LayerNormalization");
    assert!(e.contains("axis 2147483648 is out of range"), "{e}");
}

#[test]
fn long_chains_are_refused_by_the_budget_in_seconds_not_left_to_the_optimiser() {
    // Measured before the budget: 1,000/2,000/5,000 ReLUs 1.2/8.5/200 s; 1,000 convolutions 13 s.
    for (what, bytes) in [("5,000 chained ReLUs", relu_chain(5000)), ("1,000 chained convolutions", conv_chain(1000))] {
        let e = refused(&bytes, Duration::from_secs(5), what);
        assert!(e.contains("optimiser") && e.contains("the limit is"), "{e}");
    }
    // Under the budget, a long chain still loads and explains.
    let t = Instant::now();
    let model = load(&relu_chain(300)).expect("300 ReLUs");
    let acts = model.forward(&input(1.0)).expect("forward");
    let e = explain(&model, &acts, Method::Rlrp, &ExplainOptions::default(), &mut |_, _| true).expect("R-LRP");
    assert!(e.warning.is_none() && e.relevance.iter().any(|v| *v != 0.0));
    assert!(t.elapsed() < Duration::from_secs(10), "300 ReLUs took {:?}", t.elapsed());
}

#[test]
fn too_many_operators_is_refused_before_anything_else() {
    let bytes = relu_chain(rlrp::budget::MAX_NODES);
    let e = refused(&bytes, Duration::from_secs(2), "20,000 operators");
    assert!(e.contains(&format!("the graph has {} operators", rlrp::budget::MAX_NODES + 4)), "{e}");
}

#[test]
fn pad_bombs_are_refused_on_their_declared_shapes() {
    let e = refused(&pad(60_000), Duration::from_secs(2), "Pad to 120,008² (230 GB)");
    assert!(e.contains("over budget") && e.contains("230 GB") && e.contains("the limit is"), "{e}");
    let e = refused(&pad(1 << 30), Duration::from_secs(2), "Pad of 2^30");
    assert!(e.contains("a pad of 1073741824 (pads must be in 0..=65536)"), "{e}");
}

#[test]
fn huge_input_dimensions_are_refused_before_the_engine_sees_them() {
    let e = refused(&network_with_input(&[1, 1, 1 << 62, 8], |_, x| x.into()), Duration::from_secs(2), "2^62 rows");
    assert!(e.contains("the input 'x'") && e.contains("more elements than can be counted"), "{e}");
    let e = refused(&network_with_input(&[1, 3, 1 << 16, 1 << 16], |_, x| x.into()), Duration::from_secs(2), "65536²");
    assert!(e.contains("the input 'x'") && e.contains("51.5 GB"), "{e}");
}

#[test]
fn invalid_batch_norm_statistics_are_named() {
    for (var, eps, expect) in [
        (-1.0, 1e-5, "channel 0 has variance -1"),
        (1.0, f32::NAN, "epsilon is NaN"),
        (0.0, 0.0, "channel 0 has variance 0"),
    ] {
        let e = refused(&batch_norm(var, eps), Duration::from_secs(2), expect);
        assert!(e.contains("invalid BatchNorm statistics") && e.contains(expect), "{e}");
    }
}

#[test]
fn overflowing_logits_are_an_error_naming_the_first_layer() {
    let model = load(&first_weights(3e38)).expect("loads");
    let acts = model.forward(&input(1.0)).expect("forward");
    for method in [Method::Rlrp, Method::Gradient] {
        match explain(&model, &acts, method, &ExplainOptions::default(), &mut |_, _| true) {
            Err(Error::NonFinite(m)) => {
                assert!(m.contains("first at Conv 1") && m.contains("overflow"), "{m}")
            }
            other => panic!("{method:?}: expected a non-finite error, got {other:?}"),
        }
    }
}

/// A forward pass that stays finite while the relevance walk overflows in its middle: x = 10⁻³⁰
/// through three dense layers of gains 1, 10²⁰ and 10²⁰ gives logits of ~10¹⁰, but the gradient
/// reaching the first layer's output is 10⁴⁰. The warning names the layer whose relevance first
/// turned non-finite (the second), not the input layer.
#[test]
fn relevance_that_overflows_mid_walk_names_the_layer() {
    let mut b = OnnxBuilder::new("x", &[1, 2]);
    for (k, gain) in [(1, 1.0f32), (2, 1e20), (3, 1e20)] {
        let rows = if k == 3 { 1 } else { 2 };
        let w: Vec<f32> = (0..rows * 2).map(|i| if k == 3 || i % 3 == 0 { gain } else { 0.0 }).collect();
        b.init(&format!("W{k}"), &[rows as i64, 2], &w);
        b.init(&format!("B{k}"), &[rows as i64], &vec![0.0; rows]);
        let input = if k == 1 { "x".to_string() } else { format!("h{}", k - 1) };
        let wk = format!("W{k}");
        let bk = format!("B{k}");
        b.node("Gemm", &[&input, &wk, &bk], &format!("h{k}"), vec![attr::int("transB", 1)]);
    }
    b.output("h3", &[1, 1]);
    let model = load(&b.build()).expect("loads");
    let x = Tensor::from_shape_vec(ndarray::IxDyn(&[1, 2]), vec![1e-30, 1e-30]).expect("shape");
    let acts = model.forward(&x).expect("a finite forward pass");
    let e = explain(&model, &acts, Method::Gradient, &ExplainOptions::default(), &mut |_, _| true).expect("explains");
    let warning = e.warning.expect("a warning");
    println!("{warning}");
    assert_eq!(e.non_finite, 2, "{warning}");
    assert!(warning.contains("first at Dense 2") && warning.contains("node 'Gemm_1'"), "{warning}");
    // A gradient has no denominator and no stabiliser: the reason is its weights.
    assert!(warning.contains("its weights make the result overflow") && !warning.contains("ε"), "{warning}");
}

#[test]
fn subnormal_inputs_and_weights_warn_instead_of_painting_a_blank_map() {
    // Every value subnormal: the forward pass flushes them to zero and the map would be blank.
    let model = load(&first_weights(0.5)).expect("loads");
    let acts = model.forward(&input(1e-42)).expect("forward");
    let e = explain(&model, &acts, Method::Rlrp, &ExplainOptions::default(), &mut |_, _| true).expect("explains");
    let w = e.warning.expect("a warning");
    assert!(w.contains("zero or subnormal") && w.contains("64 subnormal values"), "{w}");

    let model = load(&first_weights(1e-42)).expect("loads");
    let acts = model.forward(&input(1.0)).expect("forward");
    for method in [Method::Rlrp, Method::Epsilon, Method::Gradient] {
        let e = explain(&model, &acts, method, &ExplainOptions::default(), &mut |_, _| true).expect("explains");
        let w = e.warning.unwrap_or_else(|| panic!("{method:?}: no warning for a blank map"));
        assert!(w.contains("relevance is zero everywhere") || w.contains("non-finite"), "{method:?}: {w}");
        assert!(e.relevance.iter().all(|v| v.is_finite()));
    }
}

// ---------------------------------------------------------------------------------------------
// Through the command line, under a memory cap.

fn rlrp() -> &'static str {
    env!("CARGO_BIN_EXE_rlrp")
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

/// Runs `rlrp args…` with at most 1.5 GiB of address space and 60 s; returns (exit code, stderr).
fn capped(args: &[&str]) -> (Option<i32>, String) {
    let line = std::iter::once(rlrp()).chain(args.iter().copied()).map(|a| format!("'{a}'")).collect::<Vec<_>>();
    let t = Instant::now();
    let out = Command::new("timeout")
        .args(["60", "sh", "-c", &format!("ulimit -v 1572864; exec {}", line.join(" "))])
        .output()
        .expect("sh");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("{:?} {:.2?}: {}", args.first(), t.elapsed(), stderr.trim());
    assert!(!stderr.contains("panicked") && !stderr.contains("memory allocation"), "{args:?}: {stderr}");
    (out.status.code(), stderr)
}

fn write(name: &str, bytes: &[u8]) -> String {
    let p = scratch(name);
    std::fs::write(&p, bytes).expect("write");
    p.display().to_string()
}

fn mnist() -> String {
    common::shared().join("models/mnist_simple_cnn_fp32_opset13.onnx").display().to_string()
}

#[test]
fn cli_refuses_bombs_within_a_memory_cap() {
    let npy = write("x.npy", &rlrp::npy::write_npy(&input(1.0)));
    for (name, bytes, says) in
        [("pad_bomb.onnx", pad(60_000), "over budget"), ("pad_huge.onnx", pad(1 << 30), "pads must be in")]
    {
        let model = write(name, &bytes);
        let (code, err) = capped(&["explain", "--model", &model, "--input-npy", &npy]);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        let (code, err) = capped(&["info", "--model", &model]);
        assert_eq!(code, Some(1), "{name} info: {err}");
    }
    let model = write("dim62.onnx", &network_with_input(&[1, 1, 1 << 62, 8], |_, x| x.into()));
    let (code, err) = capped(&["info", "--model", &model]);
    assert!(code == Some(1) && err.contains("over budget"), "{err}");
}

#[test]
fn an_iccp_decompression_bomb_is_not_inflated() {
    // An 8×8 PNG whose ICC profile inflates to 256 MiB: it was decoded with the header, with no limit
    // (a 3 MB file took 3 GB and 13 s). The header's memory limit stops it; the pixels still decode.
    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile/iccp_bomb.png");
    let t = Instant::now();
    let (code, err) = capped(&["explain", "--model", &mnist(), "--image", &png.display().to_string()]);
    assert!(t.elapsed() < Duration::from_secs(20));
    // Either refused with a message naming the header, or decoded without the profile.
    assert!(code == Some(0) || err.contains("header"), "{err}");
}

#[test]
fn degenerate_explanations_fail_the_cli_unless_allowed() {
    let model = write("subnormal_w.onnx", &first_weights(1e-42));
    let npy = write("x1.npy", &rlrp::npy::write_npy(&input(1.0)));
    let out = scratch("subnormal_w_relevance.npy").display().to_string();
    let (code, err) = capped(&["explain", "--model", &model, "--input-npy", &npy, "--npy", &out]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("degenerate explanation") && err.contains("--allow-degenerate"), "{err}");
    let (code, err) =
        capped(&["explain", "--model", &model, "--input-npy", &npy, "--npy", &out, "--allow-degenerate", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning: the relevance is zero everywhere"), "{err}");
    let written = rlrp::npy::read_npy(&std::fs::read(&out).expect("written")).expect("npy");
    assert!(written.iter().all(|v| v.is_finite()));

    let model = write("overflow.onnx", &first_weights(3e38));
    let (code, err) = capped(&["explain", "--model", &model, "--input-npy", &npy, "--allow-degenerate"]);
    assert!(code == Some(1) && err.contains("non-finite values") && err.contains("Conv 1"), "{err}");
}

#[test]
fn oversized_sidecars_are_refused_by_area() {
    let json = r#"{ "name": "big", "input": { "width": 8192, "height": 8192, "channels": 3 } }"#;
    let e = rlrp::sidecar::Sidecar::from_json(json.as_bytes()).expect_err("8192² is refused");
    assert!(e.to_string().contains("at most 16777216"), "{e}");
    // A .npy that declares 2^40 elements is refused from its header, before any data is read.
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }";
    let text = format!("{dict:<117}\n");
    header.extend_from_slice(&(text.len() as u16).to_le_bytes());
    header.extend_from_slice(text.as_bytes());
    let e = rlrp::npy::read_npy(&header).expect_err("2^40 elements");
    assert!(e.to_string().contains("the limit is"), "{e}");
}

#[test]
fn window_attributes_that_make_tract_panic_are_refused_before_it_sees_them() {
    let mut rng = Rng::new(3);
    for (what, op, attrs, expect) in [
        ("zero stride", "Conv", vec![attr::ints("strides", &[0, 0])], "'strides' has the value 0"),
        ("zero kernel", "MaxPool", vec![attr::ints("kernel_shape", &[0, 0])], "'kernel_shape' has the value 0"),
        (
            "pool stride 0",
            "MaxPool",
            vec![attr::ints("kernel_shape", &[2, 2]), attr::ints("strides", &[0, 0])],
            "'strides' has the value 0",
        ),
        ("huge pads", "Conv", vec![attr::ints("pads", &[0, 0, 1 << 40, 0])], "'pads' has the value 1099511627776"),
        ("zero group", "Conv", vec![attr::int("group", 0)], "'group' has the value 0"),
    ] {
        let w = rng.sym_vec(16, 1.0);
        let bytes = network(|b, x| {
            let inputs: Vec<&str> = if op == "Conv" {
                b.init("w3", &[4, 4, 1, 1], &w);
                vec![x, "w3"]
            } else {
                vec![x]
            };
            b.node(op, &inputs, "win", attrs);
            "win".into()
        });
        let e = refused(&bytes, Duration::from_secs(2), what);
        assert!(e.contains(expect), "{what}: {e}");
    }
}

#[test]
fn panics_inside_tract_are_errors_natively() {
    // Flatten with an axis beyond the rank panics inside tract's shape inference (tract 0.23.9); the
    // browser's worker cannot catch it (panic = "abort"): the page restarts it (tests/e2e).
    let bytes = network(|b, x| {
        b.node("Flatten", &[x], "fl9", vec![attr::int("axis", 9)]);
        b.init_i64("back", &[4], &[1, 4, 8, 8]);
        b.node("Reshape", &["fl9", "back"], "rs", vec![]);
        "rs".into()
    });
    let e = refused(&bytes, Duration::from_secs(5), "Flatten axis 9");
    assert!(e.contains("the engine failed on this model"), "{e}");
}

#[test]
fn constant_inputs_and_attributes_tract_trusts_are_checked_first() {
    // Each of these made tract 0.23.9 panic, loop allocating (Transpose) or fail an assertion.
    type Body = Box<dyn Fn(&mut OnnxBuilder, &str) -> String>;
    let cases: Vec<(&str, Body)> = vec![
        (
            "is not a permutation",
            Box::new(|b, x| {
                b.node("Transpose", &[x], "t", vec![attr::ints("perm", &[0, 1, 2, 2])]);
                "t".into()
            }),
        ),
        (
            "'pads' has 3 values for 2 spatial axes",
            Box::new(|b, x| {
                b.init("w5", &[4, 4, 1, 1], &[0.5; 16]);
                b.node("Conv", &[x, "w5"], "k", vec![attr::ints("pads", &[1, 1, 1])]);
                "k".into()
            }),
        ),
        (
            "'strides' has 1 values for 2 spatial axes",
            Box::new(|b, x| {
                b.node("MaxPool", &[x], "k", vec![attr::ints("kernel_shape", &[2, 2]), attr::ints("strides", &[1])]);
                "k".into()
            }),
        ),
        (
            "a step of 0",
            Box::new(|b, x| {
                for (name, v) in [("st", 0), ("en", 4), ("ax", 2), ("sp", 0)] {
                    b.init_i64(name, &[1], &[v]);
                }
                b.node("Slice", &[x, "st", "en", "ax", "sp"], "s", vec![]);
                "s".into()
            }),
        ),
        (
            "negative repeats",
            Box::new(|b, x| {
                b.init_i64("rp", &[4], &[1, 1, -1, 1]);
                b.node("Tile", &[x, "rp"], "t", vec![]);
                "t".into()
            }),
        ),
        (
            "is negative or over the budget",
            Box::new(|b, x| {
                b.init_i64("shape", &[4], &[1, 4, 8, -8]);
                b.node("ConstantOfShape", &["shape"], "k", vec![]);
                b.node("Add", &[x, "k"], "s", vec![]);
                "s".into()
            }),
        ),
        (
            "is empty-stepped or over the budget",
            Box::new(|b, x| {
                for (name, v) in [("r0", 0), ("r1", 4), ("rd", 0)] {
                    b.init_i64(name, &[], &[v]);
                }
                b.node("Range", &["r0", "r1", "rd"], "r", vec![]);
                b.node("Reshape", &[x, "r"], "s", vec![]);
                "s".into()
            }),
        ),
    ];
    for (expect, body) in cases {
        let e = refused(&network(|b, x| body(b, x)), Duration::from_secs(2), expect);
        assert!(e.contains("invalid model") && e.contains(expect), "{expect}: {e}");
    }
}

/// In the page's session, whose forward pass first keeps only what R-LRP reads (no layer's output
/// before its activation), an overflowing output still names the first layer that overflowed:
/// the session looks again through the plan that keeps every value.
#[test]
fn the_session_names_the_first_overflowing_layer_too() {
    use rlrp::app::protocol::{Request, Response};
    use rlrp::app::session::Session;
    let gray = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([(40 + 20 * x + 5 * y) as u8]));
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(gray).write_to(&mut png, image::ImageFormat::Png).expect("png");
    let mut s = Session::new();
    let clock = || 0.0;
    let load = Request::LoadModel {
        external: Vec::new(),
        name: "overflow.onnx".into(),
        sidecar: None,
        sidecar_json: None,
        labels: None,
    };
    let r = s.handle(load, vec![first_weights(3e38)], &clock, &mut |_, _, _| true);
    assert!(matches!(r.response, Response::ModelLoaded { .. }), "{:?}", r.response);
    let r =
        s.handle(Request::SetImage { name: "gray.png".into() }, vec![png.into_inner()], &clock, &mut |_, _, _| true);
    match r.response {
        Response::Error { message } => {
            assert!(message.contains("first at Conv 1") && message.contains("overflow"), "{message}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A windowed or channelled operator of a constant (XCiT's and EdgeNeXt's Fourier position
/// encodings: a 1×1 Conv of a constant grid, added to the data) loads, tract folding it, and gives
/// the logits of the same network with the folded constant written in. tract's shape rules index
/// such an operator's channel axis unchecked, so the constant's rank is found first by tract's
/// analysis of the part that computes it alone: a rank too small for the operator, and a chain of
/// two such operators, are refused by name, at once.
#[test]
fn a_windowed_operator_of_a_constant_is_checked_by_rank_first() {
    let mut rng = Rng::new(17);
    let grid = rng.sym_vec(3 * 64, 2.0);
    let pw = rng.sym_vec(12, 1.0);
    // pe = Conv1×1(sin(grid)), [1, 4, 8, 8]
    let folded: Vec<f32> = (0..4 * 64)
        .map(|i| {
            let (o, p) = (i / 64, i % 64);
            (0..3).map(|c| pw[o * 3 + c] * grid[c * 64 + p].sin()).sum()
        })
        .collect();
    let encoded = network(|b, x| {
        b.init("grid", &[1, 3, 8, 8], &grid);
        b.init("pw", &[4, 3, 1, 1], &pw);
        b.node("Sin", &["grid"], "s", vec![]);
        b.node("Conv", &["s", "pw"], "pe", vec![]);
        b.node("Add", &[x, "pe"], "sum", vec![]);
        "sum".into()
    });
    let written_in = network(|b, x| {
        b.init("pe", &[1, 4, 8, 8], &folded);
        b.node("Add", &[x, "pe"], "sum", vec![]);
        "sum".into()
    });
    let (m, reference) = (load(&encoded).expect("the position encoding"), load(&written_in).expect("reference"));
    let x = input(0.5);
    let (acts, reference_acts) = (m.forward(&x).expect("forward"), reference.forward(&x).expect("forward"));
    let logits = m.logits(&acts).expect("logits").to_vec();
    let expected = reference.logits(&reference_acts).expect("logits").to_vec();
    for (a, b) in logits.iter().zip(&expected) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{logits:?} against {expected:?}");
    }
    let opts = ExplainOptions { target: Some(0), ..Default::default() };
    let r = explain(&m, &acts, Method::Rlrp, &opts, &mut |_, _| true).expect("explain").relevance;
    assert!(r.iter().all(|v| v.is_finite()) && r.iter().any(|&v| v != 0.0));

    let of_a_vector = network(|b, x| {
        for (name, v) in [("g", 1.0), ("be", 0.0), ("mu", 0.0), ("var", 1.0)] {
            b.init(name, &[4], &[v; 4]);
        }
        b.init("v", &[4], &[0.5; 4]);
        b.node("Sin", &["v"], "s", vec![]);
        b.node("BatchNormalization", &["s", "g", "be", "mu", "var"], "bn", vec![]);
        b.node("Add", &[x, "bn"], "sum", vec![]);
        "sum".into()
    });
    let e = refused(&of_a_vector, Duration::from_secs(1), "BatchNorm of a computed vector");
    assert!(e.contains("constant of rank 1, where it needs rank 2"), "{e}");
    let short_grid = network(|b, x| {
        b.init("grid", &[3, 8, 8], &grid);
        b.init("pw", &[4, 3, 1, 1], &pw);
        b.node("Sin", &["grid"], "s", vec![]);
        b.node("Conv", &["s", "pw"], "pe", vec![]);
        b.node("Add", &[x, "pe"], "sum", vec![]);
        "sum".into()
    });
    let e = refused(&short_grid, Duration::from_secs(1), "Conv of a grid of rank 3");
    assert!(e.contains("constant of rank 3, where it needs rank 4"), "{e}");
    let two_steps = network(|b, x| {
        b.init("grid", &[1, 3, 8, 8], &grid);
        b.init("pw", &[3, 3, 1, 1], &rng.sym_vec(9, 1.0));
        b.init("pw2", &[4, 3, 1, 1], &pw);
        b.node("Conv", &["grid", "pw"], "s", vec![]);
        b.node("Conv", &["s", "pw2"], "pe", vec![]);
        b.node("Add", &[x, "pe"], "sum", vec![]);
        "sum".into()
    });
    let e = refused(&two_steps, Duration::from_secs(1), "Conv of a Conv of a constant");
    assert!(e.contains("Conv_1") && e.contains("only one such step"), "{e}");
}

/// Resize with scales or sizes no classifier has (zero, negative, not finite, huge, to nothing, of the
/// wrong length; tract 0.23 panicked on an infinite or huge scale): each is refused by name within a
/// second; the sound extremes (antialiased down to one row, 64 times up) load and run to finite
/// logits. Never a panic, a hang, a runaway allocation or a NaN.
#[test]
fn a_resize_with_hostile_scales_is_refused_or_runs() {
    let with = |opset: i64, mode: &str, scales: Option<&[f32]>, sizes: Option<&[i64]>, antialias: i64| {
        let mut b_opset = 0;
        let bytes = network(|b, x| {
            let s = scales.map(|s| b.init("scales", &[s.len() as i64], s)).unwrap_or_default();
            let mut inputs = vec![x, "", s.as_str()];
            let z = sizes.map(|z| b.init_i64("sizes", &[z.len() as i64], z));
            if let Some(z) = z.as_deref() {
                inputs.push(z);
            }
            let mut attrs = vec![attr::string("mode", mode)];
            if opset >= 18 {
                attrs.push(attr::int("antialias", antialias));
            }
            b.node("Resize", &inputs, "rs", attrs);
            b.opset(opset);
            b_opset = opset;
            "rs".into()
        });
        assert_eq!(b_opset, opset);
        bytes
    };
    let nan = f32::NAN;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("antialiased to one row", with(18, "linear", None, Some(&[1, 4, 1, 8]), 1)),
        ("upscaled 64 times", with(13, "linear", Some(&[1.0, 1.0, 64.0, 64.0]), None, 0)),
        ("scale 0", with(13, "linear", Some(&[1.0, 1.0, 0.0, 1.0]), None, 0)),
        ("negative scale", with(13, "linear", Some(&[1.0, 1.0, -2.0, 1.0]), None, 0)),
        ("NaN scale", with(13, "nearest", Some(&[1.0, 1.0, nan, 1.0]), None, 0)),
        ("infinite scale", with(13, "nearest", Some(&[1.0, 1.0, f32::INFINITY, 1.0]), None, 0)),
        ("scale 1e30", with(13, "cubic", Some(&[1.0, 1.0, 1e30, 1.0]), None, 0)),
        ("scale 1e-30", with(13, "cubic", Some(&[1.0, 1.0, 1e-30, 1.0]), None, 0)),
        ("size 2^40", with(13, "linear", None, Some(&[1, 4, 1 << 40, 8]), 0)),
        ("size 0", with(13, "linear", None, Some(&[1, 4, 0, 8]), 0)),
        ("negative size", with(13, "linear", None, Some(&[1, 4, -3, 8]), 0)),
        ("sizes of the wrong length", with(13, "linear", None, Some(&[4, 8]), 0)),
        ("antialiased by 1e-6", with(18, "cubic", Some(&[1.0, 1.0, 1e-6, 1.0]), None, 1)),
    ];
    for (k, (what, bytes)) in cases.into_iter().enumerate() {
        let sound = k < 2;
        let t = Instant::now();
        match load(&bytes) {
            Ok(m) => {
                assert!(sound, "{what}: loaded");
                let acts = m.forward(&input(0.5)).unwrap_or_else(|e| panic!("{what}: {e}"));
                let logits = m.logits(&acts).expect("logits");
                assert!(logits.iter().all(|v| v.is_finite()), "{what}: {logits:?}");
                println!("{what:<28} {:>8.2?} → runs", t.elapsed());
            }
            Err(e) => {
                println!("{what:<28} {:>8.2?} → {e}", t.elapsed());
                assert!(!sound && e.to_string().contains("Resize"), "{what}: {e}");
            }
        }
        assert!(t.elapsed() < Duration::from_secs(2), "{what}: took {:?}", t.elapsed());
    }
}
