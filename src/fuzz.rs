//! The entry points of the fuzz targets (`fuzz/`, cargo fuzz), shared with their regression tests
//! (`tests/native/fuzz_regressions.rs`, which replay every input the fuzzers ever crashed on): each takes
//! untrusted bytes through one parser and what follows it, and must return (any error is fine)
//! without a panic, an abort, a hang or an allocation beyond [`crate::budget`]. (A panic inside
//! tract that the engine guard catches is an error here, as natively; its place is recorded when
//! `$RLRP_FUZZ_PANICS` names a file: `crate::forward`.) The ONNX target also runs the forward pass,
//! an explanation and pixel flipping's cropped passes, so a model that parses but breaks the engine,
//! a rule or the cropping is found too. (Not part of the method: RLRP.md says nothing of untrusted
//! input.)
use crate::preprocess::preprocess_bytes;
use crate::sidecar::Sidecar;

/// Largest model input the ONNX target runs the forward pass on (elements): the fuzzer looks for
/// wrong behaviour, not for slow big models, which the budget already bounds.
#[cfg(feature = "engine")]
const FUZZ_INPUT_ELEMENTS: u64 = 1 << 16;

/// An ONNX model: load, and if it loads and is small, run it, explain it with two methods and run
/// pixel flipping's passes on it.
#[cfg(feature = "engine")]
pub fn onnx(bytes: &[u8]) {
    onnx_cropped_passes(bytes);
}

/// [`onnx`], telling how many of pixel flipping's passes were cropped (the regression tests check
/// that real models take the cropping path, so that the fuzzers reach it).
#[cfg(feature = "engine")]
pub fn onnx_cropped_passes(bytes: &[u8]) -> usize {
    use crate::model::{LoadOptions, Model};
    use crate::relevance::{explain, ExplainOptions, Method};
    use crate::tensor::{ndarray, Tensor};
    // Any external data a file names is read from one fixed file of 4 kB (ranges, locations).
    let external = [0x3c_u8; 4096];
    let Ok(inlined) = crate::model::external::with_external_data(bytes.to_vec(), &|_| Some(&external[..])) else {
        return 0;
    };
    let bytes = &inlined[..];
    let Ok(model) = Model::from_onnx_bytes(bytes, &LoadOptions::default()) else { return 0 };
    let shape = model.input_shape().to_vec();
    if crate::budget::tensor_elements("input", &shape).map_or(true, |n| n > FUZZ_INPUT_ELEMENTS) {
        return 0;
    }
    let n: usize = shape.iter().product();
    let values = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
    let Ok(input) = Tensor::from_shape_vec(ndarray::IxDyn(&shape), values) else { return 0 };
    let Ok(acts) = model.forward(&input) else { return 0 };
    for method in [Method::Rlrp, Method::EpsilonPlusFlat] {
        if let Ok(e) = explain(&model, &acts, method, &ExplainOptions::default(), &mut |_, _| true) {
            assert!(e.relevance.iter().all(|v| v.is_finite()), "a non-finite value reached the map");
        }
    }
    flipping(&model, bytes, &input)
}

/// Pixel flipping's logits-only passes of a model that loaded (`IncrementalLogits`, as the page
/// and `rlrp eval` run them), with `rlrp eval`'s patches (4 pixels below 64, else 8): the model cut
/// into every section its local prefix allows, whether or not cropping would pay there
/// ([`Tuning::EVERY_SECTION`], so that any small model takes the path), at its own tensors' names
/// (`crate::model::part`), the crop plans, and passes where a patch is removed three times (each
/// cropped where the model allows it), then one where the whole input changes. The runner checks
/// its first cropped pass against a whole one; where they differ while the whole pass's logits are
/// finite, a section's reach or crop is wrong, and that is a crash here. Returns how many passes
/// were cropped.
#[cfg(feature = "engine")]
fn flipping(model: &crate::model::Model, bytes: &[u8], input: &crate::tensor::Tensor) -> usize {
    use crate::forward::incremental::spec::{IncrementalSpec, Tuning};
    let &[_, channels, h, w] = input.shape() else { return 0 };
    let patch = if h.min(w) < 64 { 4 } else { 8 };
    let spec = IncrementalSpec::tuned(&model.graph, patch, Tuning::EVERY_SECTION);
    let sections: Vec<String> = spec.iter().flat_map(|s| s.sections.iter().map(|s| s.to.clone())).collect();
    let Ok(passes) = model.flip_passes(bytes, spec) else { return 0 };
    let mut x = input.clone();
    let _ = passes.run(&x);
    for step in 0..3 {
        let (y0, x0) = (step * patch % h, 2 * step * patch % w);
        let Some(values) = x.as_slice_mut() else { return passes.cropped_passes() };
        for c in 0..channels {
            for y in y0..(y0 + patch).min(h) {
                let row = (c * h + y) * w;
                values[row + x0..row + (x0 + patch).min(w)].fill(0.0);
            }
        }
        let before = passes.cropped_passes();
        let logits = passes.run(&x);
        // the first cropped pass returns the whole pass's logits, having compared them
        if before == 0 && passes.cropped_passes() == 1 && passes.crops_differed() {
            let finite = logits.as_ref().is_ok_and(|l| l.iter().all(|v| v.is_finite()));
            assert!(!finite, "a cropped pass gave other logits than the whole pass (sections to {sections:?})");
        }
    }
    x.fill(0.5);
    let _ = passes.run(&x);
    passes.cropped_passes()
}

/// An image, preprocessed for a 3×224×224 ImageNet model.
pub fn image(bytes: &[u8]) {
    let sidecar = Sidecar::default_for_input_shape(&[1, 3, 224, 224]);
    let _ = preprocess_bytes(bytes, &sidecar);
}

/// A sidecar (model.json), and if it is valid, an image preprocessed with it.
pub fn sidecar(bytes: &[u8]) {
    if let Ok(s) = Sidecar::from_json(bytes) {
        let _ = s.input_shape();
        const PNG_8X8: &[u8] = include_bytes!("../tests/data/hostile/gray8.png");
        let _ = preprocess_bytes(PNG_8X8, &s);
    }
}

/// What a user types into the page's preprocessing form (`crate::app::preprocess_check`): the
/// bytes as text, one field per line (width, height, channels, colour order, layout, scale, mean,
/// std, resize, shorter side); the check and the sidecar it builds, and if it is valid, a
/// preprocessed 8 × 8 picture.
pub fn sidecar_form(bytes: &[u8]) {
    use crate::app::preprocess_check::{check, FormValues};
    let text = String::from_utf8_lossy(bytes);
    let mut f = text.split('\n').map(str::to_string);
    let mut next = || f.next().unwrap_or_default();
    let values = FormValues {
        width: next(),
        height: next(),
        channels: next(),
        color: next(),
        layout: next(),
        scale: next(),
        mean: next(),
        std: next(),
        resize: next(),
        shorter: next(),
    };
    let _ = check(&values);
    if let Ok(s) = values.to_sidecar(&Sidecar::default_for_input_shape(&[1, 3, 8, 8])) {
        const PNG_8X8: &[u8] = include_bytes!("../tests/data/hostile/gray8.png");
        let _ = preprocess_bytes(PNG_8X8, &s);
    }
}

/// A .npy array.
pub fn npy(bytes: &[u8]) {
    if let Ok(t) = crate::npy::read_npy(bytes) {
        let _ = crate::npy::write_npy(&t);
    }
}
