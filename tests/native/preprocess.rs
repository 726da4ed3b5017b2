//! Preprocessing against the golden inputs in ../shared/golden, image decoding errors, and the
//! sidecars in models/.
use rlrp::npy::read_npy;
use rlrp::preprocess::{decode_image, preprocess, preprocess_bytes, resize_rgb, Preprocessed};
use rlrp::sidecar::{find_sidecar, ColorOrder, Filter, Layout, Sidecar};
use rlrp::tensor::Tensor;
use rlrp::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `../shared` next to the crate (override with RLRP_SHARED_DIR).
fn shared() -> PathBuf {
    std::env::var_os("RLRP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn read(p: impl AsRef<Path>) -> Vec<u8> {
    let p = p.as_ref();
    std::fs::read(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn sidecar(stem: &str) -> Sidecar {
    Sidecar::load(&models_dir().join(format!("{stem}.json"))).unwrap()
}

fn lite0() -> Sidecar {
    sidecar("efficientnet_lite0_fp32_opset13")
}

fn mnist() -> Sidecar {
    sidecar("mnist_simple_cnn_fp32_opset13")
}

/// (max, mean) absolute difference.
fn diff(a: &Tensor, b: &Tensor) -> (f64, f64) {
    assert_eq!(a.shape(), b.shape());
    let mut max = 0f64;
    let mut sum = 0f64;
    for (x, y) in a.iter().zip(b.iter()) {
        let d = (*x as f64 - *y as f64).abs();
        max = max.max(d);
        sum += d;
    }
    (max, sum / a.len() as f64)
}

#[test]
fn mnist_inputs_are_exact() {
    for model in ["mnist_simple_cnn", "mnist_vgg_mini", "mnist_resnet_mini"] {
        for img in ["mnist_test_00000_label7", "mnist_test_00001_label2"] {
            let golden = read_npy(&read(shared().join(format!("golden/{model}/{img}__input.npy")))).unwrap();
            let pre = preprocess_bytes(&read(shared().join(format!("images/{img}.png"))), &mnist()).unwrap();
            assert_eq!(pre.tensor.shape(), &[1, 1, 28, 28]);
            assert_eq!(pre.tensor, golden, "{model}/{img}");
            assert_eq!(pre.display.dimensions(), (28, 28));
        }
    }
    // x = p / 255 in f32 for every pixel level
    let sc = mnist();
    for p in 0..=255u8 {
        let img = image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(28, 28, image::Luma([p])));
        let t = preprocess(&img, &sc).unwrap().tensor;
        assert_eq!(t[[0, 0, 3, 4]], p as f32 / 255.0);
    }
}

fn lite0_case(name: &str) -> (Preprocessed, Tensor) {
    let golden = read_npy(&read(shared().join(format!("golden/efficientnet_lite0/{name}__input.npy")))).unwrap();
    let pre = preprocess_bytes(&read(shared().join(format!("images/{name}.png"))), &lite0()).unwrap();
    (pre, golden)
}

/// Measured: the Pillow re-implementation reproduces both golden inputs bit for bit (max and mean
/// abs diff 0). For comparison, `image`'s `resize(.., CatmullRom)` (also a = -0.5, separable,
/// antialiased, but f32 arithmetic without Pillow's fixed-point rounding) differs from Pillow's
/// bicubic by max 1 / mean 0.198 pixel steps (chelsea) and max 5 / mean 0.178 (coffee) in the
/// 224x224 crop; see `catmull_rom_comparison`.
#[test]
fn lite0_inputs_match_golden() {
    for name in ["chelsea", "coffee"] {
        let (pre, golden) = lite0_case(name);
        assert_eq!(pre.tensor.shape(), &[1, 3, 224, 224]);
        assert_eq!(pre.display.dimensions(), (224, 224));
        let (max, mean) = diff(&pre.tensor, &golden);
        let step = 1.0 / 128.0;
        eprintln!(
            "{name}: max abs diff {:.4} steps, mean abs diff {:.6} steps (1 step = 1/128)",
            max / step,
            mean / step
        );
        assert!(max <= 1.0 * step + 1e-6, "{name}: max {max}");
        assert!(mean <= 0.01 * step, "{name}: mean {mean}");
        // the display picture is the cropped image: x = (p - 127) / 128
        let px = pre.display.get_pixel(100, 50);
        for c in 0..3 {
            assert_eq!(pre.tensor[[0, c, 50, 100]], (px[c] as f32 - 127.0) / 128.0);
        }
    }
}

/// How far `image`'s CatmullRom resize would be from Pillow's bicubic (informational; asserts
/// only a loose bound so that the number is printed).
#[test]
fn catmull_rom_comparison() {
    for name in ["chelsea", "coffee"] {
        let img = decode_image(&read(shared().join(format!("images/{name}.png")))).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        let m = w.min(h) as f64;
        let (nw, nh) = ((w as f64 * 256.0 / m).round() as u32, (h as f64 * 256.0 / m).round() as u32);
        let cr = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::CatmullRom);
        let pil = resize_rgb(&img, nw, nh, Filter::Bicubic);
        let (l, t) = ((nw - 224) / 2, (nh - 224) / 2);
        let (mut max, mut sum, mut n) = (0i32, 0i64, 0i64);
        for y in t..t + 224 {
            for x in l..l + 224 {
                for c in 0..3 {
                    let d = (cr.get_pixel(x, y)[c] as i32 - pil.get_pixel(x, y)[c] as i32).abs();
                    max = max.max(d);
                    sum += d as i64;
                    n += 1;
                }
            }
        }
        eprintln!(
            "{name}: image CatmullRom vs Pillow bicubic: max {max} steps, mean {:.4} steps",
            sum as f64 / n as f64
        );
        assert!(max < 64);
    }
}

#[test]
fn every_model_has_a_valid_sidecar() {
    let mut n = 0;
    for e in std::fs::read_dir(shared().join("models")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "onnx") {
            let md = models_dir();
            let sc =
                find_sidecar(&p, &[md.as_path()]).unwrap().unwrap_or_else(|| panic!("no sidecar for {}", p.display()));
            let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
            if stem.starts_with("mnist") {
                assert_eq!(sc.input_shape(), vec![1, 1, 28, 28]);
                assert_eq!(sc.input_range(), (0.0, 1.0));
                assert_eq!(sc.label(7), Some("7"));
            } else {
                assert_eq!(sc.input_shape(), vec![1, 3, 224, 224]);
                assert_eq!(sc.input_range(), (-0.9921875, 1.0));
                assert_eq!(sc.labels.as_ref().unwrap().len(), 1000);
                assert_eq!(sc.label(281), Some("tabby"));
                assert_eq!(sc.label(282), Some("tiger cat"));
                assert_eq!(sc.label(967), Some("espresso"));
                assert_eq!(sc.label(1000), None);
            }
            // the explicit input_range equals the one computed from mean/std
            let mut computed = sc.clone();
            computed.input_range = None;
            assert_eq!(computed.input_range(), sc.input_range(), "{stem}");
            // JSON round trip
            assert_eq!(Sidecar::from_json(sc.to_json().as_bytes()).unwrap(), sc);
            n += 1;
        }
    }
    assert_eq!(n, 10);
    // no sidecar anywhere: Ok(None)
    assert!(find_sidecar(Path::new("/nonexistent/dir/foo.onnx"), &[]).unwrap().is_none());
    // next to the model it is found without extra dirs
    let tmp = std::env::temp_dir().join(format!("rlrp_sidecar_test_{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(
        tmp.join("m.json"),
        br#"{"input": {"width": 8, "height": 8, "channels": 3}, "labels_file": "l.txt"}"#,
    )
    .unwrap();
    std::fs::write(tmp.join("l.txt"), b"cat\ndog\n").unwrap();
    let sc = Sidecar::load_for_model(&tmp.join("m.onnx")).unwrap().unwrap();
    assert_eq!(sc.label(1), Some("dog"));
    // a malformed sidecar is an error, not "no sidecar"
    std::fs::write(tmp.join("bad.json"), b"{").unwrap();
    assert!(matches!(Sidecar::load_for_model(&tmp.join("bad.onnx")), Err(Error::Sidecar(_))));
    // a missing labels file is an error naming it
    std::fs::write(
        tmp.join("nolab.json"),
        br#"{"input": {"width": 8, "height": 8, "channels": 1}, "labels_file": "missing.txt"}"#,
    )
    .unwrap();
    let e = Sidecar::load_for_model(&tmp.join("nolab.onnx")).unwrap_err().to_string();
    assert!(e.contains("missing.txt"), "{e}");
    std::fs::remove_dir_all(&tmp).ok();
}

fn assert_image_err(r: Result<image::DynamicImage, Error>, needle: &str) {
    match r {
        Err(Error::Image(m)) => assert!(m.contains(needle), "message '{m}' should contain '{needle}'"),
        Err(e) => panic!("expected Error::Image, got {e:?}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn decode_rejects_bad_input() {
    assert_image_err(decode_image(b""), "empty");
    assert_image_err(decode_image(b"hello, this is just some text\n"), "not a supported image");
    assert_image_err(decode_image(b"hello, this is just some text\n"), "text");
    let onnx = read(shared().join("models/mnist_simple_cnn_fp32_opset13.onnx"));
    assert_image_err(decode_image(&onnx[..256]), "not a supported image");
    let npy = read(shared().join("images/mnist_eval_500_y.npy"));
    assert_image_err(decode_image(&npy), "npy");
    let png = read(shared().join("images/chelsea.png"));
    for cut in [8, 20, 40, png.len() / 2, png.len() - 20] {
        let r = decode_image(&png[..cut]);
        assert!(matches!(r, Err(Error::Image(_))), "cut at {cut}: {r:?}");
    }
    // corrupt data (valid header)
    let mut bad = png.clone();
    for b in bad[200..2000].iter_mut() {
        *b ^= 0x5a;
    }
    assert!(matches!(decode_image(&bad), Err(Error::Image(_))));
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// A PNG whose IHDR declares `w` x `h` followed by a tiny (wrong) IDAT.
fn png_with_size(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |ty: &[u8], data: &[u8]| {
        v.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut td = ty.to_vec();
        td.extend_from_slice(data);
        v.extend_from_slice(&td);
        v.extend_from_slice(&crc32(&td).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    v
}

#[test]
fn decode_rejects_huge_and_zero_sizes_quickly() {
    let t = Instant::now();
    assert_image_err(decode_image(&png_with_size(100_000, 100_000)), "too large");
    assert_image_err(decode_image(&png_with_size(12_001, 10)), "too large");
    assert_image_err(decode_image(&png_with_size(11_000, 11_000)), "megapixels");
    // a BMP header declaring 50000 x 50000
    let mut bmp = vec![0u8; 54];
    bmp[0..2].copy_from_slice(b"BM");
    bmp[2..6].copy_from_slice(&54u32.to_le_bytes());
    bmp[10..14].copy_from_slice(&54u32.to_le_bytes());
    bmp[14..18].copy_from_slice(&40u32.to_le_bytes());
    bmp[18..22].copy_from_slice(&50_000i32.to_le_bytes());
    bmp[22..26].copy_from_slice(&50_000i32.to_le_bytes());
    bmp[26..28].copy_from_slice(&1u16.to_le_bytes());
    bmp[28..30].copy_from_slice(&24u16.to_le_bytes());
    let r = decode_image(&bmp);
    assert!(matches!(r, Err(Error::Image(_))), "{r:?}");
    assert!(t.elapsed().as_secs_f64() < 2.0, "took {:?}", t.elapsed());
    // a zero-sized PNG is rejected (by our check or by the PNG decoder)
    assert!(matches!(decode_image(&png_with_size(0, 10)), Err(Error::Image(_))));
}

fn encode(img: &image::DynamicImage, fmt: image::ImageFormat) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, fmt).unwrap();
    buf.into_inner()
}

fn test_rgb(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 13 % 256) as u8, ((x + y) * 3 % 256) as u8])
    })
}

