//! `rlrp eval` end to end on a few MNIST digits: from the .npy evaluation batch and from PNG files.
use crate::common;
use common::*;
use std::path::{Path, PathBuf};

use common::run_rlrp as rlrp;
use common::shared_path as path;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlrp-eval-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const MODEL: &str = "models/mnist_simple_cnn_fp32_opset13.onnx";

/// Checks the four outputs: a table row per method, `rows` CSV rows with finite AOPCs, PNGs decode.
fn check_outputs(out: &Path, methods: &[&str], rows: usize) {
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("mnist_simple_cnn_fp32_opset13.onnx"), "{summary}");
    for m in methods {
        assert_eq!(
            summary.lines().filter(|l| l.starts_with("| ") && l.contains(&format!(" | {m} | "))).count(),
            1,
            "{summary}"
        );
    }
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let data: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(data.len(), rows, "{csv}");
    for row in &data {
        assert_eq!(row.len(), header.len());
        for name in ["aopc_morf", "aopc_lerf", "aopc_random", "abpc", "kappa", "explain_ms"] {
            let v: f64 = row[col(name)].parse().unwrap_or_else(|_| panic!("{name} = {}", row[col(name)]));
            assert!(v.is_finite(), "{name} = {v}");
        }
        assert_eq!(row[col("non_finite")], "0");
    }
    for png in ["curves_mnist_simple_cnn_fp32_opset13.png", "grid.png"] {
        image::open(out.join(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
    }
    let legend = std::fs::read_to_string(out.join("curves_legend.txt")).unwrap();
    for m in methods {
        assert!(legend.contains(m));
    }
}

/// `rlrp eval` of R-LRP and ε on the first 3 digits of the .npy batch, 10 steps, into `out`, then
/// `extra`; returns (exit code, stdout, stderr).
fn eval_three_digits(out: &Path, extra: &[&str]) -> (i32, String, String) {
    let (model, images) = (path(MODEL), path("images/mnist_eval_500_x.npy"));
    let mut args = vec!["eval", "--model", &model, "--images", &images, "--limit", "3"];
    args.extend(["--methods", "rlrp,epsilon", "--steps", "10", "--out", out.to_str().unwrap()]);
    args.extend(extra);
    rlrp(&args)
}

#[test]
fn eval_npy_batch_writes_summary_csv_and_plots() {
    let out = temp_dir("npy");
    let (code, stdout, stderr) = eval_three_digits(&out, &["--robustness-limit", "2"]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.contains("| rlrp |"), "{stdout}");
    assert!(stdout.contains("over the first 2 of the 3 images"), "{stdout}");
    assert!(stderr.contains("3/3"), "{stderr}");
    check_outputs(&out, &["rlrp", "epsilon"], 6);
    // R-LRP conserves |f_c(x)|: ‖R‖₁/|logit| = 1 on this chain model.
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let l1 = header.iter().position(|h| *h == "l1_over_logit").unwrap();
    for line in csv.lines().skip(1).filter(|l| l.contains(",rlrp,")) {
        let v: f64 = line.split(',').nth(l1).unwrap().parse().unwrap();
        assert!((v - 1.0).abs() < 1e-3, "{line}");
    }

    // `eval-summary` recomputes the same summary from results.csv (plus a line saying so), and
    // refuses a damaged file with a message naming the line and column.
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let (code, _, stderr) = rlrp(&["eval-summary", out.to_str().unwrap()]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let again = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let note = "Tables recomputed from `results.csv` by `rlrp eval-summary`";
    assert!(again.contains(note), "{again}");
    let without_note: String = again.lines().filter(|l| !l.starts_with(note)).map(|l| format!("{l}\n")).collect();
    assert_eq!(without_note.replace("\n\n\n", "\n\n"), summary);
    std::fs::write(out.join("results.csv"), csv.replacen(",rlrp,", ",not-a-method,", 1)).unwrap();
    let (code, _, stderr) = rlrp(&["eval-summary", out.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("results.csv line 2, column 'method'"), "{stderr}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn eval_image_directory() {
    let dir = temp_dir("imgs");
    let images = dir.join("in");
    std::fs::create_dir_all(&images).unwrap();
    for f in ["mnist_test_00000_label7.png", "mnist_test_00001_label2.png"] {
        std::fs::copy(shared().join("images").join(f), images.join(f)).unwrap();
    }
    std::fs::write(images.join("notes.txt"), "not an image").unwrap();
    let out = dir.join("out");
    let (code, _, stderr) = rlrp(&[
        "eval",
        "--model",
        &path(MODEL),
        "--images",
        images.to_str().unwrap(),
        "--methods",
        "rlrp,lrp0",
        "--steps",
        "5",
        "--no-robustness",
        "--sensitivity-samples",
        "2",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    check_outputs(&out, &["rlrp", "lrp0"], 4);
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(csv.contains("mnist_test_00000_label7.png,rlrp,7,"), "{csv}");
    assert!(csv.contains("mnist_test_00001_label2.png,lrp0,2,"), "{csv}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_rejects_bad_arguments() {
    let out = temp_dir("bad");
    let (code, _, stderr) = rlrp(&[
        "eval",
        "--model",
        &path(MODEL),
        "--images",
        &path("images/mnist_eval_500_x.npy"),
        "--methods",
        "nonsense",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("error"), "{stderr}");
    let (code, _, stderr) = rlrp(&[
        "eval",
        "--model",
        &path(MODEL),
        "--images",
        &path("images/mnist_eval_500_x.npy"),
        "--limit",
        "1",
        "--baseline",
        "grey",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("baseline"), "{stderr}");
    std::fs::remove_dir_all(&out).ok();
}

/// `rlrp eval` in parts: `--stop-after` keeps what is done in the checkpoint, `--resume` goes on
/// from it, and the result is the one run in one go; a checkpoint of other settings is refused.
#[test]
fn eval_stops_and_resumes() {
    let dir = temp_dir("resume");
    let settings = ["--robustness-limit", "1", "--sensitivity-samples", "2", "--grid-rows", "3"];
    let run = |out: &Path, extra: &[&str]| eval_three_digits(out, &[&settings[..], extra].concat());
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    let (code, _, stderr) = run(&whole, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!whole.join("checkpoint").exists(), "the checkpoint goes once the results are written");

    let (code, _, stderr) = run(&parts, &["--stop-after", "2", "--threads", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("stopped after 2 new inputs") && stderr.contains("2 of 3 inputs"), "{stderr}");
    assert!(!parts.join("summary.md").exists());
    assert_eq!(std::fs::read_dir(parts.join("checkpoint")).unwrap().count(), 2);
    let (code, _, stderr) = run(&parts, &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("holds 2 inputs of an unfinished run: add --resume"), "{stderr}");
    let (code, _, stderr) = run(&parts, &["--resume"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming: 2 of 3 inputs"), "{stderr}");
    assert!(!parts.join("checkpoint").exists());
    // every number but the explanation times is the one-go run's; the grid is the same picture
    let without_times = |out: &Path| -> Vec<String> {
        let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
        csv.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect()
    };
    assert_eq!(without_times(&parts), without_times(&whole));
    for png in ["grid.png", "curves_mnist_simple_cnn_fp32_opset13.png"] {
        let read = |out: &Path| image::open(out.join(png)).unwrap().to_rgb8().into_raw();
        assert!(read(&parts) == read(&whole), "{png} differs");
    }

    // a checkpoint of other settings is not mixed in
    let other = dir.join("other");
    let (code, _, stderr) = run(&other, &["--stop-after", "1"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&other, &["--resume", "--patch", "7"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("other settings"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
