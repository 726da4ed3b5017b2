//! The root component: the Yew glue around the page's state machine ([`PageState`], plain Rust,
//! tested natively). It turns messages into state calls and applies the effects they record (spawn,
//! terminate or send to the engine's worker; paint the image and the heatmaps), and holds what
//! belongs to the browser: the engine handle, the downloads of bundled models and samples, the
//! display settings, the painted pictures, canvases and select elements.
use super::engine::{Engine, EngineEvent};
use super::files::{self, InFile};
use super::net::{self, Bundle, FetchedModel};
use super::paint::{png_data_url, CanvasSlot, Picture};
use super::panels::status::{ProgressFeed, ProgressLine};
use super::state::HeatView;
use crate::app::page::{Effect, ModelSource, PageState, Param, Shown, MAX_COMPARE};
use crate::app::protocol::Response;
use crate::heatmap::{
    overlay, paint, paint_scaled, percentile_abs, Colormap, Contrast, HeatmapStyle, Scale, ScaleMode,
};
use crate::method::Method;
use crate::sidecar::Sidecar;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ClipboardEvent, DragEvent, Event, File, HtmlElement, HtmlSelectElement};
use yew::prelude::*;

/// Document event listeners, kept alive with the app.
type Listeners = Vec<(&'static str, Closure<dyn FnMut(Event)>)>;

/// A fetched bundled model and, unless the current image is one of its samples, its first sample.
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
    /// Registers the offline service worker now (see [`SERVICE_WORKER_DELAY_MS`]).
    RegisterServiceWorker,
}

/// The offline service worker is registered once the first heatmap is on show (or an error is), or
/// after this long at the latest: its install downloads every file of the page again, and during
/// start-up those downloads delayed the engine's own worker script by ~0.7 s (measured, Chromium).
const SERVICE_WORKER_DELAY_MS: u32 = 15_000;

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

pub struct App {
    engine: Engine,
    /// What the page wants, what the worker holds, the results and the status texts.
    pub(super) page: PageState,

    pub(super) bundle: Option<Bundle>,
    /// Incremented by every new download and by Cancel: answers of older downloads are dropped.
    fetch: u64,
    /// The same for sample images.
    sample_fetch: u64,
    pub(super) fetching: Option<String>,
    pub(super) fetching_sample: Option<String>,
    pub(super) fetching_model: Option<String>,

    pub(super) style: HeatmapStyle,
    pub(super) view: HeatView,
    pub(super) opacity: f32,
    pub(super) shared_scale: bool,
    pub(super) clip_text: String,
    pub(super) dragging: bool,

