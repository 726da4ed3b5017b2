//! The root component. The page keeps what it *wants* (a model, an image, method settings) apart
//! from what the worker *holds* and what was last *committed* (loaded successfully). [`App::next_job`]
//! compares them and yields the one request to send next, so that a restarted worker (after a
//! cancel, a crash, or a request that a user action made obsolete) is brought back by replaying the
//! model and the image, and failed requests revert to the committed state.
use super::engine::{Engine, EngineEvent};
use super::files::{self, InFile};
use super::net::{self, Bundle, FetchedModel};
use super::paint::{CanvasSlot, Picture};
use super::state::*;
use crate::app::protocol::{f32_values, Request, Response, SidecarSource, Stage};
use crate::heatmap::{
    encode_png, overlay, paint, paint_scaled, percentile_abs, Colormap, Contrast, HeatmapStyle, Scale, ScaleMode,
};
use crate::method::{Method, MethodParams};
use crate::report::ModelInfo;
use crate::sidecar::Sidecar;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ClipboardEvent, DragEvent, Event, File, HtmlElement, HtmlSelectElement};
use yew::prelude::*;

/// A fetched bundled model and, unless the current image is one of its samples, its first sample.
/// Document event listeners, kept alive with the app.
type Listeners = Vec<(&'static str, Closure<dyn FnMut(Event)>)>;

type ModelAndSample = (FetchedModel, Option<(String, Vec<u8>)>);

pub enum Msg {
    Engine(EngineEvent),
    Bundle(Result<Bundle, String>),
    PickModel(String),
    ModelFetched {
        fetch: u64,
        result: Result<ModelAndSample, String>,
    },
    PickSample(String),
    SampleFetched {
        fetch: u64,
        url: String,
        result: Result<Vec<u8>, String>,
    },
    Files(Vec<File>),
    FilesRead(Result<Vec<InFile>, String>),
    OpenPicker,
    Dragging(bool),
    SetMethod(Method),
    ParamText(Param, String),
    ParamCommit(Param),
    SetTarget(usize),
    ClassText(String),
    ClassGo,
    ToggleCompare(Method),
    SetView(HeatView),
    SetOpacity(f32),
    SetColormap(Colormap),
    SetMode(ScaleMode),
    SetContrast(Contrast),
    SetSharedScale(bool),
    /// Runs again the explanations that were cancelled or failed.
    Retry,
    ClipText(String),
    ClipCommit,
    SetLayer(String),
    RunFaithfulness,
    DownloadPng,
    DownloadNpy,
    Cancel,
    DismissError,
    DismissNotice,
    ApplySidecar(Sidecar),
    ShowError(String),
}

/// A method parameter input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Epsilon,
    Gamma,
    Alpha,
    Beta,
    Stabilizer,
}

