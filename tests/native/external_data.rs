//! ONNX external data (`src/model/external.rs`): a model whose weights are kept in a file beside it,
//! as PyTorch's exporter writes it by default, loads from the command line's path and from the
//! page's dropped files with the same logits as the self-contained model; a missing file, a location
//! outside the model's folder and a range outside its file are refused by name.
use crate::common;
use common::onnx_builder::{attr, decode, OnnxBuilder, Rng};
use prost::Message;
use rlrp::app::protocol::{Request, Response};
use rlrp::app::session::Session;
use rlrp::model::external::{read_model, with_external_data};
use rlrp::model::{LoadOptions, Model};
use rlrp::tensor::{ndarray, Tensor};
use tract_onnx::pb::{tensor_proto::DataLocation, StringStringEntryProto};

/// A small image classifier, self-contained: x [1, 3, 8, 8] → Conv 4×3×3×3 → Relu → GAP → Gemm 4→5.
fn classifier() -> Vec<u8> {
    let mut rng = Rng::new(41);
    let mut b = OnnxBuilder::new("x", &[1, 3, 8, 8]);
    b.init("cw", &[4, 3, 3, 3], &rng.sym_vec(108, 0.5));
    b.init("cb", &[4], &rng.sym_vec(4, 0.2));
    b.init("W", &[5, 4], &rng.sym_vec(20, 1.0));
    b.init("B", &[5], &rng.sym_vec(5, 0.2));
    b.node("Conv", &["x", "cw", "cb"], "c", vec![attr::ints("pads", &[1, 1, 1, 1])]);
    b.node("Relu", &["c"], "r", vec![]);
    b.node("GlobalAveragePool", &["r"], "g", vec![]);
    b.node("Flatten", &["g"], "f", vec![]);
    b.node("Gemm", &["f", "W", "B"], "y", vec![attr::int("transB", 1)]);
    b.output("y", &[1, 5]);
    b.build()
}

/// `bytes` with every initialiser's data moved, one after the other, into one external file named
/// `location` (offsets and lengths written, as onnx's `save_as_external_data` does): the model and
/// the file.
fn split(bytes: &[u8], location: &str) -> (Vec<u8>, Vec<u8>) {
    let mut proto = decode(bytes);
    let mut data = Vec::new();
    for t in proto.graph.as_mut().expect("graph").initializer.iter_mut() {
        let raw = if t.raw_data.is_empty() {
            t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            std::mem::take(&mut t.raw_data)
        };
        t.float_data.clear();
        let entry = |key: &str, value: String| StringStringEntryProto { key: key.into(), value };
        t.external_data = vec![
            entry("location", location.into()),
            entry("offset", data.len().to_string()),
            entry("length", raw.len().to_string()),
        ];
        t.data_location = Some(DataLocation::External as i32);
        data.extend(raw);
    }
    (proto.encode_to_vec(), data)
}

fn logits(bytes: &[u8]) -> Vec<f32> {
    let m = Model::from_onnx_bytes(bytes, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let x = Tensor::from_shape_vec(ndarray::IxDyn(&[1, 3, 8, 8]), Rng::new(42).sym_vec(192, 1.0)).unwrap();
    m.logits(&m.forward(&x).unwrap()).unwrap().to_vec()
}

fn folder(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rlrp-external-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_model_with_its_weights_beside_it_loads_with_the_same_logits() {
    let whole = classifier();
    let expected = logits(&whole);
    let (model, data) = split(&whole, "m.onnx.data");
    let refused = Model::from_onnx_bytes(&model, &LoadOptions::default()).err().expect("not read in").to_string();
    assert!(refused.contains("'m.onnx.data', which was not given"), "{refused}");
    // the command line: the file beside the model
    let dir = folder("beside");
    std::fs::write(dir.join("m.onnx"), &model).unwrap();
    std::fs::write(dir.join("m.onnx.data"), &data).unwrap();
    assert_eq!(logits(&read_model(&dir.join("m.onnx")).unwrap()), expected);
    // the page: the dropped files, through the worker's session
    let mut s = Session::new();
    let load = |external: Vec<String>| Request::LoadModel {
        external,
        name: "m.onnx".into(),
        sidecar: None,
        sidecar_json: None,
        labels: None,
    };
    let reply =
        s.handle(load(vec!["m.onnx.data".into()]), vec![model.clone(), data.clone()], &|| 0.0, &mut |_, _, _| true);
    assert!(matches!(reply.response, Response::ModelLoaded { .. }), "{:?}", reply.response);
    // without the file: refused, naming it and saying what to do
    let reply = s.handle(load(Vec::new()), vec![model.clone()], &|| 0.0, &mut |_, _, _| true);
    let Response::Error { message } = reply.response else { panic!("{:?}", reply.response) };
    assert!(message.contains("'m.onnx.data', which was not given") && message.contains("drop both files"), "{message}");
    std::fs::remove_file(dir.join("m.onnx.data")).unwrap();
    let e = read_model(&dir.join("m.onnx")).expect_err("missing").to_string();
    assert!(e.contains("'m.onnx.data', which was not given"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn external_data_outside_the_folder_or_its_file_is_refused() {
    let whole = classifier();
    let (_, data) = split(&whole, "m.data");
    let given = |location: &str| if location == "m.data" { Some(data.as_slice()) } else { None };
    for (location, says) in [
        ("../m.data", "is not a relative file name below the model's folder"),
        ("/etc/passwd", "is not a relative file name below the model's folder"),
        ("sub\\..\\m.data", "is not a relative file name below the model's folder"),
        ("", "is not a relative file name below the model's folder"),
    ] {
        let (model, _) = split(&whole, location);
        let e = with_external_data(model, &given).expect_err(location).to_string();
        assert!(e.contains(says), "{location}: {e}");
    }
    // a range past the end of the file, and an offset that is not a number
    let (model, _) = split(&whole, "m.data");
    let short = &data[..data.len() - 4];
    let e = with_external_data(model.clone(), &|_| Some(short)).expect_err("short file").to_string();
    assert!(e.contains(&format!("a file of {} bytes", short.len())), "{e}");
    let mut proto = decode(&model);
    proto.graph.as_mut().unwrap().initializer[0].external_data[1].value = "-8".into();
    let e = with_external_data(proto.encode_to_vec(), &given).expect_err("bad offset").to_string();
    assert!(e.contains("offset '-8' is not a byte count"), "{e}");
    // a self-contained model comes back as it was
    assert_eq!(with_external_data(whole.clone(), &given).unwrap(), whole);
}

/// The pair the page's end-to-end test drops (`tests/data/external/`) is this file's classifier
/// split as above (`RLRP_BLESS=1` writes it).
#[test]
fn the_pages_external_data_pair_is_this_classifier_split() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/external");
    let (model, data) = split(&classifier(), "classifier.onnx.data");
    if std::env::var("RLRP_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("classifier.onnx"), &model).unwrap();
        std::fs::write(dir.join("classifier.onnx.data"), &data).unwrap();
    }
    assert_eq!(std::fs::read(dir.join("classifier.onnx")).unwrap(), model, "run with RLRP_BLESS=1");
    assert_eq!(std::fs::read(dir.join("classifier.onnx.data")).unwrap(), data, "run with RLRP_BLESS=1");
    assert_eq!(logits(&read_model(&dir.join("classifier.onnx")).unwrap()), logits(&classifier()));
}