    pub(super) image_pic: Option<Rc<Picture>>,
    pub(super) heat: Option<Painted>,
    /// The compared maps as painted, in the order of `settings.compare`.
    pub(super) compare_painted: Vec<Option<Painted>>,
    pub(super) layer_pic: Option<Rc<Picture>>,
    pub(super) canvases: Canvases,
    pub(super) selects: Selects,
    pub(super) file_input: NodeRef,
    /// What the progress line shows (it re-renders on its own: [`ProgressFeed`]).
    pub(super) progress: ProgressFeed,
    _listeners: Listeners,
    /// The fallback timer of the deferred service-worker registration; None once registered.
    service_worker: Option<gloo_timers::callback::Timeout>,
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        let link = ctx.link();
        let engine = Engine::new(link.callback(Msg::Engine));
        let register = link.callback(|()| Msg::RegisterServiceWorker);
        let service_worker = gloo_timers::callback::Timeout::new(SERVICE_WORKER_DELAY_MS, move || register.emit(()));
        link.send_future(async { Msg::Bundle(net::fetch_bundle().await) });
        // The page's default contrast is auto: a sparse map (R-LRP on a deep network puts half of
        // |R| on 1 % of the pixels) still shows where the rest of its evidence is.
        let style = HeatmapStyle { contrast: Contrast::Auto, ..HeatmapStyle::default() };
        let app = App {
            engine,
            page: PageState::new(),
            bundle: None,
            fetch: 0,
            sample_fetch: 0,
            fetching_sample: None,
            fetching: Some("downloading bundle.json".into()),
            fetching_model: None,
            clip_text: style.clip_percentile.to_string(),
            style,
            view: HeatView::default(),
            opacity: 0.6,
            shared_scale: false,
            dragging: false,
            image_pic: None,
            heat: None,
            compare_painted: Vec::new(),
            layer_pic: None,
            canvases: Canvases::default(),
            selects: Selects::default(),
            file_input: NodeRef::default(),
            progress: ProgressFeed::default(),
            _listeners: document_listeners(ctx),
            service_worker: Some(service_worker),
        };
        app.show_progress();
        app
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Engine(ev) => {
                // A progress report changes the progress line alone.
                let progress = matches!(&ev, EngineEvent::Message { response, .. } if matches!(**response, Response::Progress { .. }));
                let redraw = self.on_engine(ev);
                self.apply();
                if self.page.main_ready() || self.page.error().is_some() {
                    self.register_service_worker();
                }
                self.show_progress();
                return redraw && !progress;
            }
            Msg::RegisterServiceWorker => self.register_service_worker(),
            Msg::Bundle(Ok(bundle)) => {
                self.fetching = None;
                let default = bundle.default.clone();
                self.bundle = Some(bundle);
                self.pick_model(ctx, &default);
            }
            Msg::Bundle(Err(e)) => {
                self.fetching = None;
                self.page.show_error(e);
            }
            Msg::PickModel(id) => {
                let current = self.page.desired_model().and_then(|m| m.bundle_id.as_deref());
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
                            generation: self.page.new_generation(),
                            name: fm.entry.name.clone(),
                            bundle_id: Some(fm.entry.id.clone()),
                            onnx: Rc::new(fm.onnx),
                            external: Rc::default(),
                            sidecar: None,
                            sidecar_json: fm.sidecar_json,
                            labels: fm.labels,
                            samples: fm.entry.samples.clone(),
                        };
                        let image = sample.map(|(url, bytes)| (net::file_name(&url), bytes, Some(url)));
                        self.page.set_sources(Some(model), image);
                    }
                    Err(e) => self.page.show_error(e),
                }
            }
            Msg::PickSample(url) => {
                if self.page.desired_image().and_then(|i| i.url.as_deref()) != Some(url.as_str()) {
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
                    Ok(bytes) => self.page.set_sources(None, Some((net::file_name(&url), bytes, Some(url)))),
                    Err(e) => self.page.show_error(e),
                }
            }
            Msg::Files(list) => {
                if list.is_empty() {
                    return false;
                }
                ctx.link().send_future(async move { Msg::FilesRead(files::read_files(list).await) });
            }
            Msg::FilesRead(Ok(list)) => self.take_files(list),
            Msg::FilesRead(Err(e)) => self.page.show_error(e),
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
            Msg::SetMethod(m) => self.page.set_method(m),
            Msg::ParamText(p, s) => self.page.set_param_text(p, s),
            Msg::ParamCommit(p) => self.page.commit_param(p),
            Msg::SetTarget(c) => self.page.set_target(c),
            Msg::ClassText(s) => self.page.set_class_text(s),
            Msg::ClassGo => self.page.class_go(),
            Msg::ToggleCompare(m) => {
                if !self.page.toggle_compare(m) {
                    return false;
                }
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
            Msg::Retry => self.page.retry(),
            Msg::DismissNotice => self.page.dismiss_notice(),
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
                _ => self
                    .page
                    .show_error(format!("clip percentile: '{}' is not a number from 0 to 100", self.clip_text.trim())),
            },
            Msg::SetLayer(node) => self.page.set_layer(node),
            Msg::RunFaithfulness => self.page.run_faithfulness(),
            Msg::DownloadPng => self.download_png(),
            Msg::DownloadNpy => {
                if let Some(main) = self.page.main_shown() {
                    let name = format!("{}.npy", self.download_stem(main));
                    if let Err(e) = files::download(&name, "application/octet-stream", &main.npy) {
                        self.page.show_error(e);
                    }
                }
            }
            Msg::Cancel => {
                let downloading = self.fetching.take().or(self.fetching_sample.take());
                self.fetch += 1;
                self.sample_fetch += 1;
                self.fetching_model = None;
                self.page.cancel(downloading);
            }
            Msg::DismissError => self.page.dismiss_error(),
            Msg::ApplySidecar(sc) => self.page.apply_sidecar(sc),
            Msg::ShowError(e) => self.page.show_error(e),
        }
        self.apply();
        self.show_progress();
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
        let layer = self.page.layer().unwrap_or_default();
        for (node, value) in [
            (&self.selects.model, model.as_str()),
            (&self.selects.method, self.page.settings().method.name()),
            (&self.selects.view, view),
            (&self.selects.colormap, colormap),
            (&self.selects.mode, mode),
            (&self.selects.contrast, contrast),
            (&self.selects.layer, layer),
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
    /// Does what the page state asked for, in order: the worker (a send's outcome goes back to the
    /// state), the image picture, and one repaint of the heatmaps at the end.
    fn apply(&mut self) {
        loop {
            let effects = self.page.take_effects();
            if effects.is_empty() {
                return;
            }
            let mut repaint = false;
            for effect in effects {
                match effect {
                    Effect::SpawnWorker => {
                        self.engine.spawn();
                        debug_assert_eq!(self.engine.epoch(), self.page.epoch());
                    }
                    Effect::TerminateWorker => self.engine.terminate(),
                    Effect::Send(out) => {
                        let result = self.engine.send(&out.request, &out.data);
                        self.page.sent(result);
                    }
                    Effect::PaintImage => {
                        self.image_pic = self.page.image_info().map(|i| Rc::new(Picture::from_rgb(&i.display)));
                    }
                    Effect::Repaint => repaint = true,
                    Effect::Warn(text) => web_sys::console::warn_1(&text.into()),
                }
            }
            if repaint {
                self.repaint();
            }
        }
    }

    /// Hands what the worker said to the page state; returns whether the page must be redrawn.
    fn on_engine(&mut self, ev: EngineEvent) -> bool {
        match ev {
            EngineEvent::Message { epoch, id, response, data } => self.page.on_message(epoch, id, *response, data),
            EngineEvent::StartTimeout { epoch } => {
                if !self.engine.alive() {
                    return false;
                }
                let secs = super::engine::START_TIMEOUT_MS / 1000;
                self.page.on_start_timeout(epoch, format!("the engine's worker did not start within {secs} s"))
            }
            EngineEvent::Crashed { epoch, message } => self.page.on_crash(epoch, message),
        }
    }

    /// Registers the offline service worker, once.
    fn register_service_worker(&mut self) {
        if self.service_worker.take().is_some() {
            net::register_service_worker();
        }
    }

    fn pick_model(&mut self, ctx: &Context<Self>, id: &str) {
        let Some(entry) = self.bundle.as_ref().and_then(|b| b.model(id)).cloned() else {
            self.page.show_error(format!("bundle.json has no model '{id}'"));
            return;
        };
        // keep the image if it is one of this model's samples, else take its first sample
        let keep = self.page.desired_image().and_then(|i| i.url.clone()).is_some_and(|u| entry.samples.contains(&u));
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

    fn take_files(&mut self, list: Vec<InFile>) {
        let dropped = files::classify(list);
        self.page.take_files(
            dropped.model,
            dropped.external,
            dropped.sidecar_json,
            dropped.labels,
            dropped.image,
            dropped.errors,
        );
    }

    // ---- pictures -----------------------------------------------------------------------------

    /// Paints the heatmaps and the layer map from the current explanations and style: each map on
    /// its own scale, or all on one (the largest clip, one contrast curve) with "same scale".
    fn repaint(&mut self) {
        let page = &self.page;
        let display = page.image_info().map(|i| i.display.clone());
        self.heat = None;
        self.compare_painted = Vec::new();
        self.layer_pic = None;
        let Some(display) = display else { return };
        let main = page.main_shown();
        let maps: Vec<Option<&Shown>> =
            std::iter::once(main).chain((0..page.settings().compare.len()).map(|i| page.compare_shown(i))).collect();
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
            let layer = page.layer().and_then(|l| main.layer_maps.iter().find(|(i, _)| i.node == l));
            if let Some((info, values)) = layer {
                let style = HeatmapStyle { colormap: Colormap::Bwr, mode: ScaleMode::Signed, ..self.style };
                let (_, img) = paint(info.height, info.width, values, &style);
                self.layer_pic = Some(Rc::new(Picture::from_rgba(img)));
            }
        }
    }

    fn download_stem(&self, s: &Shown) -> String {
        let stem = s.image_name.rsplit_once('.').map(|(a, _)| a).unwrap_or(&s.image_name);
        format!("{stem}_{}_class{}", s.key.method.name(), s.key.target)
    }

    /// Saves the main heatmap as shown (alone or blended over the image).
    fn download_png(&mut self) {
        let (Some(main), Some(heat)) = (self.page.main(), self.heat.as_ref()) else { return };
        let name = format!("{}.png", self.download_stem(main));
        let result = png_data_url(&Picture::from_rgb(&heat.rgb)).and_then(|url| files::download_url(&name, &url));
        if let Err(e) = result {
            self.page.show_error(e);
        }
    }

    pub(super) fn model_select_value(&self) -> String {
        if let Some(id) = &self.fetching_model {
            return id.clone();
        }
        self.page.desired_model().and_then(|m| m.bundle_id.clone()).unwrap_or_default()
    }

    /// Hands the progress line its state (it re-renders if that changed).
    fn show_progress(&self) {
        let downloading = self.fetching.as_deref().or(self.fetching_sample.as_deref());
        self.progress.set(ProgressLine::of(self.is_busy(), downloading, self.page.busy()));
    }

    /// Whether anything is going on (downloads, the worker, or work waiting for the worker).
    pub(super) fn is_busy(&self) -> bool {
        self.fetching.is_some() || self.fetching_sample.is_some() || self.page.is_busy()
    }
}
