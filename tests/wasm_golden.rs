//! The engine compiled to wasm32 (+simd128), run in headless Chromium, reproduces EVERY golden case
//! of ../shared/golden/manifest.json (88 cases: the three MNIST models and EfficientNet-Lite0 fp32,
//! the only Lite0 model the manifest has) to the same tolerances as tests/native/golden.rs; and the
//! worker's [`Session`](rlrp::app::session::Session) (LoadModel, SetImage, Explain) gives the golden
//! R-LRP relevance for an MNIST model, sidecar and PNG.
//!
//! The browser has no filesystem: the models, inputs and reference outputs (≈ 38 MB) are embedded
//! with `include_bytes!`, listed in `tests/wasm/golden_files.rs`, which is generated from the
//! manifest by the native test [`golden_file_list_matches_manifest`] of this file (it fails when the
//! list is out of sync; `RLRP_REGENERATE=1 cargo test --test wasm_golden` rewrites it).
//!
//! Run (scripts/test.sh does):
//!
//! ```sh
//! WASM_BINDGEN_TEST_TIMEOUT=900 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!   CHROMEDRIVER=/usr/bin/chromedriver \
//!   cargo test --profile web --target wasm32-unknown-unknown --test wasm_golden
//! ```
//!
//! (The runner's default time limit for the whole suite, 20 s, is too short for Lite0.) The `web`
//! profile is the app's: the shipped code is tested, and trunk reuses the compiled dependencies
//! (the suite runs in ≈ 12 s, against ≈ 40 s in the dev profile). scripts/test.sh uses
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="node $PWD/tests/wasm/runner.mjs"`, which drops the
//! module's DWARF sections first.
mod common;

/// Paths inside ../shared of every file the golden cases need: the manifest, each case's model,
/// input and reference output, sorted and deduplicated.
#[cfg(not(target_arch = "wasm32"))]
fn manifest_files(manifest: &[u8]) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_slice(manifest).expect("manifest.json");
    let mut files = vec!["golden/manifest.json".to_string()];
    for case in m["cases"].as_array().expect("cases") {
        let field = |k: &str| case[k].as_str().unwrap_or_else(|| panic!("a case without {k}")).to_string();
        files.push(field("model_file"));
        files.push(format!("golden/{}", field("input_file")));
        files.push(format!("golden/{}", field("output_file")));
    }
    files.sort();
    files.dedup();
    files
}

/// The text of tests/wasm/golden_files.rs for this list of files.
#[cfg(not(target_arch = "wasm32"))]
fn golden_files_rs(files: &[String]) -> String {
    let mut s = String::from(
        "// @generated from ../shared/golden/manifest.json by `RLRP_REGENERATE=1 cargo test --test wasm_golden`\n\
         // (tests/wasm_golden.rs, golden_file_list_matches_manifest). Do not edit by hand.\n\
         // Every file the golden cases need, as (path inside ../shared, bytes).\n\
         pub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for f in files {
        s.push_str(&format!(
            "    (\"{f}\", include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../shared/{f}\"))),\n"
        ));
    }
    s.push_str("];\n");
    s
}

/// tests/wasm/golden_files.rs must list exactly the files of the manifest's cases.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn golden_file_list_matches_manifest() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wasm/golden_files.rs");
    let expected = golden_files_rs(&manifest_files(&common::read("golden/manifest.json")));
    if std::env::var_os("RLRP_REGENERATE").is_some() {
        std::fs::write(&path, &expected).expect("writing tests/wasm/golden_files.rs");
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "tests/wasm/golden_files.rs is out of sync with ../shared/golden/manifest.json: \
         regenerate it with `RLRP_REGENERATE=1 cargo test --test wasm_golden`"
    );
}

#[cfg(target_arch = "wasm32")]
mod browser {
    use super::common::golden_case::{tolerance, zbox_range, Manifest};
    use super::common::{golden_method, rel_l1};
    use rlrp::app::protocol::{Request, Response};
    use rlrp::app::session::Session;
    use rlrp::forward::Activations;
    use rlrp::model::{LoadOptions, Model};
    use rlrp::npy::read_npy;
    use rlrp::relevance::{explain, ExplainOptions, Method};
    use rlrp::tensor::Tensor;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

    wasm_bindgen_test_configure!(run_in_browser);

    mod embedded {
        include!("wasm/golden_files.rs");
    }

    fn file(rel: &str) -> &'static [u8] {
        embedded::FILES
            .iter()
            .find(|(p, _)| *p == rel)
            .map(|(_, b)| *b)
            .unwrap_or_else(|| panic!("{rel} is not embedded: regenerate tests/wasm/golden_files.rs"))
    }

    fn npy(rel: &str) -> Tensor {
        read_npy(file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Lets the browser's event loop run (the test runner polls the page through WebDriver).
    async fn yield_to_browser() {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            let scope: web_sys::Window = js_sys::global().unchecked_into();
            let _ = scope.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }

    fn now_ms() -> f64 {
        js_sys::Date::now()
    }

    async fn run(model_filter: &str) {
        let manifest: Manifest = serde_json::from_slice(file("golden/manifest.json")).expect("manifest");
        let mut models: Vec<(String, Model)> = Vec::new();
        let mut forward: Option<((String, String), Activations)> = None;
        let (mut report, mut failures) = (Vec::new(), Vec::new());
        let t0 = now_ms();
        for case in manifest.cases.iter().filter(|c| c.model_file.contains(model_filter)) {
            if !models.iter().any(|(f, _)| *f == case.model_file) {
                let m = Model::from_onnx_bytes(file(&case.model_file), &LoadOptions::default())
                    .unwrap_or_else(|e| panic!("{}: {e}", case.model_file));
                models.push((case.model_file.clone(), m));
            }
            let model = &models.iter().find(|(f, _)| *f == case.model_file).expect("loaded").1;
            // Cases come grouped by model and input: one forward pass per input.
            let key = (case.model_file.clone(), case.input_file.clone());
            if forward.as_ref().is_none_or(|(k, _)| *k != key) {
                let input = npy(&format!("golden/{}", case.input_file));
                forward = Some((key, model.forward(&input).expect("forward")));
            }
            let acts = &forward.as_ref().expect("just set").1;
            let logit_err = (model.logits(acts).unwrap()[case.target_class] as f64 - case.logit).abs();
            let (method, mut params) = golden_method(&case.method);
            if let Some(range) = zbox_range(case.composite.as_deref().unwrap_or("")) {
                params.input_range = Some(range);
            }
            let opts = ExplainOptions { target: Some(case.target_class), params, keep_layer_maps: false };
            let e = explain(model, acts, method, &opts, &mut |_, _| true).expect("explain");
            let err = rel_l1(&e.relevance, &npy(&format!("golden/{}", case.output_file)));
            // The input's mass in the report (simd128 sums: f32 over four values a lane, then f64,
            // within 3·2⁻²⁴ of ‖·‖₁) against a plain f64 loop.
            let (sum, l1) = e.relevance.iter().fold((0f64, 0f64), |(s, a), &v| (s + v as f64, a + v.abs() as f64));
            let input = e.layers.last().expect("the input's relevance mass");
            if (input.sum - sum).abs() > 1e-6 * (1.0 + l1) || (input.l1 - l1).abs() > 1e-6 * (1.0 + l1) {
                failures.push(format!(
                    "{}: input mass {} / {} against {sum} / {l1}",
                    case.output_file, input.sum, input.l1
                ));
            }
            let line = format!(
                "{:<60} rel L1 {:.2e} (tolerance {:.0e})  logit diff {:.1e}",
                case.output_file,
                err,
                tolerance(case),
                logit_err
            );
            if err.is_nan() || err > tolerance(case) {
                failures.push(line.clone());
            }
            report.push(line);
            yield_to_browser().await;
        }
        console_log!(
            "{}\n{} cases of {model_filter} in {:.1} s",
            report.join("\n"),
            report.len(),
            (now_ms() - t0) / 1e3
        );
        assert!(!report.is_empty(), "no golden case selected");
        assert!(failures.is_empty(), "wasm32 cases above their tolerance:\n{}", failures.join("\n"));
    }

    #[wasm_bindgen_test]
    async fn wasm_golden_mnist_simple_cnn() {
        run("mnist_simple_cnn").await;
    }

    #[wasm_bindgen_test]
    async fn wasm_golden_mnist_vgg_mini() {
        run("mnist_vgg_mini").await;
    }

    #[wasm_bindgen_test]
    async fn wasm_golden_mnist_resnet_mini() {
        run("mnist_resnet_mini").await;
    }

    #[wasm_bindgen_test]
    async fn wasm_golden_efficientnet_lite0() {
        run("efficientnet_lite0").await;
    }

    /// tract's dispatch, as the browser's forward pass asks it: the wide 4×16 kernel where N fills
    /// its tiles (our tier, `rlrp::forward::kernel_choice`: registered, and naming a kernel this
    /// tract-linalg has), tract's own 8×8 otherwise, its GEMV kernels for N = 1.
    #[wasm_bindgen_test]
    fn forward_products_use_the_wide_kernel_where_it_fills() {
        use rlrp::forward::kernel_choice::WIDE_F32_KERNEL;
        use tract_onnx::prelude::{tvec, DatumType};
        use tract_onnx::tract_core::tract_linalg::{mmm::Query, MmmDispatch};
        let picked = |m: usize, k: usize, n: usize| {
            let query = Query {
                weight: DatumType::F32.into(),
                activation: DatumType::F32,
                accumulators: tvec!(DatumType::F32),
                store: None,
                allow_extractor: false,
                m: Some(m),
                k: Some(k),
                n: Some(n),
            };
            MmmDispatch::native().pick(&query).expect("a kernel").0.name().to_string()
        };
        assert_eq!(picked(12544, 32, 16), WIDE_F32_KERNEL);
        assert_eq!(picked(480, 80, 192), WIDE_F32_KERNEL);
        assert_eq!(picked(3136, 144, 24), "wasm_f32_8x8");
        assert_eq!(picked(1152, 192, 49), "wasm_f32_8x8");
        assert!(picked(1000, 1280, 1).ends_with("x1"), "a matrix × vector kernel for N = 1");
    }

    /// The depthwise convolution's simd128 path (`direct_row`'s blocks of 32, 16, 8 and 4 outputs over
    /// zero-padded phase planes) against a direct sum, on EfficientNet-Lite0's kinds of layers
    /// (3×3 and 5×5, strides 1 and 2) and on odd widths.
    #[wasm_bindgen_test]
    fn depthwise_convolutions_match_a_direct_sum() {
        use rlrp::kernels::conv::{conv2d_forward, Conv2dGeometry};
        // (channels, height, width, kernel, stride, pads [t, l, b, r])
        let cases = [
            (3, 20, 37, 3, 1, [1, 1, 1, 1]),
            (2, 23, 41, 3, 2, [0, 0, 1, 1]),
            (2, 30, 30, 5, 2, [1, 1, 2, 2]),
            (3, 16, 33, 5, 1, [2, 2, 2, 2]),
            (2, 9, 9, 3, 2, [1, 1, 1, 1]),
            (2, 7, 7, 5, 1, [2, 2, 2, 2]),
        ];
        for (c, h, w, k, s, pads) in cases {
            let g = Conv2dGeometry::new(c, h, w, c, k, k, (s, s), (1, 1), pads, c).expect("geometry");
            let x: Vec<f32> = (0..c * h * w).map(|i| ((i * 7919 % 1013) as f32 / 506.0) - 1.0).collect();
            let wt: Vec<f32> = (0..c * k * k).map(|i| ((i * 104729 % 977) as f32 / 488.0) - 1.0).collect();
            let bias: Vec<f32> = (0..c).map(|i| i as f32 * 0.25 - 0.5).collect();
            let mut y = vec![f32::NAN; c * g.out_h * g.out_w];
            conv2d_forward(&g, &x, &wt, Some(&bias), &mut y);
            for ch in 0..c {
                for oh in 0..g.out_h {
                    for ow in 0..g.out_w {
                        let mut want = bias[ch] as f64;
                        for ki in 0..k {
                            for kj in 0..k {
                                let ih = (oh * s + ki) as isize - pads[0] as isize;
                                let iw = (ow * s + kj) as isize - pads[1] as isize;
                                if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                                    let xv = x[(ch * h + ih as usize) * w + iw as usize] as f64;
                                    want += wt[(ch * k + ki) * k + kj] as f64 * xv;
                                }
                            }
                        }
                        let got = y[(ch * g.out_h + oh) * g.out_w + ow] as f64;
                        assert!(
                            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{c}×{h}×{w} k{k} s{s}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// The 1×1 convolution's and the relevance products' simd128 blocks (4 rows × 12 columns, the
    /// last block shifted back, short row blocks, spans, accumulation over overlapping blocks)
    /// against f64 sums, with and without a clamp.
    #[wasm_bindgen_test]
    fn pointwise_matches_a_direct_sum() {
        assert_eq!(rlrp::kernels::pointwise::check_against_direct_sums(), Ok(()));
    }

    /// The simd128 sums (f32 lane sums of 16 values at a time, then f64) against a sequential f64
    /// sum: the relevance pass's masses, its λ and its finiteness check read them. Lengths around
    /// the block of 16; values of mixed sign and magnitude, and a non-finite value anywhere.
    #[wasm_bindgen_test]
    fn simd_sums_match_f64_sums() {
        use crate::common::fused_sums::{mixed_values, LENGTHS};
        use rlrp::kernels::elementwise::{l1_norm, sum, sum_and_l1};
        for n in LENGTHS {
            let x = mixed_values(n);
            let (want_sum, want_l1) = x.iter().fold((0f64, 0f64), |(s, a), &v| (s + v as f64, a + v.abs() as f64));
            let (got_sum, got_l1) = sum_and_l1(&x);
            let close = |got: f64, want: f64| (got - want).abs() <= 1e-6 * want_l1;
            assert!(close(got_sum, want_sum) && close(sum(&x), want_sum), "n={n}: sum {got_sum} vs {want_sum}");
            assert!(close(got_l1, want_l1) && close(l1_norm(&x), want_l1), "n={n}: l1 {got_l1} vs {want_l1}");
            // Lane sums past f32's range are still finite sums.
            let big = vec![3e38f32; n];
            let want = 3e38f32 as f64 * n as f64;
            assert!(sum_and_l1(&big) == (want, want) && sum(&big) == want && l1_norm(&big) == want, "n={n}: big");
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, n / 2, n.saturating_sub(1)].into_iter().filter(|&at| at < n) {
                    let mut y = x.clone();
                    y[at] = bad;
                    assert!(!sum_and_l1(&y).1.is_finite() && !l1_norm(&y).is_finite(), "n={n}: {bad} at {at}");
                }
            }
        }
    }

    /// R-LRP's fused passes against the separate ones, in the simd128 build.
    #[wasm_bindgen_test]
    fn simd_fused_sums_match_separate_passes() {
        crate::common::fused_sums::check_fused_sums_match_separate_passes();
    }

    /// The simd128 sign test (blocks of 64 values, one branch a block) against a value-by-value
    /// one: lengths around the block, one negative value anywhere, and −0.0 and NaN, which are
    /// not below zero.
    #[wasm_bindgen_test]
    fn simd_sign_test_matches_a_scalar_one() {
        use rlrp::kernels::elementwise::any_negative;
        for n in [0usize, 1, 3, 4, 63, 64, 65, 127, 128, 200] {
            let mut x: Vec<f32> = (0..n).map(|i| (i * 7919 % 1013) as f32 / 1013.0).collect();
            assert!(!any_negative(&x), "n={n}: none");
            if n > 1 {
                (x[n / 2], x[n - 1]) = (-0.0, f32::NAN);
                assert!(!any_negative(&x), "n={n}: −0.0 and NaN");
            }
            for at in 0..n {
                let mut y = x.clone();
                y[at] = -f32::MIN_POSITIVE;
                assert!(any_negative(&y), "n={n}: at {at}");
            }
        }
    }

    /// αβ (α = 2, β = 1) at convolutions as the wasm build computes it (the three-product form with
    /// its simd128 signals, lopsided outputs summed term by term, the exact sides of a depthwise
    /// convolution) against its definition in f64, `R_i = Σ_j α(x_i w_ij)⁺ R_j/z₊_j −
    /// β(x_i w_ij)⁻ R_j/z₋_j`: a pointwise convolution on a non-negative and on a mixed-sign input,
    /// with one output channel in 20 of positive weights only (lopsided: z₋ = b⁻; one in 16 would
    /// take the four-term form), plane sizes that are not multiples of four or of the 128-output
    /// chunk; depthwise ones with stride 2 and a channel multiplier of 2 after a ReLU.
    #[wasm_bindgen_test]
    fn alpha_beta_at_convolutions_matches_its_definition() {
        use rlrp::kernels::conv::Conv2dGeometry;
        use rlrp::model::graph::{Conv, Linear};
        use rlrp::relevance::rules::{propagate, LayerContext, LinearRule};
        let value = |i: usize, seed: usize| (((i + 1) * 7919 + seed * 104729) % 1013) as f32 / 506.0 - 1.0;
        // in_c, h, w, out_c, kernel, stride, pads, groups, non-negative input
        let cases = [
            (48, 13, 11, 20, 1, 1, 0, 1, true),
            (48, 13, 11, 20, 1, 1, 0, 1, false),
            (6, 9, 7, 6, 3, 2, 1, 6, true),
            (3, 10, 9, 6, 3, 1, 1, 3, true),
        ];
        for (case, &(ci, h, w, co, k, s, p, groups, non_negative)) in cases.iter().enumerate() {
            let g = Conv2dGeometry::new(ci, h, w, co, k, k, (s, s), (1, 1), [p; 4], groups).unwrap();
            let cig = ci / groups;
            let mut weight: Vec<f32> = (0..co * cig * k * k).map(|i| value(i, case)).collect();
            weight[..cig * k * k].iter_mut().for_each(|v| *v = v.abs() + 0.01); // channel 0: W⁺ only
            let bias: Vec<f32> = (0..co).map(|i| value(i, case + 7) * 0.3).collect();
            let x: Vec<f32> = (0..ci * h * w)
                .map(|i| if non_negative { value(i, case + 3).max(0.0) } else { value(i, case + 3) })
                .collect();
            let r: Vec<f32> = (0..g.output_len()).map(|i| value(i, case + 5)).collect();
            let (plane, in_plane) = (g.out_h * g.out_w, h * w);
            // the taps of every output, and the definition in f64
            let mut taps: Vec<Vec<(usize, f64)>> = vec![Vec::new(); g.output_len()];
            for (j, t) in taps.iter_mut().enumerate() {
                let (c, oh, ow) = (j / plane, j % plane / g.out_w, j % g.out_w);
                for l in 0..cig {
                    let cin = c / (co / groups) * cig + l;
                    for ki in 0..k {
                        for kj in 0..k {
                            let (ih, iw) = ((oh * s + ki) as isize - p as isize, (ow * s + kj) as isize - p as isize);
                            if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                                let i = cin * in_plane + ih as usize * w + iw as usize;
                                t.push((i, weight[((c * cig + l) * k + ki) * k + kj] as f64 * x[i] as f64));
                            }
                        }
                    }
                }
            }
            let stabilise = |z: f64| if z < 0.0 { z - 1e-6 } else { z + 1e-6 };
            let mut want = vec![0f64; x.len()];
            let mut z = vec![0f32; g.output_len()];
            for (j, t) in taps.iter().enumerate() {
                let b = bias[j / plane] as f64;
                let pos: f64 = t.iter().map(|&(_, v)| v.max(0.0)).sum::<f64>() + b.max(0.0);
                let neg: f64 = t.iter().map(|&(_, v)| v.min(0.0)).sum::<f64>() + b.min(0.0);
                z[j] = (t.iter().map(|&(_, v)| v).sum::<f64>() + b) as f32;
                let (sp, sn) = (r[j] as f64 / stabilise(pos), r[j] as f64 / stabilise(neg));
                for &(i, v) in t {
                    want[i] += 2.0 * v.max(0.0) * sp - v.min(0.0) * sn;
                }
            }
            let layer = Linear::Conv(Conv { geometry: g.clone(), weight, bias });
            let (in_shape, out_shape) = ([1, ci, h, w], [1, co, g.out_h, g.out_w]);
            let x_t = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&in_shape), x).unwrap();
            let z_t = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&out_shape), z).unwrap();
            let r_t = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&out_shape), r).unwrap();
            let ctx =
                LayerContext { layer: &layer, x: x_t.view(), out_shape: &out_shape, z: Some(z_t.view()), r_l1: None };
            let got = propagate(&LinearRule::AlphaBeta { alpha: 2.0, beta: 1.0, stabilizer: 1e-6 }, &ctx, &r_t);
            let err: f64 = got.iter().zip(&want).map(|(&g, &w)| (g as f64 - w).abs()).sum::<f64>();
            let l1: f64 = want.iter().map(|w| w.abs()).sum();
            assert!(err <= 1e-5 * l1, "case {case}: relative L1 error {:.2e}", err / l1);
        }
    }

    /// The worker's session, as the page drives it: LoadModel (ONNX + the repository's sidecar),
    /// SetImage (the PNG, decoded and preprocessed in wasm), Explain R-LRP of the predicted class,
    /// whose relevance (`data[1]`, `.npy`) equals the golden oracle's for the same image.
    #[wasm_bindgen_test]
    fn session_explains_an_mnist_png_like_the_golden() {
        let onnx: &[u8] =
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models/mnist_simple_cnn_fp32_opset13.onnx"));
        let sidecar = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/mnist_simple_cnn_fp32_opset13.json"));
        let png: &[u8] =
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/images/mnist_test_00000_label7.png"));
        let golden = npy("golden/mnist_simple_cnn/mnist_test_00000_label7__rlrp.npy");

        let mut session = Session::new();
        let clock = || js_sys::Date::now();
        let mut progress = |_stage, _done, _total| true;
        let mut ask = |request: Request, data: Vec<Vec<u8>>| {
            let reply = session.handle(request, data, &clock, &mut progress);
            if let Response::Error { message } = &reply.response {
                panic!("the session answered an error: {message}");
            }
            reply
        };

        let load = Request::LoadModel {
            name: "mnist_simple_cnn_fp32_opset13".into(),
            external: Vec::new(),
            sidecar: None,
            sidecar_json: Some(sidecar.into()),
            labels: None,
        };
        let reply = ask(load, vec![onnx.to_vec()]);
        assert!(matches!(reply.response, Response::ModelLoaded { .. }), "LoadModel: {:?}", reply.response);

        let reply = ask(Request::SetImage { name: "mnist_test_00000_label7.png".into() }, vec![png.to_vec()]);
        match &reply.response {
            Response::ImageReady { width, height, top, classes, .. } => {
                assert_eq!((*width, *height, *classes), (28, 28, 10));
                assert_eq!(top[0].class, 7, "the predicted class");
            }
            other => panic!("SetImage: {other:?}"),
        }
        assert_eq!(reply.data.len(), 1);
        assert_eq!(reply.data[0].len(), 28 * 28 * 3, "the preprocessed picture as RGB");

        let explain = Request::Explain { method: Method::Rlrp, params: Default::default(), target: None };
        let reply = ask(explain, vec![]);
        match &reply.response {
            Response::Explained { report, width, height, .. } => {
                assert_eq!((*width, *height), (28, 28));
                assert_eq!(report.target, 7);
                assert_eq!(report.method, Method::Rlrp);
            }
            other => panic!("Explain: {other:?}"),
        }
        let relevance = read_npy(&reply.data[1]).expect("the relevance .npy");
        let err = rel_l1(&relevance, &golden);
        console_log!("session R-LRP vs golden: rel L1 {err:.2e}");
        assert!(err <= 1e-4, "the session's R-LRP relevance differs from the golden: rel L1 {err:.2e}");
        // data[0] is the channel-summed map the page paints: for one channel, the relevance itself.
        let summed = rlrp::app::protocol::f32_values(&reply.data[0]);
        assert_eq!(summed.len(), 28 * 28);
        let diff = summed.iter().zip(relevance.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-6, "the channel-summed map differs from the relevance by {diff}");
    }
}
