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
