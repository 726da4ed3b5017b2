//! The command-line tool, run as a user would: text and JSON reports, .npy and PNG outputs, and clear
//! errors (exit code 1, no panic) for bad files.
use crate::common;
use common::*;

use common::run_rlrp as rlrp;
use common::shared_path as path;

#[test]
fn explain_input_npy_writes_the_oracle_relevance_and_json() {
    let dir = std::env::temp_dir().join(format!("rlrp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let npy_out = dir.join("r.npy");
    let png_out = dir.join("h.png");
    let (code, stdout, stderr) = rlrp(&[
        "explain",
        "--model",
        &path("models/mnist_resnet_mini_fp32_opset13.onnx"),
        "--input-npy",
        &path("golden/mnist_resnet_mini/mnist_test_00000_label7__input.npy"),
        "--npy",
        npy_out.to_str().unwrap(),
        "--out",
        png_out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(report["target"], 7);
    assert_eq!(report["method"], "rlrp");
    assert_eq!(report["top"].as_array().unwrap().len(), 5);
    assert!(report["kappa"].as_f64().unwrap().is_finite());
    assert!(report["layers"].as_array().unwrap().len() > 20);
    let ours = rlrp::npy::read_npy(&std::fs::read(&npy_out).unwrap()).unwrap();
    let oracle = npy("golden/mnist_resnet_mini/mnist_test_00000_label7__rlrp.npy");
    assert!(rel_l1(&ours, &oracle) < 1e-4);
    let png = image::open(&png_out).unwrap();
    assert_eq!((png.width(), png.height()), (28, 28));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn explain_image_with_sidecar_prints_top5_kappa_layers_and_timings() {
    let (code, stdout, stderr) = rlrp(&[
        "explain",
        "--model",
        &path("models/mnist_simple_cnn_int8_weightonly_dq.onnx"),
        "--image",
        &path("images/mnist_test_00001_label2.png"),
        "--method",
        "epsilon-plus-flat",
        "--class",
        "3",
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    for needle in ["top-5:", "kappa", "target   3", "EpsilonPlusFlat", "relevance mass", "forward", "relevance "] {
        assert!(stdout.contains(needle), "missing '{needle}' in:\n{stdout}");
    }
}

#[test]
fn bad_files_and_requests_fail_cleanly() {
    let model = path("models/mnist_simple_cnn_fp32_opset13.onnx");
    let digit = path("images/mnist_test_00000_label7.png");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--model".into(), digit.clone(), "--image".into(), digit.clone()], "not a readable ONNX model"),
        (vec!["--model".into(), model.clone(), "--image".into(), model.clone()], "image"),
        (
            vec!["--model".into(), model.clone(), "--image".into(), digit.clone(), "--method".into(), "magic".into()],
            "unknown method",
        ),
        (
            vec!["--model".into(), model.clone(), "--image".into(), digit.clone(), "--class".into(), "10".into()],
            "class 10 does not exist",
        ),
        (
            vec![
                "--model".into(),
                model.clone(),
                "--input-npy".into(),
                path("golden/efficientnet_lite0/coffee__input.npy"),
            ],
            "does not match the model input shape",
        ),
        (
            vec!["--model".into(), model.clone(), "--image".into(), digit.clone(), "--contrast".into(), "2".into()],
            "contrast '2': expected auto, linear or a gamma in (0, 1]",
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["explain".to_string()];
        full.extend(args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let (code, _, stderr) = rlrp(&refs);
        assert_eq!(code, 1, "{refs:?} should fail; stderr: {stderr}");
        assert!(stderr.contains(expected), "{refs:?}: expected '{expected}' in '{stderr}'");
        assert!(!stderr.contains("panicked"), "{refs:?} panicked: {stderr}");
    }
}

#[test]
fn methods_lists_every_method() {
    let (code, stdout, _) = rlrp(&["methods"]);
    assert_eq!(code, 0);
    for m in rlrp::relevance::Method::ALL {
        assert!(stdout.contains(m.name()), "{} missing", m.name());
    }
}

/// A named pipe given as model, image, .npy or sidecar is refused at once (reading it would block
/// forever), and a sidecar's labels_file may not leave the sidecar's folder.
#[test]
fn named_pipes_and_escaping_labels_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("rlrp-cli-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
    assert!(made, "mkfifo is needed for this test");
    let fifo = fifo.to_str().unwrap();
    let model = path("models/mnist_simple_cnn_fp32_opset13.onnx");
    let digit = path("images/mnist_test_00000_label7.png");
    for args in [
        vec!["explain", "--model", fifo, "--image", &digit],
        vec!["explain", "--model", &model, "--image", fifo],
        vec!["explain", "--model", &model, "--input-npy", fifo],
        vec!["explain", "--model", &model, "--image", &digit, "--sidecar", fifo],
    ] {
        let started = std::time::Instant::now();
        let (code, _, stderr) = rlrp(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.contains("not a regular file"), "{args:?}: {stderr}");
        assert!(started.elapsed().as_secs() < 20, "{args:?} took {:?}", started.elapsed());
    }
    let sidecar = dir.join("escape.json");
    std::fs::write(
        &sidecar,
        r#"{"input": {"width": 28, "height": 28, "channels": 1, "std": [255]}, "labels_file": "../../../../etc/passwd"}"#,
    )
    .unwrap();
    let (code, _, stderr) =
        rlrp(&["explain", "--model", &model, "--image", &digit, "--sidecar", sidecar.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("labels_file") && stderr.contains(".."), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
