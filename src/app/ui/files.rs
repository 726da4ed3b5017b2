//! Files in (dropped, pasted or picked: classified by extension and magic bytes) and out
//! (downloads through a Blob object URL and an `<a download>`).
use super::engine::js_error_text;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, File, FileList, HtmlAnchorElement, Url};

/// A file read into memory.
pub struct InFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What a set of files amounts to.
#[derive(Default)]
pub struct Dropped {
    /// An ONNX model (name, bytes).
    pub model: Option<(String, Vec<u8>)>,
    /// With a model, every file that is none of the others (name, bytes): its external data
    /// (`model.onnx.data`, as PyTorch's exporter writes it), which the worker reads what it names
    /// from.
    pub external: Vec<(String, Vec<u8>)>,
    /// The text of a sidecar (a JSON object).
    pub sidecar_json: Option<String>,
    /// The text of a labels file (a JSON list, or one label per line).
    pub labels: Option<String>,
    /// An image (name, bytes): the first one if several were given.
    pub image: Option<(String, Vec<u8>)>,
    /// One message per file that was not understood.
    pub errors: Vec<String>,
}

const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "gif", "bmp"];

fn extension(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        None => String::new(),
    }
}

/// PNG, JPEG, GIF, WebP or BMP by their first bytes.
pub fn is_image_magic(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG\r\n\x1a\n")
        || b.starts_with(&[0xFF, 0xD8, 0xFF])
        || b.starts_with(b"GIF87a")
        || b.starts_with(b"GIF89a")
        || (b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP")
        || b.starts_with(b"BM")
}

/// Sorts files into a model, its sidecar and labels, and an image.
pub fn classify(files: Vec<InFile>) -> Dropped {
    let mut out = Dropped::default();
    for f in files {
        let ext = extension(&f.name);
        let text = || String::from_utf8_lossy(&f.bytes).trim_start_matches('\u{feff}').to_string();
        if ext == "onnx" || (ext.is_empty() && f.bytes.first() == Some(&0x08)) {
            if out.model.is_none() {
                out.model = Some((f.name, f.bytes));
            } else {
                out.errors.push(format!("{} ignored: one model at a time", f.name));
            }
        } else if IMAGE_EXTENSIONS.contains(&ext.as_str()) || is_image_magic(&f.bytes) {
            if out.image.is_none() {
                out.image = Some((f.name, f.bytes));
            }
        } else if ext == "json" {
            let t = text();
            match serde_json::from_str::<serde_json::Value>(&t) {
                Ok(serde_json::Value::Object(_)) => out.sidecar_json = Some(t),
                Ok(serde_json::Value::Array(_)) => out.labels = Some(t),
                Ok(_) => out.errors.push(format!("{} is neither a sidecar (a JSON object) nor a labels list", f.name)),
                Err(e) => out.errors.push(format!("{} is not valid JSON: {e}", f.name)),
            }
        } else if ext == "txt" {
            out.labels = Some(text());
        } else {
            out.external.push((f.name, f.bytes));
        }
    }
    if out.model.is_none() {
        for (name, _) in out.external.drain(..) {
            out.errors.push(format!("{name} is not an image or an ONNX model"));
        }
    }
    out
}

/// The files of a `FileList`.
pub fn file_list(list: &FileList) -> Vec<File> {
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Reads files into memory.
pub async fn read_files(files: Vec<File>) -> Result<Vec<InFile>, String> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let name = f.name();
        let buf =
            JsFuture::from(f.array_buffer()).await.map_err(|e| format!("cannot read {name}: {}", js_error_text(&e)))?;
        out.push(InFile { name, bytes: js_sys::Uint8Array::new(&buf).to_vec() });
    }
    Ok(out)
}

/// Offers `bytes` as a download named `name`.
pub fn download(name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
    let err = |e: JsValue| format!("cannot save {name}: {}", js_error_text(&e));
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(err)?;
    let url = Url::create_object_url_with_blob(&blob).map_err(err)?;
    download_url(name, &url)?;
    // Revoke once the browser has taken the download.
    gloo_timers::callback::Timeout::new(30_000, move || {
        let _ = Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

/// Saves what `url` (an object or `data:` URL) holds as `name`, through an `<a download>`.
pub fn download_url(name: &str, url: &str) -> Result<(), String> {
    let err = |e: JsValue| format!("cannot save {name}: {}", js_error_text(&e));
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let a: HtmlAnchorElement = document.create_element("a").map_err(err)?.unchecked_into();
    a.set_href(url);
    a.set_download(name);
    a.click();
    Ok(())
}
