//! Golden tests: our relevance equals Zennit's (classical rules, gradients) and the independent R-LRP
//! oracle's (`rlrp`, `rlrp-divfree`) on every case of ../shared/golden/manifest.json, to 1e-4 relative L1.
mod common;
use common::*;
use rlrp::relevance::{explain, ExplainOptions};

#[derive(serde::Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    model_file: String,
    input_file: String,
    method: String,
    target_class: usize,
    logit: f64,
    output_file: String,
    #[serde(default)]
    composite: String,
}

/// The z^B bounds Zennit was given: `low=torch.full_like(x, L), high=torch.full_like(x, H)`.
fn zbox_range(composite: &str) -> Option<(f32, f32)> {
    let value = |key: &str| -> Option<f32> {
        let at = composite.find(key)? + key.len();
        let rest = &composite[at..];
        rest[..rest.find(')')?].trim().parse().ok()
    };
    Some((value("low=torch.full_like(x,")?, value("high=torch.full_like(x,")?))
}

fn cases() -> Vec<Case> {
    let m: Manifest = serde_json::from_slice(&read("golden/manifest.json")).expect("manifest");
    m.cases
}

fn run(filter: impl Fn(&Case) -> bool) {
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for case in cases().into_iter().filter(|c| filter(c)) {
        let model = model(case.model_file.trim_start_matches("models/"));
        let input = npy(&format!("golden/{}", case.input_file));
        let acts = model.forward(&input).expect("forward");
        let logits = model.logits(&acts).unwrap();
        let logit_err = (logits[case.target_class] as f64 - case.logit).abs();
        let (method, mut params) = golden_method(&case.method);
        if let Some(range) = zbox_range(&case.composite) {
            params.input_range = Some(range);
        }
        let opts = ExplainOptions { target: Some(case.target_class), params, keep_layer_maps: false };
        let e = explain(&model, &acts, method, &opts, &mut no_progress()).expect("explain");
        let reference = npy(&format!("golden/{}", case.output_file));
        let err = rel_l1(&e.relevance, &reference);
        let line = format!("{:<60} rel L1 {:.2e}  logit diff {:.1e}", case.output_file, err, logit_err);
        if !(err <= 1e-4) {
            failures.push(line.clone());
        }
        report.push(line);
    }
    println!("{}", report.join("\n"));
    assert!(!report.is_empty(), "no golden case selected");
    assert!(failures.is_empty(), "cases above 1e-4 relative L1:\n{}", failures.join("\n"));
}

#[test]
fn golden_mnist_models() {
    run(|c| c.model_file.contains("mnist"));
}

#[test]
fn golden_efficientnet_lite0() {
    run(|c| c.model_file.contains("efficientnet"));
}
