//! ONNX external data: weights kept in files beside the `.onnx` (PyTorch's exporter writes
//! `model.onnx` and `model.onnx.data` by default since 2.9), read into the model, which becomes
//! self-contained bytes that every later reader (the load, pixel flipping's plans) takes as they
//! are. Each location must be a plain relative file name below the model's folder (no absolute
//! path, no `..`), and each range must lie inside its file. Not part of the method: RLRP.md says
//! nothing of it.
use super::decode_proto;
use crate::budget;
use crate::error::{Error, Result};
use tract_onnx::pb::{tensor_proto::DataLocation, ModelProto, TensorProto};

/// Where one tensor's bytes are: `length` bytes (None: to the end) at `offset` of `location`.
struct Range {
    location: String,
    offset: u64,
    length: Option<u64>,
}

fn is_external(t: &TensorProto) -> bool {
    t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty()
}

fn range_of(t: &TensorProto) -> Result<Range> {
    let bad = |why: String| Error::InvalidModel(format!("tensor '{}': external data {why}", t.name));
    let (mut location, mut offset, mut length) = (None, 0, None);
    for e in &t.external_data {
        let number = |v: &str| v.parse::<u64>().map_err(|_| bad(format!("{} '{v}' is not a byte count", e.key)));
        match e.key.as_str() {
            "location" => location = Some(e.value.clone()),
            "offset" => offset = number(&e.value)?,
            "length" => length = Some(number(&e.value)?),
            _ => {}
        }
    }
    let location = location.ok_or_else(|| bad("without a location".into()))?;
    let plain = !location.is_empty()
        && !location.contains('\\')
        && std::path::Path::new(&location).components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(bad(format!("location '{location}' is not a relative file name below the model's folder")));
    }
    Ok(Range { location, offset, length })
}

/// Every tensor of the main graph that holds values: its initialisers and Constant nodes' `value`.
fn tensors(proto: &mut ModelProto) -> impl Iterator<Item = &mut TensorProto> {
    proto.graph.iter_mut().flat_map(|g| {
        let constants = g.node.iter_mut().flat_map(|n| n.attribute.iter_mut().filter_map(|a| a.t.as_mut()));
        g.initializer.iter_mut().chain(constants)
    })
}

/// The error for tensor `t` kept in `location`, a file that was not given.
fn not_given(t: &TensorProto, location: &str) -> Error {
    Error::InvalidModel(format!(
        "the model keeps its weights (tensor '{}') in the file '{location}', which was not given: \
         keep it beside the .onnx file, or drop both files together",
        t.name
    ))
}

/// A model whose weights are still in external files (not read in by [`with_external_data`]):
/// refused, naming the first such file.
pub fn still_external(proto: &ModelProto) -> Result<()> {
    let tensors = proto.graph.iter().flat_map(|g| g.initializer.iter());
    match tensors.filter(|t| is_external(t)).find_map(|t| range_of(t).ok().map(|r| (t, r.location))) {
        Some((t, location)) => Err(not_given(t, &location)),
        None => Ok(()),
    }
}

/// The external files an ONNX model names, each once, in the order its tensors name them (empty
/// for a self-contained model).
pub fn external_files(bytes: &[u8]) -> Result<Vec<String>> {
    let mut proto = decode_proto(bytes)?;
    let mut files: Vec<String> = Vec::new();
    for t in tensors(&mut proto).filter(|t| is_external(t)) {
        let location = range_of(t)?.location;
        if !files.contains(&location) {
            files.push(location);
        }
    }
    Ok(files)
}

/// `bytes` with every tensor kept in an external file read into it from `file(location)` (None:
/// the file was not given, an error naming it); `bytes` unchanged when the model has none.
pub fn with_external_data<'f>(bytes: Vec<u8>, file: &dyn Fn(&str) -> Option<&'f [u8]>) -> Result<Vec<u8>> {
    let mut proto = decode_proto(&bytes)?;
    if !tensors(&mut proto).any(|t| is_external(t)) {
        return Ok(bytes);
    }
    let mut total = bytes.len() as u64;
    for t in tensors(&mut proto).filter(|t| is_external(t)) {
        let Range { location, offset, length } = range_of(t)?;
        let data = file(&location).ok_or_else(|| not_given(t, &location))?;
        let size = data.len() as u64;
        let end = match length {
            Some(n) => offset.checked_add(n),
            None => Some(size),
        };
        let Some(end) = end.filter(|&e| e <= size && offset <= e) else {
            return Err(Error::InvalidModel(format!(
                "tensor '{}': bytes {offset}..{} of '{location}', a file of {size} bytes",
                t.name,
                length.map_or("end".to_string(), |n| offset.saturating_add(n).to_string())
            )));
        };
        total += end - offset;
        if total > budget::MAX_FILE_BYTES {
            return Err(budget::budget_error(format!(
                "the model with its external data is over {} bytes",
                budget::MAX_FILE_BYTES
            )));
        }
        t.raw_data = data[offset as usize..end as usize].to_vec();
        t.data_location = Some(DataLocation::Default as i32);
        t.external_data.clear();
    }
    Ok(prost::Message::encode_to_vec(&proto))
}

/// The ONNX file at `path` with the external files it names, read from beside it (regular files,
/// no symbolic links, within the file budget), as one self-contained model.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_model(path: &std::path::Path) -> Result<Vec<u8>> {
    use crate::fsread::{check_beside, read_regular, MAX_FILE_BYTES};
    let cannot =
        |what: &std::path::Path, e: std::io::Error| Error::Request(format!("cannot read {}: {e}", what.display()));
    let bytes = read_regular(path, MAX_FILE_BYTES).map_err(|e| cannot(path, e))?;
    let names = external_files(&bytes)?;
    if names.is_empty() {
        return Ok(bytes);
    }
    let folder = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let beside = folder.join(&name);
        let data = check_beside(&name, &beside).and_then(|()| read_regular(&beside, MAX_FILE_BYTES));
        match data {
            Ok(data) => files.push((name, data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(cannot(&beside, e)),
        }
    }
    with_external_data(bytes, &|location| files.iter().find(|(n, _)| n == location).map(|(_, d)| d.as_slice()))
}
