//! Pixel flipping's cropped forward passes ([`rlrp::forward::incremental`]) against tract's whole
//! logits-only pass, on the shared models and the zoo: every pass of a flipping-like sequence
//! (one patch more, two far-apart patches, patches put back, a change too wide to crop, no change)
//! gives the whole pass's logits, most of them cropped where the model has a local prefix; a wrong
//! crop is caught by the first pass's check.
use crate::common::*;
use rlrp::forward::incremental::spec::{IncrementalSpec, Reach, Tuning};
use rlrp::model::{incremental_logits_from_bytes, logit_plan_from_bytes, LoadOptions, Model};
use rlrp::tensor::Tensor;

/// The model, its bytes and the patch side pixel flipping uses for it.
fn load(rel: &str) -> (Model, Vec<u8>, usize) {
    let bytes = read(rel);
    let model = Model::from_onnx_bytes(&bytes, &LoadOptions::default()).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let side = model.input_shape()[2].min(model.input_shape()[3]);
    (model, bytes, if side < 64 { 4 } else { 16 })
}

/// A flipping-like sequence of inputs: patches of a seeded order removed one at a time, with, in
/// between, two far-apart patches at once, a step back (a patch put back), an unchanged input and
/// a change over the whole image.
fn sequence(shape: &[usize], patch: usize, steps: usize) -> Vec<Tensor> {
    let (c, h, w) = (shape[1], shape[2], shape[3]);
    let clean: Vec<f32> = (0..c * h * w).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let (rows, cols) = (h.div_ceil(patch), w.div_ceil(patch));
    let mut order: Vec<usize> = (0..rows * cols).collect();
    let mut seed = 99u64;
    for i in (1..order.len()).rev() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        order.swap(i, (seed >> 33) as usize % (i + 1));
    }
    let with_removed = |k: usize| {
        let mut x = clean.clone();
        for &p in &order[..k] {
            let (py, px) = (p / cols * patch, p % cols * patch);
            for ch in 0..c {
                for y in py..(py + patch).min(h) {
                    for xx in px..(px + patch).min(w) {
                        x[(ch * h + y) * w + xx] = -0.25;
                    }
                }
            }
        }
        Tensor::from_shape_vec(shape.to_vec(), x).unwrap()
    };
    let mut inputs = vec![with_removed(0)];
    let mut k = 0;
    for step in 0..steps.min(order.len() - 2) {
        k += if step % 5 == 4 {
            2
        } else if step == 7 {
            3
        } else {
            1
        };
        inputs.push(with_removed(k.min(order.len())));
        if step % 9 == 8 {
            inputs.push(with_removed(k - 1));
            inputs.push(with_removed(k - 1));
            inputs.push(with_removed(k));
        }
    }
    inputs.push(inputs.last().unwrap().mapv(|v| v * 0.5));
    inputs.push(with_removed(k));
    inputs
}

/// Every pass of the sequence equals tract's whole pass; returns how many were cropped.
fn check(rel: &str, spec: Option<IncrementalSpec>, steps: usize) -> (usize, usize) {
    let (model, bytes, _) = load(rel);
    let (shape, output, classes) = (model.input_shape().to_vec(), model.info.output_name.clone(), model.info.classes);
    let whole = logit_plan_from_bytes(&bytes, &shape, &output, classes, 1).unwrap();
    let passes = incremental_logits_from_bytes(&bytes, &shape, &output, classes, spec).unwrap();
    let patch = load(rel).2;
    let inputs = sequence(&shape, patch, steps);
    for (i, x) in inputs.iter().enumerate() {
        let want = whole.run(std::slice::from_ref(x)).unwrap().swap_remove(0);
        let got = passes.run(x).unwrap();
        let scale = want.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
        let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-5 * scale, "{rel}: pass {i} differs by {worst:e} (largest logit {scale})");
    }
    (passes.cropped_passes(), inputs.len())
}

