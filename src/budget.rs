//! Budgets: the most memory and work any file may ask of us, in one place. Each limit is checked on
//! what a file *declares* (shapes, sizes, counts, chunk lengths) before anything is allocated, and a
//! refusal names the limit ("the model asks for 1.28 TB of activations; the limit is 8 GB"), so a
//! hostile or absurd file gets a clear message instead of an abort, a hang or an out-of-memory.
//! (Not part of the method: RLRP.md says nothing of resources.)
use crate::error::{Error, Result};

/// ONNX nodes in one graph. The largest torchvision classifier exported to ONNX, Swin-T, has 6,261.
pub const MAX_NODES: usize = 20_000;

/// Elements of any one tensor: a model's value, its input, a .npy array (2^28 floats = 1 GiB).
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 28;

/// Bytes of every value of one forward pass together, from the shapes the model declares (ViT-B/16
/// needs 0.9 GB). wasm32 has a 4 GiB address space, shared with the weights and the relevance pass.
#[cfg(not(target_arch = "wasm32"))]
pub const MAX_ACTIVATION_BYTES: u64 = 8 << 30;
#[cfg(target_arch = "wasm32")]
pub const MAX_ACTIVATION_BYTES: u64 = 1536 << 20;

/// tract's optimiser, in steps of its costliest passes (about 2.5 ns each natively: the limit is
/// ~5 s, 25× what DenseNet-121 needs). Two of them are superlinear (measured with tract 0.23): the
/// split merging compares every pair of readers of a tensor against the list of kept outputs (a
/// chain of 5,000 ReLUs sharing one zero constant: 6·10^10 steps, minutes), and the axis changes
/// re-patch the whole graph once per convolution (1,000 chained convolutions: 13 s). See
/// [`optimiser_work`].
pub const MAX_OPTIMISER_WORK: u64 = 2_000_000_000;
/// Seconds per step of [`MAX_OPTIMISER_WORK`] natively (measured), to tell people how long.
const SECONDS_PER_OPTIMISER_STEP: f64 = 2.5e-9;
/// What one convolution's axis change costs per other convolution, in the steps above (measured:
/// 250/500/1,000 chained convolutions take 0.8/3.1/13 s).
pub const CONV_AXIS_STEPS: u64 = 5_000;

/// Padding of one side of one axis (a `pads` attribute or a Pad's pads), in elements.
pub const MAX_PAD: i64 = 1 << 16;

/// Image width or height, read from the header before any pixel is decoded.
pub const MAX_IMAGE_SIDE: u32 = 12_000;
/// Image area in pixels (100 megapixels), checked before decoding.
pub const MAX_IMAGE_PIXELS: u64 = 100_000_000;
/// Memory an image decoder may allocate, ancillary chunks (a PNG's compressed ICC profile, text)
/// included: 16-bit RGBA of the largest accepted image, plus slack for the decoder's own buffers.
pub const MAX_IMAGE_DECODE_BYTES: u64 = MAX_IMAGE_PIXELS * 8 + (64 << 20);
/// Memory the image header (and its metadata chunks) may take before the size is known.
pub const MAX_IMAGE_HEADER_BYTES: u64 = 64 << 20;

/// A sidecar's model input, per side and in area (pixels).
pub const MAX_INPUT_SIDE: usize = 16_384;
pub const MAX_INPUT_PIXELS: u64 = 16 << 20;

/// Files read from disk: models (the biggest classifiers are ~0.5 GB), and text (sidecars, labels).
pub const MAX_FILE_BYTES: u64 = 2 << 30;
pub const MAX_TEXT_BYTES: u64 = 16 << 20;

/// `n` bytes for people: "1.28 TB", "512 MB", "17 bytes" (decimal units, as file managers show).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    let digits = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.digits$} {}", UNITS[unit])
}

/// The element count of `shape`, or an error naming `what` if it overflows or exceeds
/// [`MAX_TENSOR_ELEMENTS`].
pub fn tensor_elements(what: &str, shape: &[usize]) -> std::result::Result<u64, String> {
    let n = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    match n {
        Some(n) if n <= MAX_TENSOR_ELEMENTS => Ok(n),
        Some(n) => Err(format!(
            "{what} of shape {shape:?} has {n} elements ({}); the limit is {MAX_TENSOR_ELEMENTS} ({})",
            human_bytes(n.saturating_mul(4)),
            human_bytes(MAX_TENSOR_ELEMENTS * 4)
        )),
        None => Err(format!("{what} of shape {shape:?} has more elements than can be counted")),
    }
}

