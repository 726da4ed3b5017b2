//! The page's layout and the props of its panels: `App` builds each panel's props from its state
//! and the page's ([`crate::app::page::PageState`]); the panels themselves are in
//! [`super::panels`] (the `data-testid` hooks are the contract with the tests).
use super::app::{App, Msg};
use super::panels::controls::{ControlSelects, ControlsPanel};
use super::panels::faithfulness::FaithfulnessPanel;
use super::panels::input::InputPanel;
use super::panels::layers::LayersPanel;
use super::panels::picture::{CompareTile, MainMap, PicturePanel};
use super::panels::prediction::{Numbers, PredictionPanel, Times};
use super::panels::status::StatusPanel;
use super::state::fmt_num;
use crate::app::page::{Faith, Param, Shown, MAX_COMPARE};
use crate::app::protocol::SidecarSource;
use std::rc::Rc;
use yew::prelude::*;

impl App {
    /// The page. The DOM order is the reading order on a phone (drop → picture → prediction →
    /// controls → faithfulness → layers); the desktop grid places the same cards in columns.
    pub(super) fn view_page(&self, ctx: &Context<Self>) -> Html {
        // Every panel sends its messages to App through this callback.
        let on_msg = ctx.link().callback(|msg: Msg| msg);
        html! {
            <div class={classes!("app", self.dragging.then_some("dragging"))}>
                <header class="top">
                    <div class="brand">
                        <h1>{ "rlrp-web" }</h1>
                        <p class="tagline">{ "Why did the classifier say that? R-LRP and classical LRP heatmaps, \
                                               computed in your browser: nothing leaves your machine." }</p>
                    </div>
                </header>
                <main class="layout">
                    { self.input_panel(&on_msg) }
                    { self.picture_panel(&on_msg) }
                    { self.prediction_panel(&on_msg) }
                    { self.controls_panel(&on_msg) }
                    { self.faithfulness_panel(&on_msg) }
                    { self.layers_panel(&on_msg) }
                </main>
                <footer class="foot">
                    <p>{ "Red pushes the class score up, blue pushes it down, white is no effect. R-LRP: relevance \
                          U = x ⊙ Wᵀ R rescaled to keep ‖R‖₁ at every linear layer; κ = ΣR_input / f_c(x)." }</p>
                </footer>
                { self.status_panel(&on_msg) }
            </div>
        }
    }

    fn input_panel(&self, on_msg: &Callback<Msg>) -> Html {
        let models = Rc::new(self.bundle.as_ref().map(|b| b.models.clone()).unwrap_or_default());
        let user = self.page.desired_model().is_some_and(|m| m.bundle_id.is_none()) && self.fetching_model.is_none();
        let model_name = self.page.model_info().map(|m| m.name.clone()).unwrap_or_else(|| "none yet".into());
        let samples = self.page.desired_model().map(|m| m.samples.clone()).unwrap_or_default();
        let current_sample = self.page.desired_image().and_then(|i| i.url.clone());
        // Thumbnails are the full sample files: fetch them only after the first heatmap (or a
        // failure), so they do not compete with the wasm and the model on the way to it.
        let thumbnails = self.page.main().is_some() || self.page.error().is_some();
        let info = self.page.model_info().map(|m| {
            let i = &m.info;
            let shape = i.input_shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×");
            format!("input {shape} · {} classes · {} weighted layers · opset {}", i.classes, i.weighted_layers, i.opset)
        });
        let form = self
            .page
            .model_info()
            .filter(|m| m.user && m.source != SidecarSource::File)
            .map(|m| (m.generation.to_string(), m.sidecar.clone(), m.source == SidecarSource::Given));
        html! {
            <InputPanel models={models} current={self.model_select_value()} user={user} model_name={model_name}
                        samples={samples} current_sample={current_sample} thumbnails={thumbnails} info={info}
                        form={form} file_input={self.file_input.clone()} select={self.selects.model.clone()}
                        on_msg={on_msg.clone()} />
        }
    }

    /// The model input size (the preprocessed picture's size).
    fn input_size(&self) -> (u32, u32) {
        if let Some(p) = &self.image_pic {
            return (p.width, p.height);
        }
        match self.page.model_info() {
            Some(m) => (m.sidecar.input.width as u32, m.sidecar.input.height as u32),
            None => (224, 224),
        }
    }

    /// "R-LRP · class 285 “Egyptian cat” · κ = 1.0": what a map shows.
    fn map_caption(s: &Shown) -> String {
        let label = s.report.target_label.as_ref().map(|l| format!(" “{l}”")).unwrap_or_default();
        let kappa = s.report.kappa.map(|k| format!(" · κ = {}", fmt_num(k, 3))).unwrap_or_default();
        format!("{} · class {}{label}{kappa}", s.key.method.label(), s.report.target)
    }

