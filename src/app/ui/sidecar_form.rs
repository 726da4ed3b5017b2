//! The preprocessing form, shown for a user model without a sidecar (the worker guessed one from
//! the input shape). While the user types it shows, per channel, the formula `(x · scale − mean) / std`
//! with the typed values and the range of the model input for pixel values 0–255, and warns when that
//! input would be nearly constant or far from every usual range (the checks are plain Rust in
//! `app::preprocess_check`). Invalid entries are named and disable Apply; warnings do not. The Apply
//! bar sticks to the bottom of the viewport while the form is on screen. Apply reloads the model with
//! the edited sidecar.
use crate::app::preprocess_check::{check, num, FormValues};
use crate::sidecar::Sidecar;
use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SidecarFormProps {
    /// The preprocessing in force (prefills the form).
    pub sidecar: Sidecar,
    /// The user applied it (else the worker guessed it from the input shape).
    #[prop_or_default]
    pub applied: bool,
    pub on_apply: Callback<Sidecar>,
    pub on_error: Callback<String>,
}

fn value(node: &NodeRef) -> String {
    if let Some(i) = node.cast::<HtmlInputElement>() {
        return i.value();
    }
    node.get().and_then(|n| n.dyn_into::<HtmlSelectElement>().ok()).map(|s| s.value()).unwrap_or_default()
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

impl Refs {
    /// What the fields hold now.
    fn read(&self) -> FormValues {
        FormValues {
            width: value(&self.width),
            height: value(&self.height),
            channels: value(&self.channels),
            color: value(&self.color),
            layout: value(&self.layout),
            scale: value(&self.scale),
            mean: value(&self.mean),
            std: value(&self.std),
            resize: value(&self.resize),
            shorter: value(&self.shorter),
        }
    }
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
    // What the fields hold: prefilled from the sidecar, read back from the DOM on every input or
    // change event. The fields render these values (Yew resets a field whose DOM value differs from
    // its rendered one on every render), so a re-render keeps what the user typed.
    let current = {
        let sidecar = props.sidecar.clone();
        use_state_eq(move || FormValues::from_sidecar(&sidecar))
    };
    let oninput = {
        let (refs, current) = (refs.clone(), current.clone());
        Callback::from(move |_: InputEvent| current.set(refs.read()))
    };
    let onchange = {
        let (refs, current) = (refs.clone(), current.clone());
        Callback::from(move |_: Event| current.set(refs.read()))
    };

    let checked = check(&current);
    // Cross-field rules of the sidecar (colour order against channels, shorter side against size).
    let built = if checked.errors.is_empty() { Some(current.to_sidecar(&props.sidecar)) } else { None };
    let mut errors = checked.errors.clone();
    if let Some(Err(e)) = &built {
        let e = e.trim_start_matches("sidecar: ").trim_end_matches('.');
        let mut c = e.chars();
        errors.push(c.next().map(|f| format!("{}{}.", f.to_uppercase(), c.as_str())).unwrap_or_default());
    }
    let invalid = !errors.is_empty();
    let bad = |field: &'static str| checked.invalid_fields.contains(&field).then_some("true");

    let onsubmit = {
        let (refs, base, apply, error) =
            (refs.clone(), props.sidecar.clone(), props.on_apply.clone(), props.on_error.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let values = refs.read();
            if !check(&values).errors.is_empty() {
                return; // the button is disabled; Enter in a field must not apply either
            }
            match values.to_sidecar(&base) {
                Ok(sc) => apply.emit(sc),
                Err(msg) => error.emit(format!("preprocessing: {msg}")),
            }
        })
    };
    let opt = |v: &'static str, text: &'static str, cur: &str| html! { <option value={v} selected={v == cur}>{ text }</option> };
    let i = &*current;
    let status = if invalid {
        "Fix the invalid values above to apply."
    } else if !checked.warnings.is_empty() {
        "You can apply despite the warning."
    } else {
        ""
    };
    let formula_lines = checked.channels.iter().map(|c| html! { <li>{ format!("{}: {}", c.name, c.formula) }</li> });
    let range_lines = checked.channels.iter().map(|c| {
        let text = match c.range {
            Some((lo, hi)) => format!("{}: [{}, {}]", c.name, num(lo, 4), num(hi, 4)),
            None => format!("{}: — (fix the invalid value)", c.name),
        };
        html! { <li>{ text }</li> }
    });
    html! {
        <form data-testid="sidecar-form" class="sidecar-form" {onsubmit} {oninput} {onchange}
              aria-labelledby="sidecar-title" novalidate=true>
            <h3 id="sidecar-title">{ "Preprocessing of your model" }</h3>
            <p class="hint">{ if props.applied {
                "These are the values you applied. If the prediction looks wrong, edit them (mean and std are per \
                 channel, in model channel order) and apply again."
            } else {
                "Your model came without a sidecar, so these values were guessed from its input shape. \
                 Check them (mean and std are per channel, in model channel order) and apply."
            } }</p>
            <div class="form-grid">
                <label>{ "Width" }<input ref={refs.width.clone()} name="width" type="number" min="1" value={i.width.clone()}
                                         aria-invalid={bad("width")} /></label>
                <label>{ "Height" }<input ref={refs.height.clone()} name="height" type="number" min="1" value={i.height.clone()}
                                          aria-invalid={bad("height")} /></label>
                <label>{ "Channels" }<input ref={refs.channels.clone()} name="channels" type="number" min="1" max="3"
                                            value={i.channels.clone()} aria-invalid={bad("channels")} /></label>
                <label>{ "Colour order" }
                    <select ref={refs.color.clone()} name="color">
                        { opt("rgb", "RGB", &i.color) }{ opt("bgr", "BGR", &i.color) }{ opt("gray", "gray", &i.color) }
                    </select>
                </label>
                <label>{ "Layout" }
                    <select ref={refs.layout.clone()} name="layout">
                        { opt("nchw", "NCHW", &i.layout) }{ opt("nhwc", "NHWC", &i.layout) }
                    </select>
                </label>
                <label>{ "Resize" }
                    <select ref={refs.resize.clone()} name="resize">
                        { opt("stretch", "stretch to size", &i.resize) }
                        { opt("shorter_side", "shorter side, then centre crop", &i.resize) }
                        { opt("none", "none (image must fit)", &i.resize) }
                    </select>
                </label>
                <label>{ "Shorter side" }<input ref={refs.shorter.clone()} name="shorter_side" type="number" min="1"
                                                value={i.shorter.clone()} aria-invalid={bad("shorter")} /></label>
                <label>{ "Scale" }<input ref={refs.scale.clone()} name="scale" type="text" inputmode="decimal"
                                         value={i.scale.clone()} aria-invalid={bad("scale")} aria-describedby="pp-formula" /></label>
                <label>{ "Mean" }<input ref={refs.mean.clone()} name="mean" type="text" value={i.mean.clone()}
                                        aria-invalid={bad("mean")} aria-describedby="pp-formula" /></label>
                <label>{ "Std" }<input ref={refs.std.clone()} name="std" type="text" value={i.std.clone()}
                                       aria-invalid={bad("std")} aria-describedby="pp-formula" /></label>
            </div>
            <div class="pp-preview">
                <p class="pp-caption">{ "Model input = (x · scale − mean) / std, for each pixel value x in 0–255:" }</p>
                <ul id="pp-formula" class="pp-lines" data-testid="form-formula" aria-label="Formula per channel">
                    { for formula_lines }
                </ul>
                <p class="pp-caption">{ "Range of the model input (x = 0 and x = 255):" }</p>
                <ul class="pp-lines" data-testid="form-range" aria-label="Range per channel">{ for range_lines }</ul>
            </div>
            <div class="pp-messages" aria-live="polite">
                if invalid {
                    <ul class="pp-invalid" data-testid="form-invalid">
                        { for errors.iter().map(|e| html! { <li>{ e.clone() }</li> }) }
                    </ul>
                }
                if !checked.warnings.is_empty() {
                    <div class="pp-warning" data-testid="form-warning">
                        { for checked.warnings.iter().map(|w| html! {
                            <>
                                <p><strong>{ w.title }</strong>{ ": " }{ w.detail.clone() }</p>
                                <p class="pp-fix"><strong>{ "Fix: " }</strong>{ w.fix.clone() }</p>
                            </>
                        }) }
                    </div>
                }
            </div>
            <div class="pp-actions">
                <button type="submit" data-testid="sidecar-apply" disabled={invalid} aria-describedby="pp-apply-status">
                    { "Apply and reload" }
                </button>
                <span id="pp-apply-status" class="pp-apply-status" data-testid="form-apply-status">{ status }</span>
            </div>
        </form>
    }
}
