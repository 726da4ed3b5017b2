//! Fetching the page's own files (relative URLs: the page works from any sub-path): bundle.json,
//! the bundled models, their sidecars, labels and samples.
use super::engine::js_error_text;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

/// `www/bundle.json`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Bundle {
    pub default: String,
    pub models: Vec<BundledModel>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct BundledModel {
    pub id: String,
    pub name: String,
    pub onnx: String,
    #[serde(default)]
    pub sidecar: Option<String>,
    #[serde(default)]
    pub labels: Option<String>,
    #[serde(default)]
    pub samples: Vec<String>,
}

impl Bundle {
    pub fn model(&self, id: &str) -> Option<&BundledModel> {
        self.models.iter().find(|m| m.id == id)
    }
}

/// The last path segment of a URL (a sample's file name).
pub fn file_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_string()
}

/// Starts fetching `url` (the request goes out now; [`get_started`] waits for its response), or
/// takes the download www/boot.js started for it with the page.
fn start(url: &str) -> Result<js_sys::Promise, String> {
    if let Some(early) = boot_download(url) {
        return Ok(early);
    }
    Ok(web_sys::window().ok_or("no window")?.fetch_with_str(url))
}

/// The download of `url` that www/boot.js started, once (None without boot.js, or once taken).
fn boot_download(url: &str) -> Option<js_sys::Promise> {
    let boot = js_sys::Reflect::get(&js_sys::global(), &"rlrpBoot".into()).ok()?;
    let fetched: js_sys::Function = js_sys::Reflect::get(&boot, &"fetched".into()).ok()?.dyn_into().ok()?;
    fetched.call1(&boot, &url.into()).ok()?.dyn_into().ok()
}

async fn get(url: &str) -> Result<Response, String> {
    get_started(url, start(url)?).await
}

async fn get_started(url: &str, request: js_sys::Promise) -> Result<Response, String> {
    let resp = JsFuture::from(request).await.map_err(|e| format!("cannot fetch {url}: {}", js_error_text(&e)))?;
    let resp: Response = resp.dyn_into().map_err(|_| format!("cannot fetch {url}: not a response"))?;
    if resp.status() == 503 {
        if let Some(reason) = short_text_body(&resp).await {
            // A short explanation is shown as it is. The service worker's answer offline (www/sw.js)
            // names the file and says what to do, so it needs no "cannot fetch {url}" before it:
            // "not available offline: models/m.onnx was never downloaded; connect once to fetch it".
            let said = if reason.contains(url) { reason } else { format!("cannot fetch {url}: {reason}") };
            return Err(format!("{said} (HTTP 503)"));
        }
    }
    if !resp.ok() {
        return Err(format!("cannot fetch {url}: HTTP {} {}", resp.status(), resp.status_text()));
    }
    Ok(resp)
}

/// The body of an error response when it is one short line of text (an explanation worth showing
/// as it is, not an HTML error page), else None.
async fn short_text_body(resp: &Response) -> Option<String> {
    let text = JsFuture::from(resp.text().ok()?).await.ok()?.as_string()?;
    let text = text.trim();
    let plain = !text.is_empty() && text.len() <= 300 && !text.contains('\n') && !text.starts_with('<');
    plain.then(|| text.to_string())
}

pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    bytes_of(url, get(url).await?).await
}

async fn bytes_of(url: &str, resp: Response) -> Result<Vec<u8>, String> {
    let promise = resp.array_buffer().map_err(|e| format!("cannot read {url}: {}", js_error_text(&e)))?;
    let buf = JsFuture::from(promise).await.map_err(|e| format!("cannot read {url}: {}", js_error_text(&e)))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

pub async fn fetch_text(url: &str) -> Result<String, String> {
    text_of(url, get(url).await?).await
}

async fn text_of(url: &str, resp: Response) -> Result<String, String> {
    let promise = resp.text().map_err(|e| format!("cannot read {url}: {}", js_error_text(&e)))?;
    let text = JsFuture::from(promise).await.map_err(|e| format!("cannot read {url}: {}", js_error_text(&e)))?;
    text.as_string().ok_or_else(|| format!("cannot read {url}: not text"))
}

pub async fn fetch_bundle() -> Result<Bundle, String> {
    let text = fetch_text("bundle.json").await?;
    serde_json::from_str(&text).map_err(|e| format!("bundle.json is not valid: {e}"))
}

/// A bundled model's files, fetched.
pub struct FetchedModel {
    pub entry: BundledModel,
    pub onnx: Vec<u8>,
    pub sidecar_json: Option<String>,
    pub labels: Option<String>,
}

/// The model's files, requested all at once (then read one by one).
pub async fn fetch_model(entry: BundledModel) -> Result<FetchedModel, String> {
    let onnx = start(&entry.onnx)?;
    let sidecar = entry.sidecar.as_deref().map(|u| start(u).map(|p| (u, p))).transpose()?;
    let labels = entry.labels.as_deref().map(|u| start(u).map(|p| (u, p))).transpose()?;
    let onnx = bytes_of(&entry.onnx, get_started(&entry.onnx, onnx).await?).await?;
    let sidecar_json = match sidecar {
        Some((url, p)) => Some(text_of(url, get_started(url, p).await?).await?),
        None => None,
    };
    let labels = match labels {
        Some((url, p)) => Some(text_of(url, get_started(url, p).await?).await?),
        None => None,
    };
    Ok(FetchedModel { entry, onnx, sidecar_json, labels })
}

/// Registers the offline service worker; failures (e.g. no secure context) are ignored.
pub fn register_service_worker() {
    let Some(window) = web_sys::window() else { return };
    let navigator = window.navigator();
    // Absent outside secure contexts: check before touching it.
    let present = js_sys::Reflect::get(&navigator, &"serviceWorker".into()).is_ok_and(|v| !v.is_undefined());
    if !present {
        return;
    }
    let promise = navigator.service_worker().register("./sw.js");
    wasm_bindgen_futures::spawn_local(async move {
        let _ = JsFuture::from(promise).await;
    });
}