#[test]
fn decode_all_supported_formats() {
    let rgb = image::DynamicImage::ImageRgb8(test_rgb(40, 30));
    for fmt in [
        image::ImageFormat::Png,
        image::ImageFormat::Jpeg,
        image::ImageFormat::Gif,
        image::ImageFormat::Bmp,
        image::ImageFormat::WebP,
    ] {
        let src =
            if fmt == image::ImageFormat::WebP { image::DynamicImage::ImageRgba8(rgb.to_rgba8()) } else { rgb.clone() };
        let bytes = encode(&src, fmt);
        let img = decode_image(&bytes).unwrap_or_else(|e| panic!("{fmt:?}: {e}"));
        assert_eq!((img.width(), img.height()), (40, 30), "{fmt:?}");
        if matches!(fmt, image::ImageFormat::Png | image::ImageFormat::Bmp | image::ImageFormat::WebP) {
            assert_eq!(img.to_rgb8(), rgb.to_rgb8(), "{fmt:?} is lossless");
        }
    }
}

#[test]
fn rgb_image_into_gray_model_uses_pillow_luma() {
    let rgb = test_rgb(28, 28);
    let pre = preprocess(&image::DynamicImage::ImageRgb8(rgb.clone()), &mnist()).unwrap();
    for (x, y) in [(0, 0), (5, 9), (27, 27), (13, 2)] {
        let p = rgb.get_pixel(x, y);
        let l = ((p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000) >> 16) as f32;
        assert_eq!(pre.tensor[[0, 0, y as usize, x as usize]], l / 255.0);
        assert_eq!(pre.display.get_pixel(x, y).0, [l as u8; 3]);
    }
    // pure colours
    for (c, l) in [([255, 0, 0], 76u8), ([0, 255, 0], 150), ([0, 0, 255], 29), ([255, 255, 255], 255)] {
        let img = image::RgbImage::from_pixel(28, 28, image::Rgb(c));
        let pre = preprocess(&image::DynamicImage::ImageRgb8(img), &mnist()).unwrap();
        assert_eq!(pre.display.get_pixel(0, 0).0[0], l, "{c:?}");
    }
}