/// Checks the values of one forward pass (float32, by name) against [`MAX_TENSOR_ELEMENTS`] and
/// [`MAX_ACTIVATION_BYTES`] together.
pub fn check_activations<'a>(values: impl IntoIterator<Item = (&'a str, &'a [usize])>) -> Result<()> {
    let mut total = 0u64;
    let mut largest: Option<(&str, u64)> = None;
    for (name, shape) in values {
        let n = tensor_elements(&format!("tensor '{name}'"), shape).map_err(budget_error)?;
        total = total.saturating_add(n * 4);
        if largest.is_none_or(|(_, m)| n > m) {
            largest = Some((name, n));
        }
    }
    if total > MAX_ACTIVATION_BYTES {
        let (name, n) = largest.unwrap_or(("?", 0));
        return Err(budget_error(format!(
            "the model asks for {} of activations (the largest, '{name}', is {}); the limit is {}",
            human_bytes(total),
            human_bytes(n * 4),
            human_bytes(MAX_ACTIVATION_BYTES)
        )));
    }
    Ok(())
}

/// The work tract's optimiser would do, in the steps of [`MAX_OPTIMISER_WORK`]: for every tensor,
/// the pairs of its readers times the kept outputs; plus [`CONV_AXIS_STEPS`] per pair of
/// convolutions.
pub fn optimiser_work(readers_per_tensor: impl IntoIterator<Item = usize>, outputs: usize, convolutions: usize) -> u64 {
    let pairs: u64 = readers_per_tensor.into_iter().map(|r| (r as u64) * (r as u64).saturating_sub(1) / 2).sum();
    let convs = convolutions as u64;
    pairs.saturating_mul(outputs as u64).saturating_add(CONV_AXIS_STEPS.saturating_mul(convs * convs))
}

/// Refuses a model whose [`optimiser_work`] exceeds [`MAX_OPTIMISER_WORK`], saying what drives it.
pub fn check_optimiser_work(work: u64, nodes: usize, max_readers: usize, convolutions: usize) -> Result<()> {
    if work > MAX_OPTIMISER_WORK {
        let secs = |w: u64| w as f64 * SECONDS_PER_OPTIMISER_STEP;
        return Err(budget_error(format!(
            "the model would keep the engine's optimiser busy for about {:.0} s ({nodes} operators, \
             {convolutions} convolutions, a tensor read by {max_readers} of them); the limit is {:.0} s",
            secs(work),
            secs(MAX_OPTIMISER_WORK)
        )));
    }
    Ok(())
}

/// An over-budget model.
pub fn budget_error(reason: String) -> Error {
    Error::Budget(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(17), "17 bytes");
        assert_eq!(human_bytes(1_280_000_000_000), "1.28 TB");
        assert_eq!(human_bytes(512_000_000), "512 MB");
        assert_eq!(human_bytes(u64::MAX), "18447 PB");
    }

    #[test]
    fn element_counts_never_overflow() {
        assert_eq!(tensor_elements("x", &[1, 3, 224, 224]), Ok(150_528));
        assert_eq!(tensor_elements("x", &[]), Ok(1));
        assert!(tensor_elements("x", &[1 << 40, 1 << 40]).unwrap_err().contains("more elements than can be counted"));
        let e = tensor_elements("input 'x'", &[1, 1, 1 << 20, 1 << 20]).unwrap_err();
        assert!(e.contains("input 'x'") && e.contains("4.40 TB") && e.contains("the limit is"), "{e}");
    }

    #[test]
    fn activations_are_summed_and_the_largest_named() {
        let a = [1usize, 16, 4096, 4096];
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        let e = check_activations(names.iter().map(|n| (*n, &a[..]))).unwrap_err().to_string();
        assert!(e.contains("9.66 GB of activations") && e.contains("'a', is 1.07 GB"), "{e}");
        assert!(check_activations(names[..7].iter().map(|n| (*n, &a[..]))).is_ok());
        assert!(check_activations([("x", &[1usize, 3, 224, 224][..])]).is_ok());
    }

    #[test]
    fn optimiser_work_grows_with_shared_readers_and_convolutions() {
        // A chain of 5,000 ReLUs that share one zero constant, every ReLU kept.
        let relus = optimiser_work([5000].into_iter().chain(std::iter::repeat_n(1, 5000)), 5000, 0);
        assert!(check_optimiser_work(relus, 5000, 5000, 0).is_err());
        // EfficientNet-sized: 80 convolutions, a few tensors read twice.
        let small = optimiser_work(std::iter::repeat_n(2, 50), 300, 80);
        assert!(check_optimiser_work(small, 300, 2, 80).is_ok());
        assert!(check_optimiser_work(optimiser_work([], 0, 1000), 1000, 1, 1000).is_err());
    }
}
