//! The controls panel: the method and its parameters, the methods to compare, and how the maps
//! are drawn (beside or over the image, opacity, colours, values, contrast, clip, shared scale).
use super::{input_value, is_enter, select_value, Msg};
use crate::app::page::{Param, MAX_COMPARE};
use crate::app::ui::app::{colormap_name, contrast_name, mode_name, view_name, CONTRASTS};
use crate::app::ui::state::HeatView;
use crate::heatmap::{Colormap, Contrast, ScaleMode};
use crate::method::Method;
use web_sys::{HtmlInputElement, KeyboardEvent};
use yew::prelude::*;

/// The select elements of the panel (`App` keeps their values in sync).
#[derive(Clone, Default, PartialEq)]
pub struct ControlSelects {
    pub method: NodeRef,
    pub view: NodeRef,
    pub colormap: NodeRef,
    pub mode: NodeRef,
    pub contrast: NodeRef,
}

#[derive(Properties, PartialEq)]
pub struct ControlsProps {
    pub method: Method,
    /// What every parameter input holds (the panel shows those of `method`).
    pub params: Vec<(Param, String)>,
    /// The compared methods.
    pub compare: Vec<Method>,
    pub view: HeatView,
    pub opacity: f32,
    pub colormap: Colormap,
    pub mode: ScaleMode,
    pub contrast: Contrast,
    /// What the clip percentile input holds.
    pub clip_text: String,
    pub shared_scale: bool,
    pub selects: ControlSelects,
    pub on_msg: Callback<Msg>,
}

fn method_options(selected: Method) -> Html {
    html! {
        { for Method::ALL.iter().map(|m| html! {
            <option value={m.name()} selected={*m == selected}>{ format!("{} ({})", m.label(), m.name()) }</option>
        }) }
    }
}

/// A callback that sends `msg` when Enter is pressed.
fn on_enter(on_msg: &Callback<Msg>, msg: impl Fn() -> Msg + 'static) -> Callback<KeyboardEvent> {
    let on_msg = on_msg.clone();
    Callback::from(move |e: KeyboardEvent| {
        if is_enter(&e) {
            on_msg.emit(msg());
        }
    })
}