#[test]
fn rgba_alpha_is_discarded() {
    // RGBA PNG with varying alpha (including fully transparent): the colour channels are used as
    // they are, like Pillow's convert("RGB")
    let rgba = image::RgbaImage::from_fn(224, 224, |x, y| image::Rgba([x as u8, y as u8, 200, (x + y) as u8]));
    let bytes = encode(&image::DynamicImage::ImageRgba8(rgba.clone()), image::ImageFormat::Png);
    let mut sc = lite0();
    sc.input.resize = rlrp::sidecar::Resize::None;
    let pre = preprocess_bytes(&bytes, &sc).unwrap();
    for (x, y) in [(0u32, 0u32), (10, 200), (223, 223)] {
        let p = rgba.get_pixel(x, y);
        assert_eq!(pre.display.get_pixel(x, y).0, [p[0], p[1], p[2]]);
        assert_eq!(pre.tensor[[0, 2, y as usize, x as usize]], (200.0 - 127.0) / 128.0);
    }
    // gray + alpha into the gray model: alpha dropped too
    let la = image::GrayAlphaImage::from_fn(28, 28, |x, _| image::LumaA([x as u8 * 9, 0]));
    let pre = preprocess(&image::DynamicImage::ImageLumaA8(la), &mnist()).unwrap();
    assert_eq!(pre.tensor[[0, 0, 0, 3]], 27.0 / 255.0);
}

