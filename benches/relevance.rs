//! Benchmark (not a test): median time of the forward pass and of every relevance method, and the
//! ratio relevance / forward measured in the same run, beside the peer: tract alone on the same file
//! (its own plan, logits only); then forward + R-LRP on one core and on every core (one image per
//! core). Machines are shared and noisy: medians and ratios, not absolute numbers, are what to
//! compare.
//!
//!     cargo bench --bench relevance                 # all models
//!     cargo bench --bench relevance -- mnist        # models whose file name contains "mnist"
//!     RLRP_BENCH_RUNS=11 cargo bench --bench relevance
use rlrp::explain::options_for;
use rlrp::model::{LoadOptions, Model};
use rlrp::relevance::{explain, Method, MethodParams};
use std::path::PathBuf;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    f(); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

/// tract's own optimised plan of an ONNX file for one input shape.
fn tract_alone(bytes: &[u8], shape: &[usize]) -> std::sync::Arc<tract_onnx::prelude::TypedRunnableModel> {
    use tract_onnx::prelude::*;
    let mut model = tract_onnx::onnx().model_for_read(&mut &bytes[..]).expect("tract: parse");
    model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape)).expect("tract: input");
    model.into_optimized().and_then(|m| m.into_runnable()).expect("tract: optimise")
}

fn main() {
    let shared = std::env::var("RLRP_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let runs: usize = std::env::var("RLRP_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    let cases = [
        ("efficientnet_lite0_int8_weightonly_dq.onnx", "efficientnet_lite0/chelsea__input.npy"),
        ("efficientnet_lite0_int8_static_qdq.onnx", "efficientnet_lite0/chelsea__input.npy"),
        ("efficientnet_lite0_fp32_opset13.onnx", "efficientnet_lite0/chelsea__input.npy"),
        ("mnist_resnet_mini_fp32_opset13.onnx", "mnist_resnet_mini/mnist_test_00000_label7__input.npy"),
        ("mnist_resnet_mini_int8_weightonly_dq.onnx", "mnist_resnet_mini/mnist_test_00000_label7__input.npy"),
    ];
    println!(
        "median of {runs} runs after one warm-up, single thread but the last row; ratio = method time / forward time"
    );
    for (file, input) in cases {
        if !file.contains(&filter) {
            continue;
        }
        let bytes = std::fs::read(shared.join("models").join(file)).expect("model");
        let load = time(1, || Model::from_onnx_bytes(&bytes, &LoadOptions::default()).expect("load"));
        let model = Model::from_onnx_bytes(&bytes, &LoadOptions::default()).expect("load");
        let x = rlrp::npy::read_npy(&std::fs::read(shared.join("golden").join(input)).expect("input")).expect("npy");
        let forward = time(runs, || model.forward(&x).expect("forward"));
        let acts = model.forward(&x).expect("forward");
        println!("\n{file}\n  {:<20} {:>9.2} ms\n  {:<20} {:>9.2} ms  (baseline)", "load", load, "forward", forward);
        // The same forward pass when it keeps no activation (tract may fuse): what keeping them costs.
        if let Ok(plan) = model.logit_plan(&bytes, 1) {
            let logits = time(runs, || plan.run(std::slice::from_ref(&x)).expect("logits"));
            println!("  {:<20} {:>9.2} ms  ratio {:>5.2}", "forward, logits only", logits, logits / forward);
        }
        // Batches of perturbed inputs (pixel flipping, the evaluation): the time per input.
        for batch in [4, 8] {
            if let Ok(plan) = model.logit_plan(&bytes, batch) {
                let inputs = vec![x.clone(); batch];
                let per = time(runs, || plan.run(&inputs).expect("logits")) / batch as f64;
                println!(
                    "  {:<20} {:>9.2} ms  ratio {:>5.2}",
                    format!("  batch {batch}, per input"),
                    per,
                    per / forward
                );
            }
        }
        // The peer: tract alone on the same file (logits only, every op tract's own, e.g. its
        // depthwise convolution where our plan runs ours).
        let peer = tract_alone(&bytes, x.shape());
        let input =
            tract_onnx::prelude::Tensor::from_shape(x.shape(), x.as_slice().expect("contiguous")).expect("input");
        let tract = time(runs, || peer.run(std::iter::once(input.clone().into()).collect()).expect("tract"));
        println!("  {:<20} {:>9.2} ms  ratio {:>5.2}", "tract alone, logits", tract, tract / forward);
        for method in Method::ALL {
            let opts = options_for(None, MethodParams::default(), None);
            let ms = time(runs, || explain(&model, &acts, method, &opts, &mut |_, _| true).expect("explain"));
            println!("  {:<20} {:>9.2} ms  ratio {:>5.2}", method.name(), ms, ms / forward);
        }
        // Every core: forward + R-LRP of one image per core at once (how `rlrp eval --threads`
        // uses them), the wall time per image against one image on one core.
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let opts = options_for(None, MethodParams::default(), None);
        let one = || {
            let acts = model.forward(&x).expect("forward");
            explain(&model, &acts, Method::Rlrp, &opts, &mut |_, _| true).expect("explain")
        };
        let single = time(runs, one);
        let per = time(runs, || {
            std::thread::scope(|s| {
                for _ in 0..cores {
                    s.spawn(one);
                }
            })
        }) / cores as f64;
        println!("  {:<20} {:>9.2} ms", "forward + rlrp", single);
        println!(
            "  {:<20} {:>9.2} ms  per image, {cores} at once ({:.2} × one core's)",
            format!("  {cores} cores"),
            per,
            per / single
        );
    }
}
