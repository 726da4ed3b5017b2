//! The layers panel: ‖R‖₁ after every layer as a chart, and one layer's relevance map (picked on
//! the chart or by name) with its numbers. `App` paints the map on the canvas.
use super::{canvas_class, select_value, Msg};
use crate::app::protocol::LayerMapInfo;
use crate::app::ui::charts;
use crate::app::ui::state::fmt_num;
use crate::report::LayerMass;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct LayersProps {
    /// ‖R‖₁ and ΣR after every layer of the main map.
    pub layers: Rc<Vec<LayerMass>>,
    /// The layers that have a map.
    pub maps: Rc<Vec<LayerMapInfo>>,
    /// The node whose map is shown.
    pub layer: Option<String>,
    /// The size of the painted layer map ((1, 1) without one).
    pub size: (u32, u32),
    /// A layer map is painted.
    pub painted: bool,
    /// The canvas `App` paints the layer map on.
    pub canvas: NodeRef,
    /// The layer select (`App` keeps its value in sync).
    pub select: NodeRef,
    pub on_msg: Callback<Msg>,
}

/// A layer's readable name: its kind and index, and its output shape ("Conv 12 · 112×14×14").
fn layer_name(label: &str, node: &str, shape: Option<&[usize]>, h: usize, w: usize) -> String {
    let name = if label.is_empty() { node } else { label };
    let dims = match shape {
        Some(s) if s.len() == 4 => format!("{}×{}×{}", s[1], s[2], s[3]),
        _ => format!("{h}×{w}"),
    };
    format!("{name} · {dims}")
}

#[function_component(LayersPanel)]
pub fn layers_panel(props: &LayersProps) -> Html {
    let layers = props.layers.as_slice();
    let maps = props.maps.as_slice();
    let on_layer = props.on_msg.reform(|e: Event| Msg::SetLayer(select_value(&e)));
    let (w, h) = props.size;
    let selected = props.layer.clone().unwrap_or_default();
    let shape_of = |node: &str| layers.iter().find(|l| l.node == node).map(|l| l.shape.as_slice());
    let pickable: Vec<String> = maps.iter().map(|i| i.node.clone()).collect();
    let readout = layers.iter().find(|l| l.node == selected).map(|l| {
        let shape = l.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×");
        format!(
            "{} ({}, node {}) · output {shape} · ‖R‖₁ = {} · ΣR = {}",
            if l.label.is_empty() { &l.node } else { &l.label },
            l.op,
            l.node,
            fmt_num(l.l1, 4),
            fmt_num(l.sum, 4)
        )
    });
    html! {
        <section class="card layers-card" aria-labelledby="h-layers">
            <h2 id="h-layers">{ "Relevance through the layers" }</h2>
            <p class="hint">{ "‖R‖₁ of the relevance after every layer, from the logit down to the input (log scale): \
                               where the method loses or gains relevance mass. Click or tap a ringed point, use ← → \
                               on the focused chart, or pick a layer below, to see its numbers and its map." }</p>
            <div class="layers-body">
            <div class="chart-wrap">{ charts::layer_chart(layers, props.layer.as_deref(), &pickable, &props.on_msg.reform(Msg::SetLayer)) }</div>
            <div class="layer-view">
                <label class="field" for="layer-picker">{ "Layer map" }
                    <select id="layer-picker" data-testid="layer-picker" ref={props.select.clone()} onchange={on_layer}
                            disabled={maps.is_empty()}>
                        { for maps.iter().map(|info| html! {
                            <option value={info.node.clone()} selected={info.node == selected}>
                                { layer_name(&info.label, &info.node, shape_of(&info.node), info.height, info.width) }
                            </option>
                        }) }
                    </select>
                </label>
                <p class="hint mono layer-readout" data-testid="layer-readout" aria-live="polite">
                    { readout.unwrap_or_else(|| "–".into()) }
                </p>
                <canvas data-testid="layer-canvas" class={canvas_class("layer", w.max(h))} ref={props.canvas.clone()}
                        width={w.to_string()} height={h.to_string()}
                        data-state={if props.painted { "ready" } else { "empty" }} data-node={selected.clone()}
                        role="img" aria-label={format!("relevance at the output of {selected} (channel sum, bwr)")}></canvas>
            </div>
            </div>
        </section>
    }
}
