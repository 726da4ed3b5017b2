//! .npy reading/writing against numpy-written files, and heatmap rendering.
use rlrp::heatmap::{
    channel_sum, color, encode_png, overlay, percentile_abs, render, upscale_nearest, Colormap, ScaleMode,
};
use rlrp::npy::{read_header, read_npy, write_npy};
use rlrp::sidecar::Layout;
use rlrp::tensor::{ndarray, Tensor};
use rlrp::Error;
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    std::env::var_os("RLRP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

fn golden_npys() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for model in std::fs::read_dir(shared().join("golden")).unwrap() {
        let dir = model.unwrap().path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir).unwrap() {
                let p = f.unwrap().path();
                if p.extension().is_some_and(|e| e == "npy") {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn npy_reads_golden_inputs_and_rewrites_them_byte_for_byte() {
    let mut inputs = 0;
    let mut all = 0;
    for p in golden_npys() {
        let bytes = std::fs::read(&p).unwrap();
        let t = read_npy(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let name = p.file_name().unwrap().to_str().unwrap();
        if name.ends_with("__input.npy") {
            inputs += 1;
            let s = t.shape();
            assert!(s == [1, 1, 28, 28] || s == [1, 3, 224, 224], "{name}: {s:?}");
            assert!(t.iter().all(|v| v.is_finite()));
        }
        // numpy 2.4 wrote these float32 files: our writer reproduces them exactly
        assert_eq!(write_npy(&t), bytes, "{}", p.display());
        all += 1;
    }
    assert_eq!(inputs, 8);
    assert_eq!(all, 96);
}

#[test]
fn npy_reads_mnist_eval_uint8() {
    let bytes = std::fs::read(shared().join("images/mnist_eval_500_x.npy")).unwrap();
    let h = read_header(&bytes).unwrap();
    assert_eq!(h.descr, "|u1");
    assert_eq!(h.shape, vec![500, 28, 28]);
    assert!(!h.fortran_order);
    let t = read_npy(&bytes).unwrap();
    assert_eq!(t.shape(), &[500, 28, 28]);
    assert!(t.iter().all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0));
    assert_eq!(t.iter().cloned().fold(0f32, f32::max), 255.0);
    let y = read_npy(&std::fs::read(shared().join("images/mnist_eval_500_y.npy")).unwrap()).unwrap();
    assert_eq!(y.shape(), &[500]);
    assert!(y.iter().all(|&v| (0.0..=9.0).contains(&v)));
}

#[test]
fn npy_writes_what_numpy_writes() {
    // np.save(f, np.arange(6, dtype='<f4').reshape(2, 3)), numpy >= 1.23
    let t = Tensor::from_shape_vec(ndarray::IxDyn(&[2, 3]), (0..6).map(|v| v as f32).collect()).unwrap();
    let mut header = String::from("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    header.push_str(&" ".repeat(20)); // room for the first axis to grow to 21 digits
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut expected = b"\x93NUMPY\x01\x00".to_vec();
    expected.extend_from_slice(&(header.len() as u16).to_le_bytes());
    expected.extend_from_slice(header.as_bytes());
    for v in 0..6 {
        expected.extend_from_slice(&(v as f32).to_le_bytes());
    }
    assert_eq!(expected.len(), 128 + 24);
    assert_eq!(write_npy(&t), expected);
    // 1-d and 0-d shapes use Python's tuple repr
    let one = write_npy(&Tensor::zeros(ndarray::IxDyn(&[5])));
    assert!(String::from_utf8_lossy(&one).contains("'shape': (5,), }"));
    let zero = write_npy(&Tensor::zeros(ndarray::IxDyn(&[])));
    assert!(
        String::from_utf8_lossy(&zero).contains("'shape': (), }\n")
            || String::from_utf8_lossy(&zero).contains("'shape': (), } ")
    );
    assert_eq!(read_npy(&zero).unwrap().shape(), &[] as &[usize]);
    // non-standard layout is written in logical order
    let tt = t.t().to_owned().into_dyn();
    let back = read_npy(&write_npy(&tt)).unwrap();
    assert_eq!(back, tt);
}

#[test]
fn npy_bad_input_is_an_error() {
    for bad in
        [&b""[..], b"\x93NUMPY", b"\x93NUMPY\x09\x00", b"PK\x03\x04 a zip file (npz)", b"\x93NUMPY\x01\x00\xff\xff{"]
    {
        assert!(matches!(read_npy(bad), Err(Error::Npy(_))), "{bad:?}");
    }
    // truncated golden file
    let bytes = std::fs::read(shared().join("golden/mnist_simple_cnn/mnist_test_00000_label7__input.npy")).unwrap();
    let e = read_npy(&bytes[..bytes.len() - 1]).unwrap_err().to_string();
    assert!(e.contains("truncated"), "{e}");
}

#[test]
fn bwr_colours() {
    let clip = 2.0;
    let v = [0.0, 2.0, -2.0, 1.0, -1.0, 5.0, -5.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
    let img = render(1, v.len(), &v, Colormap::Bwr, ScaleMode::Signed, clip);
    let px: Vec<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    assert_eq!(px[0], [255, 255, 255, 255]); // 0 -> white
    assert_eq!(px[1], [255, 0, 0, 255]); // +clip -> red
    assert_eq!(px[2], [0, 0, 255, 255]); // -clip -> blue
    assert_eq!(px[3], [255, 128, 128, 255]); // half way (127.5 rounds to 128)
    assert_eq!(px[4], [128, 128, 255, 255]);
    assert_eq!(px[5], px[1]); // saturates
    assert_eq!(px[6], px[2]);
    assert_eq!(px[7], px[1]);
    assert_eq!(px[8], px[2]);
    assert_eq!(px[9], px[0]); // NaN -> colour of zero
                              // symmetric: colour(-t) is colour(t) with red and blue swapped
    for i in 0..=100 {
        let t = i as f32 / 100.0;
        let [r, g, b] = color(Colormap::Bwr, t);
        assert_eq!(color(Colormap::Bwr, -t), [b, g, r]);
        assert_eq!(r, 255);
    }
    // monotone towards red
    let mut last = 255;
    for i in 0..=100 {
        let g = color(Colormap::Bwr, i as f32 / 100.0)[1];
        assert!(g <= last);
        last = g;
    }
}

#[test]
fn degenerate_clips_and_modes() {
    let v = [1.0, -3.0, 0.5, f32::NAN];
    for clip in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let img = render(2, 2, &v, Colormap::Bwr, ScaleMode::Signed, clip);
        assert!(img.pixels().all(|p| p.0 == [255, 255, 255, 255]), "clip {clip}");
        let img = render(2, 2, &v, Colormap::Heat, ScaleMode::Absolute, clip);
        assert!(img.pixels().all(|p| p.0 == [0, 0, 0, 255]), "clip {clip}");
    }
    // Absolute: negative shown like positive; Positive: negative shown as zero
    let a = render(1, 2, &[2.0, -2.0], Colormap::Bwr, ScaleMode::Absolute, 2.0);
    assert_eq!(a.get_pixel(1, 0).0, [255, 0, 0, 255]);
    let p = render(1, 2, &[2.0, -2.0], Colormap::Bwr, ScaleMode::Positive, 2.0);
    assert_eq!(p.get_pixel(1, 0).0, [255, 255, 255, 255]);
    // Heat: black, red, yellow, white
    assert_eq!(color(Colormap::Heat, 0.0), [0, 0, 0]);
    assert_eq!(color(Colormap::Heat, 1.0 / 3.0), [255, 0, 0]);
    assert_eq!(color(Colormap::Heat, 2.0 / 3.0), [255, 255, 0]);
    assert_eq!(color(Colormap::Heat, 1.0), [255, 255, 255]);
    assert_eq!(color(Colormap::Heat, -1.0), [0, 0, 0]);
    // too few values: missing pixels get the colour of zero; never panics
    let img = render(3, 3, &[1.0], Colormap::Bwr, ScaleMode::Signed, 1.0);
    assert_eq!(img.get_pixel(0, 0).0, [255, 0, 0, 255]);
    assert_eq!(img.get_pixel(2, 2).0, [255, 255, 255, 255]);
    assert_eq!(render(0, 0, &[], Colormap::Bwr, ScaleMode::Signed, 1.0).dimensions(), (0, 0));
}

#[test]
fn percentiles() {
    let v: Vec<f32> = (1..=100).map(|i| if i % 2 == 0 { i as f32 } else { -(i as f32) }).collect();
    // numpy.percentile(np.arange(1, 101), p) = 1 + 0.99 p
    assert_eq!(percentile_abs(&v, 100.0), 100.0);
    assert_eq!(percentile_abs(&v, 0.0), 1.0);
    assert!((percentile_abs(&v, 50.0) - 50.5).abs() < 1e-5);
    assert!((percentile_abs(&v, 99.5) - 99.505).abs() < 1e-4);
    assert_eq!(percentile_abs(&[0.0; 10], 99.5), 0.0);
    assert_eq!(percentile_abs(&[], 99.5), 0.0);
    assert_eq!(percentile_abs(&[f32::NAN, f32::INFINITY], 99.5), 0.0);
    assert_eq!(percentile_abs(&[f32::NAN, -4.0, f32::NEG_INFINITY, 2.0], 100.0), 4.0);
    assert_eq!(percentile_abs(&[3.0], 42.0), 3.0);
    assert_eq!(percentile_abs(&v, 250.0), 100.0);
    assert_eq!(percentile_abs(&v, f64::NAN), 100.0);
}

#[test]
fn all_zero_and_nan_relevance_give_finite_pictures() {
    let zero = Tensor::zeros(ndarray::IxDyn(&[1, 3, 4, 5]));
    let (h, w, v) = channel_sum(&zero, Layout::Nchw);
    assert_eq!((h, w), (4, 5));
    let clip = percentile_abs(&v, 99.5);
    assert_eq!(clip, 0.0);
    let img = render(h, w, &v, Colormap::Bwr, ScaleMode::Signed, clip);
    assert!(img.pixels().all(|p| p.0 == [255, 255, 255, 255]));

    let mut nan =
        Tensor::from_shape_vec(ndarray::IxDyn(&[1, 3, 4, 5]), (0..60).map(|i| i as f32 - 30.0).collect()).unwrap();
    nan[[0, 1, 2, 3]] = f32::NAN;
    nan[[0, 0, 0, 0]] = f32::INFINITY;
    let (h, w, v) = channel_sum(&nan, Layout::Nchw);
    assert!(v[2 * 5 + 3].is_nan());
    let clip = percentile_abs(&v, 99.5);
    assert!(clip.is_finite() && clip > 0.0);
    let img = render(h, w, &v, Colormap::Bwr, ScaleMode::Signed, clip);
    assert_eq!(img.get_pixel(3, 2).0, [255, 255, 255, 255]);
    let png = encode_png(&img).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let back = image::load_from_memory(&png).unwrap().to_rgba8();
    assert_eq!(back, img);
}

#[test]
fn overlay_blends_within_bounds() {
    let base = image::RgbImage::from_fn(6, 4, |x, y| image::Rgb([(x * 40) as u8, (y * 60) as u8, 100]));
    let heat = render(4, 6, &[1.0; 24], Colormap::Bwr, ScaleMode::Signed, 1.0); // all red
    assert_eq!(overlay(&base, &heat, 0.0), base);
    let full = overlay(&base, &heat, 1.0);
    assert!(full.pixels().all(|p| p.0 == [255, 0, 0]));
    assert_eq!(overlay(&base, &heat, 7.0), full); // opacity clamped
    assert_eq!(overlay(&base, &heat, f32::NAN), base);
    let half = overlay(&base, &heat, 0.5);
    for (x, y, p) in half.enumerate_pixels() {
        let b = base.get_pixel(x, y);
        for (k, target) in [255u8, 0, 0].into_iter().enumerate() {
            let lo = b[k].min(target);
            let hi = b[k].max(target);
            assert!(p[k] >= lo && p[k] <= hi);
            let expect = (b[k] as f32 + (target as f32 - b[k] as f32) * 0.5).round() as u8;
            assert_eq!(p[k], expect);
        }
    }
    // heat of another size is sampled to the base size
    let small = render(2, 3, &[1.0, -1.0, 0.0, 1.0, -1.0, 0.0], Colormap::Bwr, ScaleMode::Signed, 1.0);
    let o = overlay(&base, &small, 1.0);
    assert_eq!(o.dimensions(), (6, 4));
    assert_eq!(o.get_pixel(0, 0).0, [255, 0, 0]);
    assert_eq!(o.get_pixel(2, 0).0, [0, 0, 255]);
    assert_eq!(o.get_pixel(5, 3).0, [255, 255, 255]);
    let empty = image::RgbaImage::new(0, 0);
    assert_eq!(overlay(&base, &empty, 1.0), base);
    // upscale + encode
    let up = upscale_nearest(&base, 3);
    assert_eq!(up.dimensions(), (18, 12));
    assert_eq!(up.get_pixel(17, 11), base.get_pixel(5, 3));
    assert!(encode_png(&up).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn channel_sum_of_golden_relevance() {
    let p = shared().join("golden/efficientnet_lite0/chelsea__epsilon_plus_flat.npy");
    let r = read_npy(&std::fs::read(p).unwrap()).unwrap();
    let (h, w, v) = channel_sum(&r, Layout::Nchw);
    assert_eq!((h, w, v.len()), (224, 224, 224 * 224));
    let total: f64 = v.iter().map(|&x| x as f64).sum();
    let direct: f64 = r.iter().map(|&x| x as f64).sum();
    assert!((total - direct).abs() <= 1e-4 * direct.abs().max(1.0));
    // NHWC view of the same data gives the same map
    let nhwc = r.clone().permuted_axes(vec![0, 2, 3, 1]).as_standard_layout().to_owned();
    let (_, _, v2) = channel_sum(&nhwc, Layout::Nhwc);
    assert_eq!(v, v2);
    let clip = percentile_abs(&v, 99.5);
    assert!(clip > 0.0);
    let img = render(h, w, &v, Colormap::Bwr, ScaleMode::Signed, clip);
    assert_eq!(img.dimensions(), (224, 224));
}