#[test]
fn bgr_nhwc_and_errors() {
    let img = image::DynamicImage::ImageRgb8(test_rgb(8, 6));
    let mut sc = Sidecar::default_for_input_shape(&[1, 6, 8, 3]);
    assert_eq!(sc.input.layout, Layout::Nhwc);
    sc.input.color = Some(ColorOrder::Bgr);
    sc.input.scale = 1.0;
    sc.input.mean = Some(vec![1.0, 2.0, 3.0]);
    sc.input.std = Some(vec![2.0, 4.0, 8.0]);
    let pre = preprocess(&img, &sc).unwrap();
    assert_eq!(pre.tensor.shape(), &[1, 6, 8, 3]);
    let p = img.to_rgb8().get_pixel(5, 4).0;
    assert_eq!(pre.tensor[[0, 4, 5, 0]], (p[2] as f32 - 1.0) / 2.0); // channel 0 = blue
    assert_eq!(pre.tensor[[0, 4, 5, 1]], (p[1] as f32 - 2.0) / 4.0);
    assert_eq!(pre.tensor[[0, 4, 5, 2]], (p[0] as f32 - 3.0) / 8.0);
    assert_eq!(pre.display.get_pixel(5, 4).0, p); // display stays RGB
                                                  // image too small for the center crop
    let mut sc = lite0();
    sc.input.resize = rlrp::sidecar::Resize::None;
    let r = preprocess(&img, &sc);
    assert!(matches!(r, Err(Error::Image(_))), "{r:?}");
    // extreme aspect ratio: only the crop is computed, fast
    let thin = image::DynamicImage::ImageRgb8(test_rgb(4000, 2));
    let t = Instant::now();
    let pre = preprocess(&thin, &lite0()).unwrap();
    assert_eq!(pre.tensor.shape(), &[1, 3, 224, 224]);
    assert!(t.elapsed().as_secs_f64() < 2.0);
    // stretch resizes to the model size
    let pre = preprocess(&thin, &Sidecar::default_for_input_shape(&[1, 3, 32, 32])).unwrap();
    assert_eq!(pre.display.dimensions(), (32, 32));
    assert!(pre.tensor.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn resize_is_identity_at_same_size_and_filters_work() {
    let img = test_rgb(31, 17);
    for f in [Filter::Nearest, Filter::Box, Filter::Bilinear, Filter::Hamming, Filter::Bicubic, Filter::Lanczos] {
        assert_eq!(resize_rgb(&img, 31, 17, f), img, "{f:?}");
        let up = resize_rgb(&img, 62, 34, f);
        assert_eq!(up.dimensions(), (62, 34));
        let down = resize_rgb(&img, 7, 5, f);
        assert_eq!(down.dimensions(), (7, 5));
    }
    // a constant image stays constant under every filter
    let flat = image::RgbImage::from_pixel(50, 40, image::Rgb([10, 128, 250]));
    for f in [Filter::Nearest, Filter::Box, Filter::Bilinear, Filter::Hamming, Filter::Bicubic, Filter::Lanczos] {
        for (w, h) in [(13, 9), (120, 77)] {
            assert!(resize_rgb(&flat, w, h, f).pixels().all(|p| p.0 == [10, 128, 250]), "{f:?}");
        }
    }
    // Pillow nearest: source index floor((x + 0.5) * in / out)
    let row = image::RgbImage::from_fn(5, 1, |x, _| image::Rgb([x as u8; 3]));
    let up = resize_rgb(&row, 8, 1, Filter::Nearest);
    let idx: Vec<u8> = up.pixels().map(|p| p.0[0]).collect();
    assert_eq!(idx, vec![0, 0, 1, 2, 2, 3, 4, 4]);
}
