//! Every input the fuzz targets (`fuzz/`, issue 13) ever failed on, replayed through the same entry
//! points (`rlrp::fuzz`) in the normal test command: each must return without a panic. The inputs
//! live in `tests/data/fuzz/<target>/`, named after the bug they found; the hostile fixtures
//! (`tests/data/hostile/`) and the fuzz seeds (`fuzz/seeds/`) are replayed too.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn inputs(dirs: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
}

/// Runs `target` on every input; any panic (even one the engine catches) or a run over 20 s fails
/// the test, naming the file. Files named `tract_panic_*` are known panics inside tract that no
/// check before it can prevent (the page restarts its worker on them: tests/e2e h): for those,
/// only an uncaught panic fails.
fn replay(dirs: &[&str], target: fn(&[u8])) {
    let files = inputs(dirs);
    let mut failures = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).expect("readable");
        let known = f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("tract_panic_"));
        let before = rlrp::forward::caught_panics();
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(|| target(&bytes));
        let took = t.elapsed();
        let panics = rlrp::forward::caught_panics() - before;
        println!("{:<60} {:>6} bytes {took:>9.2?} {panics} panics", f.display(), bytes.len());
        if outcome.is_err() {
            failures.push(format!("{}: panicked", f.display()));
        } else if panics > 0 && !known {
            failures.push(format!("{}: panicked inside the engine ({panics}×; caught)", f.display()));
        } else if took > Duration::from_secs(20) {
            failures.push(format!("{}: took {took:?}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn onnx_regressions_and_seeds() {
    replay(&["tests/data/fuzz/onnx", "tests/data/hostile", "fuzz/seeds/onnx"], rlrp::fuzz::onnx);
}

/// The ONNX target reaches pixel flipping's cropping on real models: the shared MNIST models with
/// a local prefix go through it, and some of their passes are cropped (so the fuzzers, whose corpora
/// start from these models, cut models into sections and build crop plans of mutated ones).
#[test]
fn onnx_target_crops_the_mnist_models() {
    for rel in ["models/mnist_vgg_mini_fp32_opset13.onnx", "models/mnist_resnet_mini_bn_fp32_opset13.onnx"] {
        let cropped = rlrp::fuzz::onnx_cropped_passes(&crate::common::read(rel));
        assert!(cropped >= 2, "{rel}: {cropped} cropped passes");
    }
}

#[test]
fn image_regressions() {
    replay(&["tests/data/fuzz/image", "tests/data/hostile"], rlrp::fuzz::image);
}

#[test]
fn sidecar_regressions() {
    replay(&["tests/data/fuzz/sidecar"], rlrp::fuzz::sidecar);
}

#[test]
fn npy_regressions() {
    replay(&["tests/data/fuzz/npy"], rlrp::fuzz::npy);
}

#[test]
fn sidecar_form_regressions() {
    replay(&["tests/data/fuzz/sidecar_form"], rlrp::fuzz::sidecar_form);
}

/// The preprocessing form takes what a user types: 20 000 generated forms (numbers at the edges of
/// f64 and usize, fractions by zero, huge channel counts and lists, stray separators, non-ASCII)
/// go through the same entry point as its fuzz target without a panic or a slow answer.
#[test]
fn sidecar_form_survives_generated_input() {
    const PIECES: &[&str] = &[
        "",
        "0",
        "1",
        "3",
        "224",
        "-1",
        "1/255",
        "1/0",
        "0/0",
        "nan",
        "inf",
        "-inf",
        "1e309",
        "1e-320",
        "18446744073709551615",
        "18446744073709551616",
        "4294967297",
        "99999999999",
        "0.485, 0.456, 0.406",
        "127,127,127",
        "1;2;3",
        ",,,",
        " ",
        "−2",
        "rgb",
        "bgr",
        "gray",
        "nchw",
        "nhwc",
        "stretch",
        "shorter_side",
        "none",
        "é",
        "\u{202e}",
        "1/-0",
        "3e2",
        "0.0000001",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let started = Instant::now();
    for _ in 0..20_000 {
        let fields: Vec<String> = (0..10)
            .map(|_| {
                (0..1 + rand(3)).map(|_| PIECES[rand(PIECES.len())]).collect::<Vec<_>>().join(if rand(2) == 0 {
                    ","
                } else {
                    ""
                })
            })
            .collect();
        let bytes = fields.join("\n").into_bytes();
        let outcome = std::panic::catch_unwind(|| rlrp::fuzz::sidecar_form(&bytes));
        assert!(outcome.is_ok(), "panicked on {:?}", String::from_utf8_lossy(&bytes));
    }
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}
