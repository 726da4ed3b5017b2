//! What the page can replay to a fresh worker (the model and image sources) and what the worker
//! answered about them (the loaded model's facts, the preprocessed image).
use crate::app::protocol::SidecarSource;
use crate::report::{ClassScore, ModelInfo};
use crate::sidecar::Sidecar;
use std::rc::Rc;

/// A model the page can (re)load into a worker.
#[derive(Debug)]
pub struct ModelSource {
    /// Changes whenever the model or its preprocessing changes.
    pub generation: u64,
    /// Display name (the bundle's name, or the user's file name); also the name sent to the worker.
    pub name: String,
    /// The id in bundle.json (None = a user model).
    pub bundle_id: Option<String>,
    pub onnx: Rc<Vec<u8>>,
    /// Files given with the model (name, bytes): its external data, if it keeps weights beside it.
    pub external: Rc<Vec<(String, Vec<u8>)>>,
    pub sidecar: Option<Sidecar>,
    pub sidecar_json: Option<String>,
    pub labels: Option<String>,
    /// Sample image URLs (bundled models).
    pub samples: Vec<String>,
}

/// An image the page can (re)send to a worker.
#[derive(Debug)]
pub struct ImageSource {
    pub generation: u64,
    /// File name (shown, and the heatmap's `data-image`).
    pub name: String,
    pub bytes: Rc<Vec<u8>>,
    /// The URL of a bundled sample.
    pub url: Option<String>,
}

/// The image the worker has preprocessed, as it answered.
pub struct ImageInfo {
    pub generation: u64,
    pub name: String,
    pub top: Vec<ClassScore>,
    pub classes: usize,
    pub display: Rc<image::RgbImage>,
}

impl ImageInfo {
    pub fn predicted(&self) -> usize {
        self.top.first().map(|c| c.class).unwrap_or(0)
    }
}

/// What the worker answered about the loaded model.
pub struct LoadedInfo {
    pub generation: u64,
    pub name: String,
    pub user: bool,
    pub info: ModelInfo,
    pub sidecar: Sidecar,
    pub source: SidecarSource,
}