#[function_component(ControlsPanel)]
pub fn controls_panel(props: &ControlsProps) -> Html {
    let on_msg = &props.on_msg;
    let method = props.method;
    let on_method = on_msg.reform(|e: Event| match Method::parse(&select_value(&e)) {
        Ok(m) => Msg::SetMethod(m),
        Err(err) => Msg::ShowError(err.to_string()),
    });
    let params = props.params.iter().filter(|(p, _)| p.shown_for(method)).map(|(p, text)| {
        let p = *p;
        let id = format!("param-{}", p.name());
        html! {
            <label class="param" for={id.clone()}>
                <span>{ p.label() }</span>
                <input id={id.clone()} data-testid={id} type="number" step="any" min="0" value={text.clone()}
                       oninput={on_msg.reform(move |e: InputEvent| Msg::ParamText(p, input_value(&e)))}
                       onchange={on_msg.reform(move |_: Event| Msg::ParamCommit(p))}
                       onkeydown={on_enter(on_msg, move || Msg::ParamCommit(p))} />
            </label>
        }
    });
    let full = props.compare.len() >= MAX_COMPARE;
    let compare_boxes = Method::ALL.iter().copied().filter(|m| *m != method).map(|m| {
        let on = props.compare.contains(&m);
        let id = format!("compare-{}", m.name());
        html! {
            <label class="chip" for={id.clone()}>
                <input id={id.clone()} data-testid={id} type="checkbox" checked={on} disabled={full && !on}
                       onchange={on_msg.reform(move |_: Event| Msg::ToggleCompare(m))} />
                <span>{ m.label() }</span>
            </label>
        }
    });
    let on_view = on_msg.reform(|e: Event| {
        Msg::SetView(if select_value(&e) == "overlay" { HeatView::Overlay } else { HeatView::Beside })
    });
    let on_opacity = on_msg.reform(|e: InputEvent| Msg::SetOpacity(input_value(&e).parse().unwrap_or(0.6)));
    let on_cmap = on_msg
        .reform(|e: Event| Msg::SetColormap(if select_value(&e) == "heat" { Colormap::Heat } else { Colormap::Bwr }));
    let on_mode = on_msg.reform(|e: Event| {
        Msg::SetMode(match select_value(&e).as_str() {
            "absolute" => ScaleMode::Absolute,
            "positive" => ScaleMode::Positive,
            _ => ScaleMode::Signed,
        })
    });
    let on_contrast = on_msg.reform(|e: Event| {
        let v = select_value(&e);
        Msg::SetContrast(CONTRASTS.iter().find(|(n, _, _)| *n == v).map(|(_, c, _)| *c).unwrap_or(Contrast::Auto))
    });
    let view = view_name(props.view);
    let cmap = colormap_name(props.colormap);
    let mode = mode_name(props.mode);
    let contrast = contrast_name(props.contrast);
    let overlay = props.view == HeatView::Overlay;
    let selects = &props.selects;
    html! {
        <section class="card controls-card" aria-labelledby="h-controls">
            <h2 id="h-controls">{ "Method and display" }</h2>
            <div class="row">
                <label class="field grow" for="method-picker">{ "Method" }
                    <select id="method-picker" data-testid="method-picker" ref={selects.method.clone()} onchange={on_method}>
                        { method_options(method) }
                    </select>
                </label>
                { for params }
            </div>
            <fieldset class="compare-picker" data-testid="compare-picker">
                <legend>{ format!("Compare with (up to {MAX_COMPARE}, shown side by side)") }</legend>
                <div class="chips">{ for compare_boxes }</div>
            </fieldset>
            <div class="controls">
                <label class="field" for="view-picker">{ "Show" }
                    <select id="view-picker" data-testid="view-picker" ref={selects.view.clone()} onchange={on_view}>
                        <option value="beside" selected={view == "beside"}>{ "heatmap beside the image" }</option>
                        <option value="overlay" selected={view == "overlay"}>{ "heatmap over the image" }</option>
                    </select>
                </label>
                <label class="field" for="opacity">{ format!("Overlay: image ← {:.2} → heatmap", props.opacity) }
                    <input id="opacity" data-testid="opacity" type="range" min="0" max="1" step="0.05" disabled={!overlay}
                           value={props.opacity.to_string()} oninput={on_opacity} />
                </label>
                <label class="field" for="colormap">{ "Colours" }
                    <select id="colormap" data-testid="colormap" ref={selects.colormap.clone()} onchange={on_cmap}>
                        <option value="bwr" selected={cmap == "bwr"}>{ "blue–white–red (bwr)" }</option>
                        <option value="heat" selected={cmap == "heat"}>{ "black–red–yellow (heat)" }</option>
                    </select>
                </label>
                <label class="field" for="scale-mode">{ "Values" }
                    <select id="scale-mode" data-testid="scale-mode" ref={selects.mode.clone()} onchange={on_mode}>
                        <option value="signed" selected={mode == "signed"}>{ "signed (white = 0)" }</option>
                        <option value="absolute" selected={mode == "absolute"}>{ "absolute |R|" }</option>
                        <option value="positive" selected={mode == "positive"}>{ "positive only" }</option>
                    </select>
                </label>
                <label class="field" for="contrast">{ "Contrast" }
                    <select id="contrast" data-testid="contrast" ref={selects.contrast.clone()} onchange={on_contrast}>
                        { for CONTRASTS.iter().map(|(name, _, label)| html! {
                            <option value={*name} selected={contrast == *name}>{ *label }</option>
                        }) }
                    </select>
                </label>
                <label class="field" for="clip-percentile">{ "Full colour at percentile of |R|" }
                    <input id="clip-percentile" data-testid="clip-percentile" type="number" min="0" max="100" step="0.1"
                           value={props.clip_text.clone()}
                           oninput={on_msg.reform(|e: InputEvent| Msg::ClipText(input_value(&e)))}
                           onchange={on_msg.reform(|_: Event| Msg::ClipCommit)}
                           onkeydown={on_enter(on_msg, || Msg::ClipCommit)} />
                </label>
                <label class="check" for="shared-scale">
                    <input id="shared-scale" data-testid="shared-scale" type="checkbox" checked={props.shared_scale}
                           disabled={props.compare.is_empty()}
                           onchange={on_msg.reform(|e: Event| Msg::SetSharedScale(e.target_unchecked_into::<HtmlInputElement>().checked()))} />
                    { " same colour scale for every map (methods' relevance can differ by 1000×)" }
                </label>
            </div>
            <p class="hint">{ "Contrast auto keeps the scale linear when at least a fifth of the pixels are visibly \
                               coloured, else bends it (γ < 1, on the colour bar) so that faint relevance shows." }</p>
        </section>
    }
}