#[test]
fn cropped_passes_give_the_whole_passes_logits() {
    for (rel, steps, crops) in [
        ("models/efficientnet_lite0_int8_weightonly_dq.onnx", 14, true),
        ("models/efficientnet_lite0_int8_static_qdq.onnx", 6, true),
        ("models/mnist_vgg_mini_fp32_opset13.onnx", 30, true),
        ("models/mnist_resnet_mini_bn_fp32_opset13.onnx", 30, true),
        ("models/mnist_simple_cnn_fp32_opset13.onnx", 10, false),
        ("zoo/mobilenetv3_small_050.onnx", 20, true),
        ("zoo/shufflenet_v2_x0_5.onnx", 20, true),
        ("zoo/mobilevit_xxs.onnx", 6, true),
        ("zoo/test_efficientnet.onnx", 20, true),
        ("zoo/regnety_002.onnx", 4, false),
        ("zoo/test_convnext.onnx", 4, false),
    ] {
        let (model, _, patch) = load(rel);
        let spec = IncrementalSpec::of(&model.graph, patch);
        assert_eq!(spec.is_some(), crops, "{rel}: {spec:?}");
        let (cropped, passes) = check(rel, spec, steps);
        // The first pass, the check, the passes after a whole-image change and the unchanged ones
        // are not cropped.
        if crops {
            assert!(cropped * 3 >= passes * 2, "{rel}: {cropped} of {passes} passes cropped");
        } else {
            assert_eq!(cropped, 0, "{rel}");
        }
    }
}

/// Every section a model's local prefix allows, whether or not it pays (crops up to the whole map,
/// sections as short as one cut to the next: what the fuzz targets use), on every architecture
/// with a local prefix, the transformers' patch embeddings included: the passes still give the
/// whole pass's logits, so the reach and crop of every cut the search can make are right, not only
/// of the ones the cost model picks for the shared models.
#[test]
fn every_section_the_prefix_allows_gives_the_whole_passes_logits() {
    for (rel, steps) in [
        ("models/mnist_simple_cnn_fp32_opset13.onnx", 12),
        ("models/mnist_vgg_mini_fp32_opset13.onnx", 12),
        ("models/mnist_resnet_mini_bn_fp32_opset13.onnx", 12),
        ("zoo/mobilenetv3_small_050.onnx", 6),
        ("zoo/shufflenet_v2_x0_5.onnx", 6),
        ("zoo/mobilevit_xxs.onnx", 4),
        ("zoo/test_efficientnet.onnx", 6),
        ("zoo/regnety_002.onnx", 4),
        ("zoo/test_convnext.onnx", 4),
        ("zoo/test_vit.onnx", 4),
    ] {
        let (model, _, patch) = load(rel);
        let spec = IncrementalSpec::tuned(&model.graph, patch, Tuning::EVERY_SECTION);
        let paying = IncrementalSpec::of(&model.graph, patch).map_or(0, |s| s.sections.len());
        let sections = spec.as_ref().map_or(0, |s| s.sections.len());
        assert!(sections >= paying.max(1), "{rel}: {sections} sections, {paying} where they pay");
        let (cropped, passes) = check(rel, spec, steps);
        assert!(cropped * 2 >= passes, "{rel}: {cropped} of {passes} passes cropped");
    }
}

/// A spec whose reach is too short crops wrongly; the first cropped pass's check against the whole
/// pass catches it, and every pass is whole (and right) from then on.
#[test]
fn a_wrong_crop_is_caught_by_the_first_check() {
    let rel = "models/mnist_vgg_mini_fp32_opset13.onnx";
    let (model, _, patch) = load(rel);
    let mut spec = IncrementalSpec::of(&model.graph, patch).expect("a local prefix");
    for s in &mut spec.sections {
        for r in s.reach.iter_mut() {
            *r = Reach { stride: r.stride, before: 0, after: 0 };
        }
    }
    let (cropped, _) = check(rel, Some(spec), 12);
    assert_eq!(cropped, 1, "only the checked pass was cropped");
}

/// A spec that does not fit the model (from a confused or hostile worker) is refused by name.
#[test]
fn a_spec_that_does_not_fit_is_refused() {
    let rel = "models/mnist_vgg_mini_fp32_opset13.onnx";
    let (model, bytes, patch) = load(rel);
    let spec = IncrementalSpec::of(&model.graph, patch).expect("a local prefix");
    let (shape, output, classes) = (model.input_shape().to_vec(), model.info.output_name.clone(), model.info.classes);
    let mut wide = spec.clone();
    wide.sections[0].window = [1000, 1000];
    let mut no_stride = spec.clone();
    no_stride.sections[0].reach[1].stride = 0;
    let mut unchained = spec.clone();
    unchained.sections[0].in_shape[1] += 1;
    for bad in [wide, no_stride, unchained] {
        let e = incremental_logits_from_bytes(&bytes, &shape, &output, classes, Some(bad)).err().expect("refused");
        assert!(e.to_string().contains("cropping the model"), "{e}");
    }
}
