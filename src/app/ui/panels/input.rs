//! The input panel: the drop zone and file picker, the sample images, the bundled model picker,
//! the loaded model's description and, for a user model without a sidecar, the preprocessing form.
use super::{select_value, Msg};
use crate::app::ui::files;
use crate::app::ui::net::{self, BundledModel};
use crate::app::ui::sidecar_form::SidecarForm;
use crate::sidecar::Sidecar;
use std::rc::Rc;
use web_sys::{HtmlInputElement, KeyboardEvent};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct InputProps {
    /// The bundled models.
    pub models: Rc<Vec<BundledModel>>,
    /// The model picker's value (the bundled model wanted, "" for none).
    pub current: String,
    /// The wanted model is the user's own (the picker shows "your model").
    pub user: bool,
    /// The loaded model's name.
    pub model_name: String,
    /// The wanted model's sample images (URLs).
    pub samples: Vec<String>,
    /// The URL of the current image, if it is a sample.
    pub current_sample: Option<String>,
    /// Show the samples as thumbnails (else by name).
    pub thumbnails: bool,
    /// The loaded model's input shape, classes, layers and opset.
    pub info: Option<String>,
    /// The preprocessing form's key (the model's generation), the sidecar it starts from, and
    /// whether that sidecar is one the user applied (else the worker guessed it).
    pub form: Option<(String, Sidecar, bool)>,
    /// The hidden file input (`App` clicks it to open the picker).
    pub file_input: NodeRef,
    /// The model picker (`App` keeps its value in sync).
    pub select: NodeRef,
    pub on_msg: Callback<Msg>,
}

#[function_component(InputPanel)]
pub fn input_panel(props: &InputProps) -> Html {
    let on_msg = &props.on_msg;
    let models = &props.models;
    let current = &props.current;
    let on_model = on_msg.reform(|e: Event| Msg::PickModel(select_value(&e)));
    let current_sample = props.current_sample.as_deref();
    let thumbnails = props.thumbnails;
    let open = on_msg.reform(|_: MouseEvent| Msg::OpenPicker);
    let key_open = {
        let on_msg = on_msg.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" || e.key() == " " {
                e.prevent_default();
                on_msg.emit(Msg::OpenPicker);
            }
        })
    };
    let on_files = on_msg.reform(|e: Event| {
        let input = e.target_unchecked_into::<HtmlInputElement>();
        let list = input.files().map(|l| files::file_list(&l)).unwrap_or_default();
        input.set_value("");
        Msg::Files(list)
    });
    let form = props.form.as_ref().map(|(key, sidecar, applied)| {
        html! {
            <SidecarForm key={key.clone()} sidecar={sidecar.clone()} applied={*applied}
                         on_apply={on_msg.reform(Msg::ApplySidecar)} on_error={on_msg.reform(Msg::ShowError)} />
        }
    });
    html! {
        <section class="card input-card" aria-labelledby="h-input">
            <h2 id="h-input">{ "Model and image" }</h2>
            <div data-testid="drop-zone" class="drop-zone" tabindex="0" role="button" aria-describedby="drop-help"
                 onclick={open} onkeydown={key_open}>
                <strong>{ "Drop an image or an ONNX model" }</strong>
                <span id="drop-help">{ "or click to choose files, or paste an image. A model may come with its \
                                        .json sidecar and a labels file (.txt or a .json list)." }</span>
            </div>
            <input id="file-input" data-testid="file-input" class="visually-hidden" type="file" multiple=true
                   aria-label="Choose an image or an ONNX model" ref={props.file_input.clone()} onchange={on_files}
                   accept=".onnx,.json,.txt,.png,.jpg,.jpeg,.webp,.gif,.bmp,image/*" />
            <div data-testid="sample-picker" class="samples" role="group" aria-label="Sample images">
                if props.samples.is_empty() {
                    <p class="hint">{ "No samples for this model: drop your own image." }</p>
                }
                { for props.samples.iter().map(|url| {
                    let name = net::file_name(url);
                    let pressed = current_sample == Some(url.as_str());
                    let u = url.clone();
                    html! {
                        <button type="button" data-testid="sample" class="sample" aria-pressed={pressed.to_string()}
                                title={name.clone()} onclick={on_msg.reform(move |_| Msg::PickSample(u.clone()))}>
                            if thumbnails {
                                <img src={url.clone()} alt={format!("sample {name}")} width="56" height="56" />
                            } else {
                                <span class="sample-name">{ name.clone() }</span>
                            }
                        </button>
                    }
                }) }
            </div>
            <label class="field" for="model-picker">{ "Model" }</label>
            <select id="model-picker" data-testid="model-picker" ref={props.select.clone()} onchange={on_model}
                    disabled={models.is_empty()}>
                { for models.iter().map(|m| html! {
                    <option value={m.id.clone()} selected={&m.id == current}>{ m.name.clone() }</option>
                }) }
                if props.user {
                    <option value="" selected=true>{ "your model" }</option>
                }
            </select>
            <p class="model-line">{ "Loaded: " }<strong data-testid="model-name">{ props.model_name.clone() }</strong></p>
            if let Some(info) = &props.info {
                <p class="hint">{ info.clone() }</p>
            }
            { for form }
        </section>
    }
}
