//! Golden tests: our relevance equals Zennit's (classical rules, gradients) and the independent R-LRP
//! oracle's (`rlrp`, `rlrp-divfree`) on every case of ../shared/golden/manifest.json, to 1e-4 relative L1.
use crate::common;
use common::golden_case::{tolerance, zbox_range, Case, Manifest};
use common::*;
use rlrp::relevance::{explain, ExplainOptions};

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
        if let Some(range) = zbox_range(case.composite.as_deref().unwrap_or("")) {
            params.input_range = Some(range);
        }
        let opts = ExplainOptions { target: Some(case.target_class), params, keep_layer_maps: false };
        let e = explain(&model, &acts, method, &opts, &mut no_progress()).expect("explain");
        let reference = npy(&format!("golden/{}", case.output_file));
        let err = rel_l1(&e.relevance, &reference);
        let line = format!(
            "{:<60} rel L1 {:.2e} (tolerance {:.0e})  logit diff {:.1e}",
            case.output_file,
            err,
            tolerance(&case),
            logit_err
        );
        if err.is_nan() || err > tolerance(&case) {
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

/// Justifies the 1e-3 tolerance above: a 1e-7 relative perturbation of the input (float32 rounding
/// level) moves Lite0's LRP-ε(1e-6) and gradient maps by more than 1e-4, while R-LRP moves by < 1e-4.
/// The gradient moves only where a ReLU6 mask flips, which one draw of the noise on one photo may
/// not do: the largest change over three draws on each golden photo is what is held.
#[test]
fn lite0_float32_noise_floor() {
    use rlrp::relevance::Method;
    let model = model("efficientnet_lite0_fp32_opset13.onnx");
    let mut largest = [0f64; 3];
    for photo in ["chelsea", "coffee"] {
        let x = npy(&format!("golden/efficientnet_lite0/{photo}__input.npy"));
        let a = model.forward(&x).unwrap();
        for mut seed in [12345u64, 777, 4242] {
            let noisy = x.mapv(|v| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = (seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5;
                v * (1.0 + 2e-7 * u)
            });
            let b = model.forward(&noisy).unwrap();
            for (k, method) in [Method::Epsilon, Method::Gradient, Method::Rlrp].into_iter().enumerate() {
                let opts = ExplainOptions::default();
                let ea = explain(&model, &a, method, &opts, &mut no_progress()).unwrap();
                let eb = explain(&model, &b, method, &opts, &mut no_progress()).unwrap();
                largest[k] = largest[k].max(rel_l1(&eb.relevance, &ea.relevance));
            }
        }
    }
    let [eps, grad, rlrp] = largest;
    println!(
        "largest relative L1 change under 1e-7 input noise: epsilon(1e-6) {eps:.2e}, gradient {grad:.2e}, rlrp {rlrp:.2e}"
    );
    assert!(eps > 1e-4 && grad > 1e-4, "the noise floor is below 1e-4: tighten the golden tolerance");
    assert!(eps < 1e-3 && grad < 1e-3, "the noise floor exceeds the 1e-3 tolerance");
    assert!(rlrp < 1e-4, "R-LRP should be stable at float32 noise");
}
