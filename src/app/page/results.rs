//! Which explanation is wanted or shown (its key), the requests the page tracks (jobs), and the
//! worker's results as the page keeps them (explanations, pixel-flipping runs, progress, timings).
use crate::app::protocol::{LayerMapInfo, Response};
use crate::method::{Method, MethodParams};
use crate::report::Report;

/// One explanation: of which model and image, by which method, for which class.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainKey {
    pub model: u64,
    pub image: u64,
    pub method: Method,
    pub params: MethodParams,
    pub target: usize,
}

/// Where an explanation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Main,
    Compare,
}

/// One request to the worker, as the page tracks it.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    LoadModel(u64),
    SetImage(u64),
    Explain(Slot, ExplainKey),
    Faithfulness(ExplainKey),
}

impl Job {
    pub fn describe(&self) -> String {
        match self {
            Job::LoadModel(_) => "loading the model".into(),
            Job::SetImage(_) => "preparing the image".into(),
            Job::Explain(_, k) => format!("explaining with {}", k.method.label()),
            Job::Faithfulness(_) => "pixel flipping".into(),
        }
    }
}

/// An explanation as shown.
pub struct Shown {
    pub key: ExplainKey,
    pub image_name: String,
    pub report: Report,
    /// Channel-summed input relevance (height × width).
    pub values: Vec<f32>,
    pub npy: Vec<u8>,
    pub layer_maps: Vec<(LayerMapInfo, Vec<f32>)>,
}

/// A pixel-flipping result: the curves at the steps `points` (all of `0..=steps` once complete).
#[derive(Clone, Debug, PartialEq)]
pub struct Faith {
    pub key: ExplainKey,
    pub patch: usize,
    pub patches: usize,
    pub steps: usize,
    pub points: Vec<usize>,
    pub complete: bool,
    pub morf: Vec<f32>,
    pub random: Vec<f32>,
    pub aopc_morf: f64,
    pub aopc_random: f64,
    /// Forward passes the engine's helper worker computed.
    pub helper_passes: usize,
}

impl Faith {
    /// The run of `key` a worker's answer holds (None if it is no pixel-flipping answer or its
    /// curves do not match its points).
    pub fn from_response(key: ExplainKey, response: Response) -> Option<Faith> {
        let Response::Faithfulness {
            patch,
            patches,
            steps,
            points,
            complete,
            morf,
            random,
            aopc_morf,
            aopc_random,
            helper_passes,
            ..
        } = response
        else {
            return None;
        };
        let fits = morf.len() == points.len()
            && random.len() == points.len()
            && points.windows(2).all(|w| w[0] < w[1])
            && points.last().is_none_or(|&k| k <= steps);
        fits.then_some(Faith {
            key,
            patch,
            patches,
            steps,
            points,
            complete,
            morf,
            random,
            aopc_morf,
            aopc_random,
            helper_passes,
        })
    }
}

/// Progress of the running request.
#[derive(Clone, Debug, PartialEq)]
pub struct Busy {
    pub stage: String,
    pub done: usize,
    pub total: usize,
}

/// The timings of the last model load, image and explanation, as the worker measured them.
#[derive(Default)]
pub struct Timings {
    pub load_ms: Option<f64>,
    pub preprocess_ms: Option<f64>,
    pub forward_ms: Option<f64>,
    pub relevance_ms: Option<f64>,
}
