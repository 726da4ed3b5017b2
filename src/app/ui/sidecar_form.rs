//! The preprocessing form, shown for a user model without a sidecar (the worker guessed one from
//! the input shape). Apply reloads the model with the edited sidecar.
use crate::sidecar::{ColorOrder, Layout, Resize, Sidecar};
use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SidecarFormProps {
    /// The preprocessing in force (prefills the form).
    pub sidecar: Sidecar,
    pub on_apply: Callback<Sidecar>,
    pub on_error: Callback<String>,
}

fn list(v: &[f64]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}

fn value(node: &NodeRef) -> String {
    if let Some(i) = node.cast::<HtmlInputElement>() {
        return i.value();
    }
    node.get().and_then(|n| n.dyn_into::<HtmlSelectElement>().ok()).map(|s| s.value()).unwrap_or_default()
}

fn parse_list(what: &str, s: &str) -> Result<Vec<f64>, String> {
    s.split([',', ' ', ';'])
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse::<f64>().map_err(|_| format!("{what}: '{t}' is not a number")))
        .collect()
}

struct Refs {
    width: NodeRef,
    height: NodeRef,
    channels: NodeRef,
    color: NodeRef,
    layout: NodeRef,
    scale: NodeRef,
    mean: NodeRef,
    std: NodeRef,
    resize: NodeRef,
    shorter: NodeRef,
}

fn build(base: &Sidecar, r: &Refs) -> Result<Sidecar, String> {
    let int = |what: &str, node: &NodeRef| -> Result<usize, String> {
        let s = value(node);
        s.trim().parse::<usize>().map_err(|_| format!("{what}: '{s}' is not a whole number"))
    };
    let mut sc = base.clone();
    let i = &mut sc.input;
    i.width = int("width", &r.width)?;
    i.height = int("height", &r.height)?;
    i.channels = int("channels", &r.channels)?;
    i.color = Some(match value(&r.color).as_str() {
        "bgr" => ColorOrder::Bgr,
        "gray" => ColorOrder::Gray,
        _ => ColorOrder::Rgb,
    });
    i.layout = if value(&r.layout) == "nhwc" { Layout::Nhwc } else { Layout::Nchw };
    let scale = value(&r.scale);
    i.scale = scale.trim().parse::<f64>().map_err(|_| format!("scale: '{scale}' is not a number"))?;
    i.mean = Some(parse_list("mean", &value(&r.mean))?);
    i.std = Some(parse_list("std", &value(&r.std))?);
    i.resize = match value(&r.resize).as_str() {
        "shorter_side" => {
            let n = int("shorter side", &r.shorter)?;
            Resize::ShorterSide(n as u32)
        }
        "none" => Resize::None,
        _ => Resize::Stretch,
    };
    sc.validate().map_err(|e| e.to_string())?;
    Ok(sc)
}

#[function_component(SidecarForm)]
pub fn sidecar_form(props: &SidecarFormProps) -> Html {
    let refs = std::rc::Rc::new(Refs {
        width: use_node_ref(),
        height: use_node_ref(),
        channels: use_node_ref(),
        color: use_node_ref(),
        layout: use_node_ref(),
        scale: use_node_ref(),
        mean: use_node_ref(),
        std: use_node_ref(),
        resize: use_node_ref(),
        shorter: use_node_ref(),
    });
    let sc = &props.sidecar;
    let i = &sc.input;
    let onsubmit = {
        let (refs, base, apply, error) = (refs.clone(), sc.clone(), props.on_apply.clone(), props.on_error.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match build(&base, &refs) {
                Ok(sc) => apply.emit(sc),
                Err(msg) => error.emit(format!("preprocessing: {msg}")),
            }
        })
    };
    let color = sc.color();
    let (resize, shorter) = match i.resize {
        Resize::Stretch => ("stretch", 256),
        Resize::ShorterSide(n) => ("shorter_side", n),
        Resize::None => ("none", 256),
    };
    let opt = |v: &'static str, text: &'static str, cur: &str| html! { <option value={v} selected={v == cur}>{ text }</option> };
    let color_name = match color {
        ColorOrder::Rgb => "rgb",
        ColorOrder::Bgr => "bgr",
        ColorOrder::Gray => "gray",
    };
    let layout = if i.layout == Layout::Nhwc { "nhwc" } else { "nchw" };
    html! {
        <form data-testid="sidecar-form" class="sidecar-form" {onsubmit} aria-labelledby="sidecar-title">
            <h3 id="sidecar-title">{ "Preprocessing of your model" }</h3>
            <p class="hint">{ "Your model came without a sidecar, so these values were guessed from its input shape. \
                               Check them (mean and std are per channel, in model channel order) and apply." }</p>
            <div class="form-grid">
                <label>{ "Width" }<input ref={refs.width.clone()} name="width" type="number" min="1" value={i.width.to_string()} /></label>
                <label>{ "Height" }<input ref={refs.height.clone()} name="height" type="number" min="1" value={i.height.to_string()} /></label>
                <label>{ "Channels" }<input ref={refs.channels.clone()} name="channels" type="number" min="1" max="3" value={i.channels.to_string()} /></label>
                <label>{ "Colour order" }
                    <select ref={refs.color.clone()} name="color">
                        { opt("rgb", "RGB", color_name) }{ opt("bgr", "BGR", color_name) }{ opt("gray", "gray", color_name) }
                    </select>
                </label>
                <label>{ "Layout" }
                    <select ref={refs.layout.clone()} name="layout">
                        { opt("nchw", "NCHW", layout) }{ opt("nhwc", "NHWC", layout) }
                    </select>
                </label>
                <label>{ "Scale" }<input ref={refs.scale.clone()} name="scale" type="text" inputmode="decimal" value={i.scale.to_string()} /></label>
                <label>{ "Mean" }<input ref={refs.mean.clone()} name="mean" type="text" value={list(&sc.mean())} /></label>
                <label>{ "Std" }<input ref={refs.std.clone()} name="std" type="text" value={list(&sc.std())} /></label>
                <label>{ "Resize" }
                    <select ref={refs.resize.clone()} name="resize">
                        { opt("stretch", "stretch to size", resize) }
                        { opt("shorter_side", "shorter side, then centre crop", resize) }
                        { opt("none", "none (image must fit)", resize) }
                    </select>
                </label>
                <label>{ "Shorter side" }<input ref={refs.shorter.clone()} name="shorter_side" type="number" min="1" value={shorter.to_string()} /></label>
            </div>
            <button type="submit" data-testid="sidecar-apply">{ "Apply and reload" }</button>
        </form>
    }
}
