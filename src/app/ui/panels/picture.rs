//! The picture panel: the model input and the heatmaps (the main method's and up to three
//! compared ones) side by side at one size, each with its caption and colour bar, the warnings,
//! "Explain again" when the maps are held, and the downloads. `App` paints the canvases.
use super::{canvas_class, Msg};
use crate::app::ui::app::view_name;
use crate::app::ui::charts;
use crate::app::ui::state::HeatView;
use crate::heatmap::{Colormap, Scale, ScaleMode};
use crate::method::Method;
use yew::prelude::*;

/// The main map as shown.
#[derive(Clone, Debug, PartialEq)]
pub struct MainMap {
    /// "R-LRP · class 285 “Egyptian cat” · κ = 1.0".
    pub caption: String,
    /// The image it was computed on.
    pub image_name: String,
    pub method: Method,
    pub target: usize,
    /// Why the map cannot be trusted, if it cannot.
    pub warning: Option<String>,
}

/// A compared method's tile.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareTile {
    pub method: Method,
    /// The caption of its map, once it is shown.
    pub caption: Option<String>,
    /// The map shown is not the one wanted now.
    pub stale: bool,
    /// The scale of the painted map, once painted.
    pub scale: Option<Scale>,
    pub warning: Option<String>,
    /// The canvas `App` paints the map on.
    pub canvas: NodeRef,
}

#[derive(Properties, PartialEq)]
pub struct PictureProps {
    /// The model input size (width, height).
    pub size: (u32, u32),
    /// The main map is shown for the current model and image.
    pub ready: bool,
    /// The maps shown are not the ones wanted (cancelled or failed).
    pub held: bool,
    /// The main map shown is not the one wanted now.
    pub stale: bool,
    /// Anything going on (the placeholder says "computing…").
    pub busy: bool,
    pub model: String,
    pub image_name: String,
    pub view: HeatView,
    pub colormap: Colormap,
    pub mode: ScaleMode,
    pub main: Option<MainMap>,
    /// The scale of the painted main heatmap.
    pub main_scale: Option<Scale>,
    pub compare: Vec<CompareTile>,
    /// The canvases `App` paints the image and the main heatmap on.
    pub image_canvas: NodeRef,
    pub heat_canvas: NodeRef,
    pub on_msg: Callback<Msg>,
}

fn warning_line(testid: &'static str, warning: &str) -> Html {
    html! {
        <p data-testid={testid} class="map-warning" role="alert">
            <strong>{ "This map cannot be trusted: " }</strong>{ warning.to_string() }
        </p>
    }
}

#[function_component(PicturePanel)]
pub fn picture_panel(props: &PictureProps) -> Html {
    let on_msg = &props.on_msg;
    let (w, h) = props.size;
    let ready = props.ready;
    let main = props.main.as_ref();
    let image_name = props.image_name.clone();
    let tiles = 2 + props.compare.len();
    let placeholder = if props.busy { "computing…" } else { "no heatmap yet" };
    let main_caption = main.map(|m| m.caption.clone()).unwrap_or_else(|| placeholder.to_string());
    let overlay = props.view == HeatView::Overlay;
    let compare_tiles = props.compare.iter().map(|t| {
        let caption = match &t.caption {
            Some(c) => c.clone(),
            None => format!("{} · {placeholder}", t.method.label()),
        };
        html! {
            <figure class="tile heat-tile">
                <canvas data-testid="compare-canvas" class={classes!(canvas_class("heatmap", w), t.stale.then_some("stale"))}
                        ref={t.canvas.clone()}
                        width={w.to_string()} height={h.to_string()}
                        data-state={if t.scale.is_some() { "ready" } else { "empty" }} data-method={t.method.name()}
                        role="img" aria-label={format!("heatmap: {caption}")}></canvas>
                <figcaption>{ caption }</figcaption>
                { charts::colorbar(props.colormap, props.mode, t.scale) }
                if let Some(warning) = &t.warning {
                    { warning_line("compare-warning", warning) }
                }
            </figure>
        }
    });
    html! {
        <section class="card picture-card" aria-labelledby="h-picture">
            <h2 id="h-picture">{ "Explanation" }</h2>
            if props.held {
                <p class="held" data-testid="held">
                    { "Not computed for your current choice (cancelled or failed): the maps shown are the previous ones. " }
                    <button type="button" data-testid="retry" onclick={on_msg.reform(|_| Msg::Retry)}>{ "Explain again" }</button>
                </p>
            }
            <div class={classes!("tiles", format!("tiles-{tiles}"))} data-testid="tiles">
                <figure class="tile image-tile">
                    <canvas data-testid="image-canvas" class={canvas_class("picture", w)} ref={props.image_canvas.clone()}
                            width={w.to_string()} height={h.to_string()} data-image={image_name.clone()}
                            role="img" aria-label={format!("the model input {image_name}")}></canvas>
                    <figcaption>{ format!("Model input {w} × {h}: ") }<span class="mono">{ image_name }</span></figcaption>
                </figure>
                <figure class="tile heat-tile">
                    <canvas data-testid="heatmap-canvas" class={classes!(canvas_class("heatmap", w), props.stale.then_some("stale"))}
                            ref={props.heat_canvas.clone()} width={w.to_string()} height={h.to_string()}
                            data-state={if ready { "ready" } else { "empty" }}
                            data-view={view_name(props.view)}
                            data-image={main.map(|m| m.image_name.clone()).unwrap_or_default()}
                            data-method={main.map(|m| m.method.name()).unwrap_or_default()}
                            data-target={main.map(|m| m.target.to_string()).unwrap_or_default()}
                            data-model={props.model.clone()}
                            role="img" aria-label={format!("heatmap{}: {main_caption}", if overlay { " over the image" } else { "" })}></canvas>
                    <figcaption>{ main_caption }</figcaption>
                    { charts::colorbar(props.colormap, props.mode, props.main_scale) }
                </figure>
                { for compare_tiles }
            </div>
            if let Some(warning) = main.and_then(|m| m.warning.as_deref()) {
                { warning_line("map-warning", warning) }
            }
            <div class="row downloads">
                <button type="button" data-testid="download-png" disabled={!ready}
                        onclick={on_msg.reform(|_| Msg::DownloadPng)}>{ "Save heatmap (.png)" }</button>
                <button type="button" data-testid="download-npy" disabled={!ready}
                        onclick={on_msg.reform(|_| Msg::DownloadNpy)}>{ "Save relevance (.npy)" }</button>
            </div>
        </section>
    }
}