impl Param {
    pub const ALL: [Param; 5] = [Param::Epsilon, Param::Gamma, Param::Alpha, Param::Beta, Param::Stabilizer];
    pub fn name(self) -> &'static str {
        match self {
            Param::Epsilon => "epsilon",
            Param::Gamma => "gamma",
            Param::Alpha => "alpha",
            Param::Beta => "beta",
            Param::Stabilizer => "stabilizer",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Param::Epsilon => "ε",
            Param::Gamma => "γ",
            Param::Alpha => "α",
            Param::Beta => "β",
            Param::Stabilizer => "stabiliser",
        }
    }
    fn get(self, p: &MethodParams) -> f32 {
        match self {
            Param::Epsilon => p.epsilon,
            Param::Gamma => p.gamma,
            Param::Alpha => p.alpha,
            Param::Beta => p.beta,
            Param::Stabilizer => p.stabilizer,
        }
    }
    fn set(self, p: &mut MethodParams, v: f32) {
        match self {
            Param::Epsilon => p.epsilon = v,
            Param::Gamma => p.gamma = v,
            Param::Alpha => p.alpha = v,
            Param::Beta => p.beta = v,
            Param::Stabilizer => p.stabilizer = v,
        }
    }
    fn index(self) -> usize {
        Param::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
    /// Whether the method's inputs show this parameter.
    pub fn shown_for(self, m: Method) -> bool {
        match self {
            Param::Stabilizer => uses_stabilizer(m),
            p => m.uses().contains(&p.name()),
        }
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

struct InFlight {
    id: u64,
    job: Job,
    model: Option<Rc<ModelSource>>,
    image: Option<Rc<ImageSource>>,
    /// A replay of something already committed (its success does not clear the error banner).
    replay: bool,
}

#[derive(Default)]
pub struct Timings {
    pub load_ms: Option<f64>,
    pub preprocess_ms: Option<f64>,
    pub forward_ms: Option<f64>,
    pub relevance_ms: Option<f64>,
}

#[derive(Default)]
pub struct Canvases {
    pub image: CanvasSlot,
    pub heat: CanvasSlot,
    pub compare: [CanvasSlot; MAX_COMPARE],
    pub layer: CanvasSlot,
}

#[derive(Default)]
pub struct Selects {
    pub model: NodeRef,
    pub method: NodeRef,
    pub view: NodeRef,
    pub colormap: NodeRef,
    pub mode: NodeRef,
    pub contrast: NodeRef,
    pub layer: NodeRef,
}

/// A heatmap as painted: the picture on its canvas, the picture for the PNG download, its scale.
pub struct Painted {
    pub picture: Rc<Picture>,
    pub rgb: image::RgbImage,
    pub scale: Scale,
}

/// The most times the worker may crash in a row before the page stops restarting it.
const MAX_CRASHES: u32 = 3;

pub struct App {
    engine: Engine,
    in_flight: Option<InFlight>,
    crashes: u32,
    /// What the worker said when it panicked, until its crash is handled.
    panic_message: Option<String>,
    worker_model: Option<u64>,
    worker_image: Option<u64>,
    next_generation: u64,

    pub(super) bundle: Option<Bundle>,
    /// Incremented by every new download and by Cancel: answers of older downloads are dropped.
    fetch: u64,
    /// The same for sample images.
    sample_fetch: u64,
    pub(super) fetching: Option<String>,
    pub(super) fetching_sample: Option<String>,
    pub(super) fetching_model: Option<String>,

    pub(super) desired_model: Option<Rc<ModelSource>>,
    pub(super) desired_image: Option<Rc<ImageSource>>,
    committed_model: Option<Rc<ModelSource>>,
    committed_image: Option<Rc<ImageSource>>,
    pub(super) model_info: Option<LoadedInfo>,
    pub(super) image_info: Option<ImageInfo>,

    pub(super) settings: Settings,
    pub(super) param_text: [String; 5],
    pub(super) class_text: String,
    pub(super) failed_main: Option<ExplainKey>,
    pub(super) failed_compare: Vec<ExplainKey>,
    pub(super) main: Option<Shown>,
    /// Explanations of the compared methods (at most one per method).
    pub(super) compare: Vec<Shown>,
    pub(super) faith: Vec<Faith>,
    /// The pixel-flipping runs asked for (the maps on show when the button was pressed).
    pub(super) faith_requested: Vec<ExplainKey>,

    pub(super) style: HeatmapStyle,
    pub(super) view: HeatView,
    pub(super) opacity: f32,
    pub(super) shared_scale: bool,
    pub(super) clip_text: String,
    pub(super) layer: Option<String>,

    pub(super) busy: Option<Busy>,
    pub(super) error: Option<String>,
    /// What the page did on its own or at the user's word (a cancel, a stopped run): shown in the
    /// status region until the next action.
    pub(super) notice: Option<String>,
    pub(super) timings: Timings,
    pub(super) dragging: bool,

    pub(super) image_pic: Option<Rc<Picture>>,
    pub(super) heat: Option<Painted>,
    /// The compared maps as painted, in the order of `settings.compare`.
    pub(super) compare_painted: Vec<Option<Painted>>,
    pub(super) layer_pic: Option<Rc<Picture>>,
    pub(super) canvases: Canvases,
    pub(super) selects: Selects,
    pub(super) file_input: NodeRef,
    _listeners: Listeners,
}

fn param_texts(p: &MethodParams) -> [String; 5] {
    Param::ALL.map(|q| q.get(p).to_string())
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        let link = ctx.link();
        let engine = Engine::new(link.callback(Msg::Engine));
        net::register_service_worker();
        link.send_future(async { Msg::Bundle(net::fetch_bundle().await) });
        let settings = Settings::default();
        let param_text = param_texts(&settings.params);
        // The page's default contrast is auto: a sparse map (R-LRP on a deep network puts half of
        // |R| on 1 % of the pixels) still shows where the rest of its evidence is.
        let style = HeatmapStyle { contrast: Contrast::Auto, ..HeatmapStyle::default() };
        App {
            engine,
            in_flight: None,
            crashes: 0,
            panic_message: None,
            worker_model: None,
            worker_image: None,
            next_generation: 1,
            bundle: None,
            fetch: 0,
            sample_fetch: 0,
            fetching_sample: None,
            fetching: Some("downloading bundle.json".into()),
            fetching_model: None,
            desired_model: None,
            desired_image: None,
            committed_model: None,
            committed_image: None,
            model_info: None,
            image_info: None,
            settings,
            param_text,
            class_text: String::new(),
            failed_main: None,
            failed_compare: Vec::new(),
            main: None,
            compare: Vec::new(),
            faith: Vec::new(),
            faith_requested: Vec::new(),
            clip_text: style.clip_percentile.to_string(),
            style,
            view: HeatView::default(),
            opacity: 0.6,
            shared_scale: false,
            layer: None,
            busy: None,
            error: None,
            notice: None,
            timings: Timings::default(),
            dragging: false,
            image_pic: None,
            heat: None,
            compare_painted: Vec::new(),
            layer_pic: None,
            canvases: Canvases::default(),
            selects: Selects::default(),
            file_input: NodeRef::default(),
            _listeners: document_listeners(ctx),
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Engine(ev) => return self.on_engine(ev),
            Msg::Bundle(Ok(bundle)) => {
                self.fetching = None;
                let default = bundle.default.clone();
                self.bundle = Some(bundle);
                self.pick_model(ctx, &default);
            }
            Msg::Bundle(Err(e)) => {
                self.fetching = None;
                self.error = Some(e);
            }
            Msg::PickModel(id) => {
                let current = self.desired_model.as_ref().and_then(|m| m.bundle_id.as_deref());
                if current != Some(id.as_str()) || self.fetching_model.is_some() {
                    self.pick_model(ctx, &id);
                }
            }
            Msg::ModelFetched { fetch, result } => {
                if fetch != self.fetch {
                    return false;
                }
                self.fetching = None;
                self.fetching_model = None;
                match result {
                    Ok((fm, sample)) => {
                        let model = ModelSource {
                            generation: self.generation(),
                            name: fm.entry.name.clone(),
                            bundle_id: Some(fm.entry.id.clone()),
                            onnx: Rc::new(fm.onnx),
                            sidecar: None,
                            sidecar_json: fm.sidecar_json,
                            labels: fm.labels,
                            samples: fm.entry.samples.clone(),
                        };
                        self.desired_model = Some(Rc::new(model));
                        if let Some((url, bytes)) = sample {
                            self.set_desired_image(net::file_name(&url), bytes, Some(url));
                        }
                        self.after_change();
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            Msg::PickSample(url) => {
                if self.desired_image.as_ref().and_then(|i| i.url.as_deref()) != Some(url.as_str()) {
                    self.sample_fetch += 1;
                    let fetch = self.sample_fetch;
                    self.fetching_sample = Some(format!("downloading {}", net::file_name(&url)));
                    ctx.link().send_future(async move {
                        let result = net::fetch_bytes(&url).await;
                        Msg::SampleFetched { fetch, url, result }
                    });
                }
            }
            Msg::SampleFetched { fetch, url, result } => {
                if fetch != self.sample_fetch {
                    return false;
                }
                self.fetching_sample = None;
                match result {
                    Ok(bytes) => {
                        self.set_desired_image(net::file_name(&url), bytes, Some(url));
                        self.after_change();
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            Msg::Files(list) => {
                if list.is_empty() {
                    return false;
                }
                ctx.link().send_future(async move { Msg::FilesRead(files::read_files(list).await) });
            }
            Msg::FilesRead(Ok(list)) => self.take_files(list),
            Msg::FilesRead(Err(e)) => self.error = Some(e),
            Msg::OpenPicker => {
                if let Some(input) = self.file_input.cast::<HtmlElement>() {
                    input.click();
                }
                return false;
            }
            Msg::Dragging(on) => {
                if self.dragging == on {
                    return false;
                }
                self.dragging = on;
            }
            Msg::SetMethod(m) => {
                self.settings.method = m;
                self.after_change();
            }
            Msg::ParamText(p, s) => self.param_text[p.index()] = s,
            Msg::ParamCommit(p) => self.commit_param(p),
            Msg::SetTarget(c) => {
                self.settings.target = Some(c);
                self.class_text = c.to_string();
                self.after_change();
            }
            Msg::ClassText(s) => self.class_text = s,
            Msg::ClassGo => {
                let classes = self.image_info.as_ref().map(|i| i.classes).unwrap_or(0);
                match self.class_text.trim().parse::<usize>() {
                    Ok(c) if c < classes => {
                        self.settings.target = Some(c);
                        self.after_change();
                    }
                    Ok(c) => {
                        self.error = Some(format!(
                            "class {c} does not exist: the model has {classes} classes (0–{})",
                            classes.saturating_sub(1)
                        ))
                    }
                    Err(_) => self.error = Some(format!("'{}' is not a class index", self.class_text.trim())),
                }
            }
            Msg::ToggleCompare(m) => {
                if !self.settings.toggle_compare(m) {
                    return false;
                }
                let wanted = &self.settings.compare;
                self.compare.retain(|c| wanted.contains(&c.key.method));
                self.repaint();
                self.after_change();
            }
            Msg::SetView(v) => {
                self.view = v;
                self.repaint();
            }
            Msg::SetOpacity(o) => {
                self.opacity = o.clamp(0.0, 1.0);
                self.repaint();
            }
            Msg::SetContrast(c) => {
                self.style.contrast = c;
                self.repaint();
            }
            Msg::SetSharedScale(on) => {
                self.shared_scale = on;
                self.repaint();
            }
            Msg::Retry => {
                self.failed_main = None;
                self.failed_compare.clear();
                self.after_change();
            }
            Msg::DismissNotice => self.notice = None,
            Msg::SetColormap(c) => {
                self.style.colormap = c;
                self.repaint();
            }
            Msg::SetMode(m) => {
                self.style.mode = m;
                self.repaint();
            }
            Msg::ClipText(s) => self.clip_text = s,
            Msg::ClipCommit => match self.clip_text.trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => {
                    self.style.clip_percentile = p;
                    self.repaint();
                }
                _ => {
                    self.error =
                        Some(format!("clip percentile: '{}' is not a number from 0 to 100", self.clip_text.trim()))
                }
            },
            Msg::SetLayer(node) => {
                self.layer = Some(node);
                self.repaint();
            }
            Msg::RunFaithfulness => {
                let keys: Vec<ExplainKey> = self.shown_keys();
                if !keys.is_empty() {
                    self.faith_requested = keys;
                    self.after_change();
                }
            }
            Msg::DownloadPng => self.download_png(),
            Msg::DownloadNpy => {
                if let Some(main) = self.main.as_ref().filter(|_| self.main_ready()) {
                    let name = format!("{}.npy", self.download_stem(main));
                    if let Err(e) = files::download(&name, "application/octet-stream", &main.npy) {
                        self.error = Some(e);
                    }
                }
            }
            Msg::Cancel => self.cancel(),
            Msg::DismissError => self.error = None,
            Msg::ApplySidecar(sc) => {
                if let Some(m) = self.desired_model.clone() {
                    let model = ModelSource {
                        generation: self.generation(),
                        name: m.name.clone(),
                        bundle_id: m.bundle_id.clone(),
                        onnx: m.onnx.clone(),
                        sidecar: Some(sc),
                        sidecar_json: None,
                        labels: None,
                        samples: m.samples.clone(),
                    };
                    self.desired_model = Some(Rc::new(model));
                    self.after_change();
                }
            }
            Msg::ShowError(e) => self.error = Some(e),
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        self.view_page(ctx)
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first_render: bool) {
        self.canvases.image.sync(self.image_pic.as_deref());
        self.canvases.heat.sync(self.heat.as_ref().map(|p| p.picture.as_ref()));
        for (i, slot) in self.canvases.compare.iter_mut().enumerate() {
            slot.sync(self.compare_painted.get(i).and_then(|p| p.as_ref()).map(|p| p.picture.as_ref()));
        }
        self.canvases.layer.sync(self.layer_pic.as_deref());
        let model = self.model_select_value();
        let view = view_name(self.view);
        let colormap = colormap_name(self.style.colormap);
        let mode = mode_name(self.style.mode);
        let contrast = contrast_name(self.style.contrast);
        let layer = self.layer.clone().unwrap_or_default();
        for (node, value) in [
            (&self.selects.model, model.as_str()),
            (&self.selects.method, self.settings.method.name()),
            (&self.selects.view, view),
            (&self.selects.colormap, colormap),
            (&self.selects.mode, mode),
            (&self.selects.contrast, contrast),
            (&self.selects.layer, layer.as_str()),
        ] {
            if let Some(select) = node.cast::<HtmlSelectElement>() {
                if select.value() != value {
                    select.set_value(value);
                }
            }
        }
    }
}

pub fn colormap_name(c: Colormap) -> &'static str {
    match c {
        Colormap::Bwr => "bwr",
        Colormap::Heat => "heat",
    }
}

pub fn mode_name(m: ScaleMode) -> &'static str {
    match m {
        ScaleMode::Signed => "signed",
        ScaleMode::Absolute => "absolute",
        ScaleMode::Positive => "positive",
    }
}

pub fn view_name(v: HeatView) -> &'static str {
    match v {
        HeatView::Beside => "beside",
        HeatView::Overlay => "overlay",
    }
}

/// The contrast settings the page offers, as (select value, setting, label).
pub const CONTRASTS: [(&str, Contrast, &str); 3] = [
    ("auto", Contrast::Auto, "auto (lifts faint relevance of sparse maps)"),
    ("linear", Contrast::Linear, "linear"),
    ("sqrt", Contrast::Gamma(0.5), "square root (γ 0.5)"),
];

pub fn contrast_name(c: Contrast) -> &'static str {
    CONTRASTS.iter().find(|(_, k, _)| *k == c).map(|(n, _, _)| *n).unwrap_or("auto")
}

/// Drop anywhere, paste an image: listeners on the document.
fn document_listeners(ctx: &Context<App>) -> Listeners {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return Vec::new() };
    let files = ctx.link().callback(Msg::Files);
    let dragging = ctx.link().callback(Msg::Dragging);
    let mut out: Listeners = Vec::new();
    {
        let dragging = dragging.clone();
        out.push((
            "dragover",
            Closure::new(move |e: Event| {
                e.prevent_default();
                if let Some(dt) = e.dyn_ref::<DragEvent>().and_then(|d| d.data_transfer()) {
                    dt.set_drop_effect("copy");
                }
                dragging.emit(true);
            }),
        ));
    }
    {
        let dragging = dragging.clone();
        out.push((
            "dragleave",
            Closure::new(move |e: Event| {
                // leaving the window: no element to enter
                if e.dyn_ref::<DragEvent>().is_some_and(|d| d.related_target().is_none()) {
                    dragging.emit(false);
                }
            }),
        ));
    }
    {
        let files = files.clone();
        out.push((
            "drop",
            Closure::new(move |e: Event| {
                e.prevent_default();
                dragging.emit(false);
                if let Some(list) = e.dyn_ref::<DragEvent>().and_then(|d| d.data_transfer()).and_then(|dt| dt.files()) {
                    files.emit(files::file_list(&list));
                }
            }),
        ));
    }
    out.push((
        "paste",
        Closure::new(move |e: Event| {
            let list = e.dyn_ref::<ClipboardEvent>().and_then(|c| c.clipboard_data()).and_then(|dt| dt.files());
            let list = list.map(|l| files::file_list(&l)).unwrap_or_default();
            if !list.is_empty() {
                e.prevent_default();
                files.emit(list);
            }
        }),
    ));
    for (name, closure) in &out {
        let _ = document.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
    }
    out
}

impl App {
    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn pick_model(&mut self, ctx: &Context<Self>, id: &str) {
        let Some(entry) = self.bundle.as_ref().and_then(|b| b.model(id)).cloned() else {
            self.error = Some(format!("bundle.json has no model '{id}'"));
            return;
        };
        // keep the image if it is one of this model's samples, else take its first sample
        let keep = self.desired_image.as_ref().and_then(|i| i.url.clone()).is_some_and(|u| entry.samples.contains(&u));
        let sample = if keep { None } else { entry.samples.first().cloned() };
        self.fetch += 1;
        let fetch = self.fetch;
        // a sample of the previous model arriving later must not replace this model's sample
        self.sample_fetch += 1;
        self.fetching_sample = None;
        self.fetching = Some(format!("downloading {}", entry.name));
        self.fetching_model = Some(entry.id.clone());
        ctx.link().send_future(async move {
            let result = async {
                let model = net::fetch_model(entry).await?;
                let sample = match sample {
                    Some(url) => Some((url.clone(), net::fetch_bytes(&url).await?)),
                    None => None,
                };
                Ok((model, sample))
            }
            .await;
            Msg::ModelFetched { fetch, result }
        });
    }

    fn set_desired_image(&mut self, name: String, bytes: Vec<u8>, url: Option<String>) {
        let generation = self.generation();
        self.desired_image = Some(Rc::new(ImageSource { generation, name, bytes: Rc::new(bytes), url }));
        self.settings.target = None;
    }

    fn take_files(&mut self, list: Vec<InFile>) {
        let dropped = files::classify(list);
        let errors = dropped.errors.join("; ");
        let mut changed = false;
        if let Some((name, bytes)) = dropped.model {
            let model = ModelSource {
                generation: self.generation(),
                name,
                bundle_id: None,
                onnx: Rc::new(bytes),
                sidecar: None,
                sidecar_json: dropped.sidecar_json,
                labels: dropped.labels,
                samples: Vec::new(),
            };
            self.desired_model = Some(Rc::new(model));
            changed = true;
        } else if dropped.sidecar_json.is_some() || dropped.labels.is_some() {
            // a sidecar or labels alone: reload the current model with them
            match self.desired_model.clone() {
                Some(m) => {
                    let sidecar_given = dropped.sidecar_json.is_some();
                    let model = ModelSource {
                        generation: self.generation(),
                        name: m.name.clone(),
                        bundle_id: m.bundle_id.clone(),
                        onnx: m.onnx.clone(),
                        sidecar: if sidecar_given { None } else { m.sidecar.clone() },
                        sidecar_json: dropped.sidecar_json.or_else(|| m.sidecar_json.clone()),
                        labels: dropped.labels.or_else(|| m.labels.clone()),
                        samples: m.samples.clone(),
                    };
                    self.desired_model = Some(Rc::new(model));
                    changed = true;
                }
                None => {
                    self.error =
                        Some("a sidecar or labels file needs a model: drop it together with the .onnx file".into())
                }
            }
        }
        if let Some((name, bytes)) = dropped.image {
            self.set_desired_image(name, bytes, None);
            changed = true;
        }
        if !errors.is_empty() {
            self.error = Some(errors);
        }
        if changed {
            self.after_change();
        }
    }

    fn commit_param(&mut self, p: Param) {
        let text = self.param_text[p.index()].trim().to_string();
        let Ok(v) = text.parse::<f32>() else {
            self.error = Some(format!("{}: '{text}' is not a number", p.name()));
            return;
        };
        if p.get(&self.settings.params) == v {
            return;
        }
        let mut params = self.settings.params.clone();
        p.set(&mut params, v);
        // keep α − β = 1 (the rule conserves relevance only then)
        match p {
            Param::Alpha => params.beta = v - 1.0,
            Param::Beta => params.alpha = v + 1.0,
            _ => {}
        }
        if let Err(e) = params.validate() {
            self.error = Some(e.to_string());
            return;
        }
        self.settings.params = params;
        self.param_text = param_texts(&self.settings.params);
        self.after_change();
    }

    // ---- what to do next ---------------------------------------------------------------------

    /// The explanation the page wants in the main slot (known once the image is preprocessed).
    pub(super) fn main_key(&self) -> Option<ExplainKey> {
        self.key_for(self.settings.method)
    }

    pub(super) fn key_for(&self, method: Method) -> Option<ExplainKey> {
        let m = self.desired_model.as_ref()?;
        let i = self.desired_image.as_ref()?;
        let info = self.image_info.as_ref().filter(|ii| ii.generation == i.generation)?;
        let model_ok = self.model_info.as_ref().is_some_and(|mi| mi.generation == m.generation);
        if !model_ok {
            return None;
        }
        Some(ExplainKey {
            model: m.generation,
            image: i.generation,
            method,
            params: normalized(method, &self.settings.params),
            target: self.settings.target.unwrap_or_else(|| info.predicted()),
        })
    }

    /// The explanations wanted beside the main one, in the order picked.
    pub(super) fn compare_keys(&self) -> Vec<ExplainKey> {
        self.settings.compare.iter().filter_map(|m| self.key_for(*m)).collect()
    }

    /// The explanations on show that are the wanted ones (main first): what pixel flipping runs on.
    fn shown_keys(&self) -> Vec<ExplainKey> {
        let main = self.main_key().filter(|k| self.main.as_ref().is_some_and(|m| &m.key == k));
        let compares = self.compare_keys().into_iter().filter(|k| self.compare.iter().any(|c| &c.key == k));
        main.into_iter().chain(compares).collect()
    }

    /// Whether a pixel-flipping run for `key` is still wanted (its map is still on show).
    fn faith_wanted(&self, key: &ExplainKey) -> bool {
        self.main_key().as_ref() == Some(key) || self.compare_keys().contains(key)
    }

    /// The next request to bring the worker to the wanted state.
    fn next_job(&self) -> Option<Job> {
        let model = self.desired_model.as_ref()?;
        if self.worker_model != Some(model.generation) {
            return Some(Job::LoadModel(model.generation));
        }
        let image = self.desired_image.as_ref()?;
        if self.worker_image != Some(image.generation) {
            return Some(Job::SetImage(image.generation));
        }
        let key = self.main_key()?;
        if self.main.as_ref().map(|s| &s.key) != Some(&key) && self.failed_main.as_ref() != Some(&key) {
            return Some(Job::Explain(Slot::Main, key));
        }
        for ck in self.compare_keys() {
            let shown = self.compare.iter().any(|c| c.key == ck);
            if !shown && !self.failed_compare.contains(&ck) {
                return Some(Job::Explain(Slot::Compare, ck));
            }
        }
        for fk in &self.faith_requested {
            if self.faith_wanted(fk) && !self.faith.iter().any(|f| &f.key == fk) {
                return Some(Job::Faithfulness(fk.clone()));
            }
        }
        None
    }

    /// After the wanted state changed: restart the worker if its current request is no longer
    /// wanted, then send what is next.
    fn after_change(&mut self) {
        self.notice = None;
        let wanted: Vec<ExplainKey> = self.faith_requested.iter().filter(|k| self.faith_wanted(k)).cloned().collect();
        if wanted.len() < self.faith_requested.len() && self.faith.len() < self.faith_requested.len() {
            self.notice = Some("Pixel flipping stopped: the maps it was measuring are no longer on show.".into());
        }
        self.faith_requested = wanted;
        if let Some(f) = &self.in_flight {
            if self.next_job().as_ref() != Some(&f.job) {
                self.restart();
            }
        }
        self.pump();
    }

    fn restart(&mut self) {
        self.in_flight = None;
        self.worker_model = None;
        self.worker_image = None;
        self.engine.spawn();
        self.busy = Some(Busy { stage: "restarting the engine".into(), done: 0, total: 0 });
    }

    /// Sends the next request if the worker is free.
    fn pump(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        if !self.engine.ready {
            if self.next_job().is_some() && self.engine.alive() {
                self.busy = Some(Busy { stage: "starting the engine".into(), done: 0, total: 0 });
            }
            return;
        }
        let Some(job) = self.next_job() else {
            self.busy = None;
            return;
        };
        let (model, image) = (self.desired_model.clone(), self.desired_image.clone());
        let (request, data, replay, stage) = match &job {
            Job::LoadModel(g) => {
                let m = model.as_ref().expect("next_job checked it");
                let request = Request::LoadModel {
                    name: m.name.clone(),
                    sidecar: m.sidecar.clone(),
                    sidecar_json: m.sidecar_json.clone(),
                    labels: m.labels.clone(),
                };
                let replay = self.committed_model.as_ref().is_some_and(|c| c.generation == *g);
                (request, vec![m.onnx.as_ref().clone()], replay, Stage::LoadingModel.label().to_string())
            }
            Job::SetImage(g) => {
                let i = image.as_ref().expect("next_job checked it");
                let replay = self.committed_image.as_ref().is_some_and(|c| c.generation == *g);
                (
                    Request::SetImage { name: i.name.clone() },
                    vec![i.bytes.as_ref().clone()],
                    replay,
                    Stage::Preprocessing.label().to_string(),
                )
            }
            Job::Explain(_, k) => (
                Request::Explain { method: k.method, params: k.params.clone(), target: Some(k.target) },
                Vec::new(),
                false,
                Stage::Relevance.label().to_string(),
            ),
            Job::Faithfulness(k) => (
                Request::Faithfulness { method: k.method, params: k.params.clone(), target: Some(k.target) },
                Vec::new(),
                false,
                Stage::Faithfulness.label().to_string(),
            ),
        };
        match self.engine.send(&request, &data) {
            Ok(id) => {
                self.in_flight = Some(InFlight { id, job, model, image, replay });
                self.busy = Some(Busy { stage, done: 0, total: 0 });
            }
            Err(e) => {
                self.error = Some(e);
                self.busy = None;
            }
        }
    }

    /// A request failed (or was cancelled, or crashed the worker): go back to what was committed.
    fn revert(&mut self, job: &Job) {
        match job {
            Job::LoadModel(g) => {
                if self.committed_model.as_ref().is_some_and(|c| c.generation == *g) {
                    // the committed model itself failed: nothing left to restore
                    self.committed_model = None;
                    self.committed_image = None;
                }
                self.desired_model = self.committed_model.clone();
                self.desired_image = self.committed_image.clone();
                self.restore_settings();
            }
            Job::SetImage(g) => {
                if self.committed_image.as_ref().is_some_and(|c| c.generation == *g) {
                    self.committed_image = None;
                }
                self.desired_image = self.committed_image.clone();
                self.restore_settings();
            }
            Job::Explain(Slot::Main, k) => self.failed_main = Some(k.clone()),
            Job::Explain(Slot::Compare, k) => self.failed_compare.push(k.clone()),
            Job::Faithfulness(_) => self.faith_requested.clear(),
        }
    }

    /// The method settings of the heatmap on show (after a cancel).
    fn restore_settings(&mut self) {
        if let Some(main) = self.main.as_ref().filter(|_| self.main_ready()) {
            self.settings.method = main.key.method;
            self.settings.target = Some(main.key.target);
            self.class_text = main.key.target.to_string();
        }
    }

    /// Stops what is running. A model or image that was loading is dropped (the previous one stays);
    /// an explanation keeps the user's choice of method and class and is only not computed until
    /// "Explain again"; pixel flipping is stopped. The page says which.
    fn cancel(&mut self) {
        let downloading = self.fetching.take().or(self.fetching_sample.take());
        self.fetch += 1;
        self.sample_fetch += 1;
        self.fetching_model = None;
        let job = self.in_flight.as_ref().map(|f| f.job.clone());
        let what = job.as_ref().map(|j| self.describe_job(j)).or(downloading);
        self.faith_requested.clear();
        if let Some(job) = job {
            let explain = matches!(job, Job::Explain(..));
            self.revert(&job);
            if !explain {
                self.desired_model = self.committed_model.clone();
                self.desired_image = self.committed_image.clone();
            }
            self.restart();
        }
        self.notice = what.map(|w| {
            let after = if w.starts_with("explaining") {
                " Your choice stays selected: press “Explain again” to compute it."
            } else if w.starts_with("loading") || w.starts_with("preparing") {
                " The previous model and image stay."
            } else {
                ""
            };
            format!("Cancelled: {w}.{after}")
        });
        self.pump();
    }

    // ---- answers ------------------------------------------------------------------------------

    /// Handles what the worker said; returns whether the page must be redrawn.
    fn on_engine(&mut self, ev: EngineEvent) -> bool {
        match ev {
            EngineEvent::Message { epoch, id, response, data } => {
                if epoch != self.engine.epoch() {
                    return false;
                }
                self.on_response(id, *response, data)
            }
            EngineEvent::StartTimeout { epoch } => {
                if epoch != self.engine.epoch() || self.engine.ready || !self.engine.alive() {
                    return false;
                }
                let secs = super::engine::START_TIMEOUT_MS / 1000;
                self.crashed(format!("the engine's worker did not start within {secs} s"));
                true
            }
            EngineEvent::Crashed { epoch, message } => {
                if epoch != self.engine.epoch() {
                    return false;
                }
                self.crashed(message);
                true
            }
        }
    }

    /// What a job was doing, with the name of the model or image it was loading.
    fn describe_job(&self, job: &Job) -> String {
        let named = |what: &str, name: Option<&String>| match name {
            Some(n) => format!("{what} {n}"),
            None => what.to_string(),
        };
        match job {
            Job::LoadModel(g) => {
                named("loading the model", self.desired_model.as_ref().filter(|m| m.generation == *g).map(|m| &m.name))
            }
            Job::SetImage(g) => named(
                "preparing the image",
                self.desired_image.as_ref().filter(|i| i.generation == *g).map(|i| &i.name),
            ),
            other => other.describe(),
        }
    }

    /// The worker died: say so, go back to what was committed, and start a new worker (unless it
    /// keeps dying).
    fn crashed(&mut self, message: String) {
        self.crashes += 1;
        let message = match self.panic_message.take() {
            Some(panic) => format!("the engine {panic}"),
            None => message,
        };
        let job = self.in_flight.take().map(|f| f.job);
        let during = job.as_ref().map(|j| format!(" while {}", self.describe_job(j))).unwrap_or_default();
        if let Some(job) = &job {
            self.revert(job);
        }
        self.worker_model = None;
        self.worker_image = None;
        web_sys::console::warn_1(&format!("rlrp: the engine crashed{during}: {message}").into());
        if self.crashes > MAX_CRASHES {
            self.engine.terminate();
            self.busy = None;
            self.error = Some(format!(
                "The engine crashed{during}: {message}. It keeps crashing, so it was not restarted: reload the page."
            ));
        } else {
            self.error = Some(format!(
                "The engine crashed{during}: {message}. It was restarted with the previous model and image."
            ));
            self.engine.spawn();
            self.pump();
        }
    }

    fn on_response(&mut self, id: u64, response: Response, mut data: Vec<Vec<u8>>) -> bool {
        if let Response::Ready = response {
            self.engine.ready = true;
            self.pump();
            return true;
        }
        if let Response::Panicked { message } = response {
            // The crash itself follows (the worker's error event).
            self.panic_message = Some(message);
            return false;
        }
        if self.in_flight.as_ref().is_none_or(|f| f.id != id) {
            if let Response::Error { message } = response {
                self.error = Some(message);
                return true;
            }
            return false;
        }
        if let Response::Progress { stage, done, total } = response {
            let label = match (stage, total) {
                (Stage::Relevance | Stage::Faithfulness, t) if t > 1 => format!("{} {done}/{total}", stage.label()),
                _ => stage.label().to_string(),
            };
            // redraw in steps of 2 % (a relevance pass reports every node)
            let step = |d: usize, t: usize| (d * 50).checked_div(t).unwrap_or(0);
            let redraw = match &self.busy {
                Some(b) => {
                    b.stage.split(' ').next() != label.split(' ').next()
                        || b.total != total
                        || step(b.done, b.total) != step(done, total)
                }
                None => true,
            };
            self.busy = Some(Busy { stage: label, done, total });
            return redraw;
        }
        let flight = self.in_flight.take().expect("checked above");
        let job = flight.job.clone();
        let mut ok = true;
        match (response, &job) {
            (Response::Error { message }, _) => {
                ok = false;
                self.revert(&job);
                self.error = Some(message);
            }
            (Response::ModelLoaded { name, info, sidecar, sidecar_source, load_ms }, Job::LoadModel(g)) => {
                let model = flight.model.clone();
                let new = self.committed_model.as_ref().is_none_or(|c| c.generation != *g);
                self.worker_model = Some(*g);
                self.worker_image = None;
                self.committed_model = model.clone();
                let user = model.as_ref().is_some_and(|m| m.bundle_id.is_none());
                self.model_info =
                    Some(LoadedInfo { generation: *g, name, user, info, sidecar, source: sidecar_source });
                self.timings.load_ms = Some(load_ms);
                if new {
                    self.committed_image = None;
                    self.image_info = None;
                    self.image_pic = None;
                    self.main = None;
                    self.compare.clear();
                    self.faith.clear();
                    self.timings = Timings { load_ms: Some(load_ms), ..Timings::default() };
                    self.repaint();
                }
            }
            (
                Response::ImageReady { name, width, height, top, classes, preprocess_ms, forward_ms },
                Job::SetImage(g),
            ) => {
                self.worker_image = Some(*g);
                self.committed_image = flight.image.clone();
                self.timings.preprocess_ms = Some(preprocess_ms);
                self.timings.forward_ms = Some(forward_ms);
                self.timings.relevance_ms = None;
                let rgb = if data.is_empty() { Vec::new() } else { data.swap_remove(0) };
                match image::RgbImage::from_raw(width as u32, height as u32, rgb) {
                    Some(display) => {
                        let same = self.image_info.as_ref().is_some_and(|i| i.generation == *g);
                        if !same {
                            self.image_pic = Some(Rc::new(Picture::from_rgb(&display)));
                            if self.settings.target.is_none() {
                                self.class_text = top.first().map(|c| c.class.to_string()).unwrap_or_default();
                            }
                        }
                        self.image_info =
                            Some(ImageInfo { generation: *g, name, top, classes, display: Rc::new(display) });
                        if !same {
                            self.repaint();
                        }
                    }
                    None => {
                        ok = false;
                        self.error = Some("the engine sent a picture of the wrong size".into());
                    }
                }
            }
            (Response::Explained { report, layer_maps, .. }, Job::Explain(slot, key)) => {
                let values = data.first().map(|d| f32_values(d)).unwrap_or_default();
                let npy = data.get(1).cloned().unwrap_or_default();
                let maps: Vec<_> =
                    layer_maps.into_iter().zip(data.into_iter().skip(2)).map(|(i, d)| (i, f32_values(&d))).collect();
                let shown = Shown {
                    key: key.clone(),
                    image_name: self.image_info.as_ref().map(|i| i.name.clone()).unwrap_or_default(),
                    report,
                    values,
                    npy,
                    layer_maps: maps,
                };
                match slot {
                    Slot::Main => {
                        self.timings.relevance_ms = Some(shown.report.timings.relevance_ms);
                        self.class_text = shown.report.target.to_string();
                        let keep =
                            self.layer.as_ref().is_some_and(|l| shown.layer_maps.iter().any(|(i, _)| &i.node == l));
                        if !keep {
                            self.layer = shown.layer_maps.last().map(|(i, _)| i.node.clone());
                        }
                        self.main = Some(shown);
                    }
                    Slot::Compare => {
                        self.compare.retain(|c| c.key.method != shown.key.method);
                        self.compare.push(shown);
                    }
                }
                self.repaint();
            }
            (
                Response::Faithfulness { patch, patches, steps, morf, random, aopc_morf, aopc_random, .. },
                Job::Faithfulness(key),
            ) => {
                let faith = Faith { key: key.clone(), patch, patches, steps, morf, random, aopc_morf, aopc_random };
                self.faith.retain(|f| f.key.method != key.method);
                self.faith.push(faith);
            }
            (other, _) => {
                ok = false;
                self.revert(&job);
                self.error = Some(format!("unexpected reply from the engine while {}: {other:?}", job.describe()));
            }
        }
        if ok {
            self.crashes = 0;
            if !flight.replay {
                self.error = None;
            }
        }
        self.busy = None;
        self.pump();
        true
    }

    // ---- pictures -----------------------------------------------------------------------------

    pub(super) fn main_ready(&self) -> bool {
        self.shown_ready(self.main.as_ref())
    }

    /// The explanation shown in compare tile `i` (of `settings.compare[i]`), if it is of the current
    /// model and image (it may be of another class or parameters: then it is stale).
    pub(super) fn compare_shown(&self, i: usize) -> Option<&Shown> {
        let m = self.settings.compare.get(i)?;
        self.compare.iter().find(|c| c.key.method == *m).filter(|c| self.shown_ready(Some(c)))
    }

    fn shown_ready(&self, s: Option<&Shown>) -> bool {
        let (Some(s), Some(m), Some(i)) = (s, &self.model_info, &self.image_info) else { return false };
        s.key.model == m.generation && s.key.image == i.generation
    }

    /// Paints the heatmaps and the layer map from the current explanations and style: each map on
    /// its own scale, or all on one (the largest clip, one contrast curve) with "same scale".
    fn repaint(&mut self) {
        let display = self.image_info.as_ref().map(|i| i.display.clone());
        self.heat = None;
        self.compare_painted = Vec::new();
        self.layer_pic = None;
        let Some(display) = display else { return };
        let main = self.main.as_ref().filter(|_| self.main_ready());
        let maps: Vec<Option<&Shown>> =
            std::iter::once(main).chain((0..self.settings.compare.len()).map(|i| self.compare_shown(i))).collect();
        let shared = (self.shared_scale && maps.iter().flatten().count() > 1).then(|| {
            let clip = maps
                .iter()
                .flatten()
                .map(|m| percentile_abs(&m.values, self.style.clip_percentile))
                .fold(0.0, f32::max);
            let all: Vec<f32> = maps.iter().flatten().flat_map(|m| m.values.iter().copied()).collect();
            Scale { clip, gamma: self.style.contrast.gamma(&all, clip) }
        });
        let (w, h) = (display.width() as usize, display.height() as usize);
        let style = self.style;
        let (view, opacity) = (self.view, self.opacity);
        let paint_one = |s: &Shown| -> Painted {
            let (scale, heat) = match shared {
                Some(sc) => {
                    let fixed = HeatmapStyle { contrast: Contrast::Gamma(sc.gamma), ..style };
                    paint_scaled(h, w, &s.values, &fixed, sc.clip)
                }
                None => paint(h, w, &s.values, &style),
            };
            let rgb = match view {
                HeatView::Overlay => overlay(&display, &heat, opacity),
                HeatView::Beside => image::DynamicImage::ImageRgba8(heat).to_rgb8(),
            };
            Painted { picture: Rc::new(Picture::from_rgb(&rgb)), rgb, scale }
        };
        let mut painted: Vec<Option<Painted>> = maps.iter().map(|m| m.map(paint_one)).collect();
        self.heat = painted.remove(0);
        self.compare_painted = painted;
        if let Some(main) = main {
            let layer = self.layer.as_ref().and_then(|l| main.layer_maps.iter().find(|(i, _)| &i.node == l));
            if let Some((info, values)) = layer {
                let style = HeatmapStyle { colormap: Colormap::Bwr, mode: ScaleMode::Signed, ..self.style };
                let (_, img) = paint(info.height, info.width, values, &style);
                self.layer_pic = Some(Rc::new(Picture::from_rgba(img)));
            }
        }
    }

    pub(super) fn download_stem(&self, s: &Shown) -> String {
        let stem = s.image_name.rsplit_once('.').map(|(a, _)| a).unwrap_or(&s.image_name);
        format!("{stem}_{}_class{}", s.key.method.name(), s.key.target)
    }

    /// Saves the main heatmap as shown (alone or blended over the image).
    fn download_png(&mut self) {
        let (Some(main), Some(heat)) = (self.main.as_ref(), self.heat.as_ref()) else { return };
        let name = format!("{}.png", self.download_stem(main));
        let result =
            encode_png(&heat.rgb).map_err(|e| e.to_string()).and_then(|png| files::download(&name, "image/png", &png));
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    pub(super) fn model_select_value(&self) -> String {
        if let Some(id) = &self.fetching_model {
            return id.clone();
        }
        self.desired_model.as_ref().and_then(|m| m.bundle_id.clone()).unwrap_or_default()
    }

    /// Whether anything is going on (downloads, the worker, or work waiting for the worker).
    pub(super) fn is_busy(&self) -> bool {
        self.fetching.is_some() || self.fetching_sample.is_some() || self.in_flight.is_some() || self.busy.is_some()
    }
}
