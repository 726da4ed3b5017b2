//! Shared test helpers: locating ../shared, loading models and golden cases.
#![allow(dead_code)]
pub mod fused_sums;
pub mod golden_case;
pub mod onnx_builder;
pub mod rng;
use rlrp::model::{LoadOptions, Model};
use rlrp::relevance::{Method, MethodParams};
use rlrp::tensor::Tensor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// The shared assets folder (`../shared` next to the repository, or `$RLRP_SHARED`).
pub fn shared() -> PathBuf {
    if let Ok(p) = std::env::var("RLRP_SHARED") {
        return PathBuf::from(p);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let p = here.join("../shared");
    assert!(p.join("models").is_dir(), "the shared assets are missing: expected {}", p.display());
    p
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = shared().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

pub fn npy(rel: &str) -> Tensor {
    rlrp::npy::read_npy(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Loads (once per test binary) a model from ../shared/models.
pub fn model(file: &str) -> Arc<Model> {
    type Cache = Mutex<Vec<(String, Arc<Model>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    if let Some((_, m)) = cache.lock().unwrap().iter().find(|(f, _)| f == file) {
        return m.clone();
    }
    let bytes = read(&format!("models/{file}"));
    let m = Arc::new(Model::from_onnx_bytes(&bytes, &LoadOptions::default()).unwrap_or_else(|e| panic!("{file}: {e}")));
    cache.lock().unwrap().push((file.to_string(), m.clone()));
    m
}

/// Golden method name (manifest) → our method and parameters.
pub fn golden_method(name: &str) -> (Method, MethodParams) {
    let mut p = MethodParams::default();
    let m = match name {
        "epsilon_1e-6" => Method::Epsilon,
        "epsilon_0.25" => {
            p.epsilon = 0.25;
            Method::Epsilon
        }
        "zplus" => Method::Zplus,
        "alpha2_beta1" => Method::Alphabeta,
        "gamma_0.25" => Method::Gamma,
        "epsilon_plus_flat" => Method::EpsilonPlusFlat,
        "epsilon_gamma_box" => Method::EpsilonGammaBox,
        "gradient" => Method::Gradient,
        "gradient_x_input" => Method::GradientXInput,
        "rlrp" => Method::Rlrp,
        "rlrp_divfree_skip" => Method::RlrpDivfree,
        other => panic!("unknown golden method {other}"),
    };
    (m, p)
}

/// ‖a − b‖₁ / ‖b‖₁
pub fn rel_l1(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let num: f64 = a.iter().zip(b.iter()).map(|(x, y)| (*x as f64 - *y as f64).abs()).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).abs()).sum();
    num / den.max(1e-30)
}

pub fn no_progress() -> impl FnMut(usize, usize) -> bool {
    |_, _| true
}

/// Runs the `rlrp` binary: (exit code, stdout, stderr).
pub fn run_rlrp(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rlrp")).args(args).output().expect("run rlrp");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A path inside ../shared, as a string for command lines.
pub fn shared_path(rel: &str) -> String {
    shared().join(rel).to_string_lossy().into_owned()
}