    fn picture_panel(&self, on_msg: &Callback<Msg>) -> Html {
        let ready = self.page.main_ready();
        let main = self.page.main_shown();
        let wanted = self.page.main_key();
        let stale = ready && wanted.is_some() && main.is_some_and(|m| Some(&m.key) != wanted.as_ref());
        let main_map = main.map(|m| MainMap {
            caption: Self::map_caption(m),
            image_name: m.image_name.clone(),
            method: m.key.method,
            target: m.report.target,
            warning: m.report.warning.clone(),
        });
        let compare = self
            .page
            .settings()
            .compare
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let shown = self.page.compare_shown(i);
                CompareTile {
                    method: *m,
                    caption: shown.map(Self::map_caption),
                    stale: shown.is_some_and(|s| self.page.key_for(*m).as_ref() != Some(&s.key)),
                    scale: self.compare_painted.get(i).and_then(|p| p.as_ref()).map(|p| p.scale),
                    warning: shown.and_then(|c| c.report.warning.clone()),
                    canvas: self.canvases.compare[i.min(MAX_COMPARE - 1)].node.clone(),
                }
            })
            .collect::<Vec<_>>();
        html! {
            <PicturePanel size={self.input_size()} ready={ready} held={self.page.held()} stale={stale} busy={self.is_busy()}
                          model={self.page.model_info().map(|m| m.name.clone()).unwrap_or_default()}
                          image_name={self.page.image_info().map(|i| i.name.clone()).unwrap_or_default()}
                          view={self.view} colormap={self.style.colormap} mode={self.style.mode} main={main_map}
                          main_scale={self.heat.as_ref().map(|p| p.scale)} compare={compare}
                          image_canvas={self.canvases.image.node.clone()} heat_canvas={self.canvases.heat.node.clone()}
                          on_msg={on_msg.clone()} />
        }
    }

    fn controls_panel(&self, on_msg: &Callback<Msg>) -> Html {
        let settings = self.page.settings();
        let params: Vec<_> = Param::ALL.iter().map(|&p| (p, self.page.param_text(p).to_string())).collect();
        let selects = ControlSelects {
            method: self.selects.method.clone(),
            view: self.selects.view.clone(),
            colormap: self.selects.colormap.clone(),
            mode: self.selects.mode.clone(),
            contrast: self.selects.contrast.clone(),
        };
        html! {
            <ControlsPanel method={settings.method} params={params} compare={settings.compare.clone()} view={self.view}
                           opacity={self.opacity} colormap={self.style.colormap} mode={self.style.mode}
                           contrast={self.style.contrast} clip_text={self.clip_text.clone()}
                           shared_scale={self.shared_scale} selects={selects} on_msg={on_msg.clone()} />
        }
    }

    /// The status panel's props: progress, cancel, notices and errors.
    fn status_panel(&self, on_msg: &Callback<Msg>) -> Html {
        html! {
            <StatusPanel progress={self.progress.clone()}
                         error={self.page.error().map(str::to_string)} notice={self.page.notice().map(str::to_string)}
                         on_msg={on_msg.clone()} />
        }
    }

    fn prediction_panel(&self, on_msg: &Callback<Msg>) -> Html {
        let top = Rc::new(self.page.image_info().map(|i| i.top.clone()).unwrap_or_default());
        let classes = self.page.image_info().map(|i| i.classes).unwrap_or(0);
        let numbers = self.page.main_shown().map(|m| Numbers::of(&m.report));
        html! {
            <PredictionPanel top={top} classes={classes} class_text={self.page.class_text().to_string()}
                             numbers={numbers} timings={Times::of(self.page.timings())} on_msg={on_msg.clone()} />
        }
    }

    fn faithfulness_panel(&self, on_msg: &Callback<Msg>) -> Html {
        let ready = self.page.main_ready();
        let keys: Vec<_> = self.page.main_key().into_iter().chain(self.page.compare_keys()).collect();
        let runs: Vec<Faith> = keys
            .iter()
            .filter_map(|k| self.page.faith().iter().find(|f| &f.key == k))
            .filter(|_| ready)
            .cloned()
            .collect();
        html! {
            <FaithfulnessPanel ready={ready} methods={keys.len()} requested={self.page.faith_requested().len()}
                               runs={Rc::new(runs)} on_msg={on_msg.clone()} />
        }
    }

    fn layers_panel(&self, on_msg: &Callback<Msg>) -> Html {
        let main = self.page.main_shown();
        let layers = main.map(|m| m.report.layers.clone()).unwrap_or_default();
        let maps: Vec<_> = main.map(|m| m.layer_maps.iter().map(|(i, _)| i.clone()).collect()).unwrap_or_default();
        let size = self.layer_pic.as_ref().map(|p| (p.width, p.height)).unwrap_or((1, 1));
        html! {
            <LayersPanel layers={Rc::new(layers)} maps={Rc::new(maps)} layer={self.page.layer().map(str::to_string)}
                         size={size} painted={self.layer_pic.is_some()} canvas={self.canvases.layer.node.clone()}
                         select={self.selects.layer.clone()} on_msg={on_msg.clone()} />
        }
    }
}
