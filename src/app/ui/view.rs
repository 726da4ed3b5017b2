//! The page's sections (the `data-testid` hooks are the contract with the tests).
use super::app::{colormap_name, contrast_name, mode_name, view_name, App, Msg, CONTRASTS};
use super::charts;
use super::files;
use super::net;
use super::sidecar_form::SidecarForm;
use super::state::{fmt_ms, fmt_num, HeatView};
use crate::app::page::{Param, Shown, MAX_COMPARE};
use crate::app::protocol::SidecarSource;
use crate::heatmap::{Colormap, Contrast, ScaleMode};
use crate::method::Method;
use web_sys::{HtmlInputElement, HtmlSelectElement, KeyboardEvent};
use yew::prelude::*;

fn select_value(e: &Event) -> String {
    e.target_unchecked_into::<HtmlSelectElement>().value()
}

fn input_value(e: &InputEvent) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

fn is_enter(e: &KeyboardEvent) -> bool {
    e.key() == "Enter"
}

/// Canvases of small inputs (MNIST) are scaled up with crisp pixels.
fn canvas_class(base: &'static str, width: u32) -> Classes {
    classes!(base, (width < 100).then_some("pixelated"))
}

impl App {
    /// The page. The DOM order is the reading order on a phone (drop → picture → prediction →
    /// controls → faithfulness → layers); the desktop grid places the same cards in columns.
    pub(super) fn view_page(&self, ctx: &Context<Self>) -> Html {
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
                    { self.view_input(ctx) }
                    { self.view_picture(ctx) }
                    { self.view_prediction(ctx) }
                    { self.view_controls(ctx) }
                    { self.view_faithfulness(ctx) }
                    { self.view_layers(ctx) }
                </main>
                <footer class="foot">
                    <p>{ "Red pushes the class score up, blue pushes it down, white is no effect. R-LRP: relevance \
                          U = x ⊙ Wᵀ R rescaled to keep ‖R‖₁ at every linear layer; κ = ΣR_input / f_c(x)." }</p>
                </footer>
                { self.view_status(ctx) }
            </div>
        }
    }

    /// Progress, cancel, notices and errors: one fixed, non-modal region at the bottom of the
    /// window, always in view and never moving the page.
    fn view_status(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let busy = self.is_busy();
        let downloading = self.fetching.as_ref().or(self.fetching_sample.as_ref());
        let stage = match (downloading, self.page.busy()) {
            (Some(f), _) => f.clone(),
            (None, Some(b)) => b.stage.clone(),
            (None, None) => "ready".to_string(),
        };
        let (value, max) = match self.page.busy() {
            Some(b) if b.total > 0 && downloading.is_none() => (Some(b.done.to_string()), b.total.to_string()),
            _ => (None, "1".to_string()),
        };
        html! {
            <aside class="status" aria-label="Status">
                if let Some(e) = self.page.error() {
                    <div data-testid="error-banner" class="toast error-banner" role="alert">
                        <p>{ e.to_string() }</p>
                        <button type="button" data-testid="error-dismiss" class="secondary" aria-label="Dismiss the error"
                                onclick={link.callback(|_| Msg::DismissError)}>{ "Dismiss" }</button>
                    </div>
                }
                <div class="toast notice-region" role="status" aria-live="polite">
                    if let Some(n) = self.page.notice() {
                        <p data-testid="notice">{ n.to_string() }</p>
                        <button type="button" class="secondary" aria-label="Dismiss the notice"
                                onclick={link.callback(|_| Msg::DismissNotice)}>{ "OK" }</button>
                    }
                </div>
                <div data-testid="progress" class={classes!("progress", busy.then_some("busy"))} data-busy={busy.to_string()}
                     role="status" aria-live="polite">
                    <span class="stage">{ if busy { stage } else { "ready".to_string() } }</span>
                    if busy {
                        <progress max={max} value={value} aria-label="progress"></progress>
                    }
                    <button type="button" data-testid="cancel-button" class="secondary" disabled={!busy}
                            onclick={link.callback(|_| Msg::Cancel)}>{ "Cancel" }</button>
                </div>
            </aside>
        }
    }

    fn view_input(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let models = self.bundle.as_ref().map(|b| b.models.clone()).unwrap_or_default();
        let current = self.model_select_value();
        let user = self.page.desired_model().is_some_and(|m| m.bundle_id.is_none()) && self.fetching_model.is_none();
        let model_name = self.page.model_info().map(|m| m.name.clone()).unwrap_or_else(|| "none yet".into());
        let on_model = link.callback(|e: Event| Msg::PickModel(select_value(&e)));
        let samples = self.page.desired_model().map(|m| m.samples.clone()).unwrap_or_default();
        let current_sample = self.page.desired_image().and_then(|i| i.url.clone());
        // Thumbnails are the full sample files: fetch them only after the first heatmap (or a
        // failure), so they do not compete with the wasm and the model on the way to it.
        let thumbnails = self.page.main().is_some() || self.page.error().is_some();
        let open = link.callback(|_: MouseEvent| Msg::OpenPicker);
        let key_open = link.batch_callback(|e: KeyboardEvent| {
            if e.key() == "Enter" || e.key() == " " {
                e.prevent_default();
                Some(Msg::OpenPicker)
            } else {
                None
            }
        });
        let on_files = link.callback(|e: Event| {
            let input = e.target_unchecked_into::<HtmlInputElement>();
            let list = input.files().map(|l| files::file_list(&l)).unwrap_or_default();
            input.set_value("");
            Msg::Files(list)
        });
        let info = self.page.model_info().map(|m| {
            let i = &m.info;
            let shape = i.input_shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×");
            format!("input {shape} · {} classes · {} weighted layers · opset {}", i.classes, i.weighted_layers, i.opset)
        });
        let form = self.page.model_info().filter(|m| m.user && m.source != SidecarSource::File).map(|m| {
            html! {
                <SidecarForm key={m.generation.to_string()} sidecar={m.sidecar.clone()}
                             on_apply={link.callback(Msg::ApplySidecar)} on_error={link.callback(Msg::ShowError)} />
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
                       aria-label="Choose an image or an ONNX model" ref={self.file_input.clone()} onchange={on_files}
                       accept=".onnx,.json,.txt,.png,.jpg,.jpeg,.webp,.gif,.bmp,image/*" />
                <div data-testid="sample-picker" class="samples" role="group" aria-label="Sample images">
                    if samples.is_empty() {
                        <p class="hint">{ "No samples for this model: drop your own image." }</p>
                    }
                    { for samples.into_iter().map(|url| {
                        let name = net::file_name(&url);
                        let pressed = current_sample.as_deref() == Some(url.as_str());
                        let u = url.clone();
                        html! {
                            <button type="button" data-testid="sample" class="sample" aria-pressed={pressed.to_string()}
                                    title={name.clone()} onclick={link.callback(move |_| Msg::PickSample(u.clone()))}>
                                if thumbnails {
                                    <img src={url} alt={format!("sample {name}")} width="56" height="56" />
                                } else {
                                    <span class="sample-name">{ name.clone() }</span>
                                }
                            </button>
                        }
                    }) }
                </div>
                <label class="field" for="model-picker">{ "Model" }</label>
                <select id="model-picker" data-testid="model-picker" ref={self.selects.model.clone()} onchange={on_model}
                        disabled={models.is_empty()}>
                    { for models.iter().map(|m| html! {
                        <option value={m.id.clone()} selected={m.id == current}>{ m.name.clone() }</option>
                    }) }
                    if user {
                        <option value="" selected=true>{ "your model" }</option>
                    }
                </select>
                <p class="model-line">{ "Loaded: " }<strong data-testid="model-name">{ model_name }</strong></p>
                if let Some(info) = info {
                    <p class="hint">{ info }</p>
                }
                { for form }
            </section>
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

    fn method_options(selected: Method) -> Html {
        html! {
            { for Method::ALL.iter().map(|m| html! {
                <option value={m.name()} selected={*m == selected}>{ format!("{} ({})", m.label(), m.name()) }</option>
            }) }
        }
    }

    /// "R-LRP · class 285 “Egyptian cat” · κ = 1.0": what a map shows.
    fn map_caption(s: &Shown) -> String {
        let label = s.report.target_label.as_ref().map(|l| format!(" “{l}”")).unwrap_or_default();
        let kappa = s.report.kappa.map(|k| format!(" · κ = {}", fmt_num(k, 3))).unwrap_or_default();
        format!("{} · class {}{label}{kappa}", s.key.method.label(), s.report.target)
    }

    /// The picture: the image and the heatmaps (the main method's and up to three compared ones)
    /// side by side at one size, each with its own colour bar.
    fn view_picture(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let ready = self.page.main_ready();
        let main = self.page.main_shown();
        let (w, h) = self.input_size();
        let model = self.page.model_info().map(|m| m.name.clone()).unwrap_or_default();
        let wanted = self.page.main_key();
        let held = self.page.held();
        let stale = ready && wanted.is_some() && main.is_some_and(|m| Some(&m.key) != wanted.as_ref());
        let image_name = self.page.image_info().map(|i| i.name.clone()).unwrap_or_default();
        let tiles = 2 + self.page.settings().compare.len();
        let placeholder = if self.is_busy() { "computing…" } else { "no heatmap yet" };
        let main_caption = main.map(Self::map_caption).unwrap_or_else(|| placeholder.to_string());
        let overlay = self.view == HeatView::Overlay;
        let compare_tiles = self.page.settings().compare.iter().enumerate().map(|(i, m)| {
            let shown = self.page.compare_shown(i);
            let painted = self.compare_painted.get(i).and_then(|p| p.as_ref());
            let stale = shown.is_some_and(|s| self.page.key_for(*m).as_ref() != Some(&s.key));
            let caption = match shown {
                Some(s) => Self::map_caption(s),
                None => format!("{} · {placeholder}", m.label()),
            };
            html! {
                <figure class="tile heat-tile">
                    <canvas data-testid="compare-canvas" class={classes!(canvas_class("heatmap", w), stale.then_some("stale"))}
                            ref={self.canvases.compare[i.min(MAX_COMPARE - 1)].node.clone()}
                            width={w.to_string()} height={h.to_string()}
                            data-state={if painted.is_some() { "ready" } else { "empty" }} data-method={m.name()}
                            role="img" aria-label={format!("heatmap: {caption}")}></canvas>
                    <figcaption>{ caption }</figcaption>
                    { charts::colorbar(self.style.colormap, self.style.mode, painted.map(|p| p.scale)) }
                    if let Some(warning) = shown.and_then(|c| c.report.warning.clone()) {
                        <p data-testid="compare-warning" class="map-warning" role="alert">
                            <strong>{ "This map cannot be trusted: " }</strong>{ warning }
                        </p>
                    }
                </figure>
            }
        });
        html! {
            <section class="card picture-card" aria-labelledby="h-picture">
                <h2 id="h-picture">{ "Explanation" }</h2>
                if held {
                    <p class="held" data-testid="held">
                        { "Not computed for your current choice (cancelled or failed): the maps shown are the previous ones. " }
                        <button type="button" data-testid="retry" onclick={link.callback(|_| Msg::Retry)}>{ "Explain again" }</button>
                    </p>
                }
                <div class={classes!("tiles", format!("tiles-{tiles}"))} data-testid="tiles">
                    <figure class="tile image-tile">
                        <canvas data-testid="image-canvas" class={canvas_class("picture", w)} ref={self.canvases.image.node.clone()}
                                width={w.to_string()} height={h.to_string()} data-image={image_name.clone()}
                                role="img" aria-label={format!("the model input {image_name}")}></canvas>
                        <figcaption>{ format!("Model input {w} × {h}: ") }<span class="mono">{ image_name }</span></figcaption>
                    </figure>
                    <figure class="tile heat-tile">
                        <canvas data-testid="heatmap-canvas" class={classes!(canvas_class("heatmap", w), stale.then_some("stale"))}
                                ref={self.canvases.heat.node.clone()} width={w.to_string()} height={h.to_string()}
                                data-state={if ready { "ready" } else { "empty" }}
                                data-view={view_name(self.view)}
                                data-image={main.map(|m| m.image_name.clone()).unwrap_or_default()}
                                data-method={main.map(|m| m.key.method.name()).unwrap_or_default()}
                                data-target={main.map(|m| m.report.target.to_string()).unwrap_or_default()}
                                data-model={model}
                                role="img" aria-label={format!("heatmap{}: {main_caption}", if overlay { " over the image" } else { "" })}></canvas>
                        <figcaption>{ main_caption }</figcaption>
                        { charts::colorbar(self.style.colormap, self.style.mode, self.heat.as_ref().map(|p| p.scale)) }
                    </figure>
                    { for compare_tiles }
                </div>
                if let Some(warning) = main.and_then(|m| m.report.warning.clone()) {
                    <p data-testid="map-warning" class="map-warning" role="alert">
                        <strong>{ "This map cannot be trusted: " }</strong>{ warning }
                    </p>
                }
                <div class="row downloads">
                    <button type="button" data-testid="download-png" disabled={!ready}
                            onclick={link.callback(|_| Msg::DownloadPng)}>{ "Save heatmap (.png)" }</button>
                    <button type="button" data-testid="download-npy" disabled={!ready}
                            onclick={link.callback(|_| Msg::DownloadNpy)}>{ "Save relevance (.npy)" }</button>
                </div>
            </section>
        }
    }

    /// The method, its parameters, the methods to compare, and how the maps are drawn.
    fn view_controls(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let method = self.page.settings().method;
        let on_method = link.callback(|e: Event| match Method::parse(&select_value(&e)) {
            Ok(m) => Msg::SetMethod(m),
            Err(err) => Msg::ShowError(err.to_string()),
        });
        let params = Param::ALL.iter().copied().filter(|p| p.shown_for(method)).map(|p| {
            let text = self.page.param_text(p).to_string();
            let id = format!("param-{}", p.name());
            html! {
                <label class="param" for={id.clone()}>
                    <span>{ p.label() }</span>
                    <input id={id.clone()} data-testid={id} type="number" step="any" min="0" value={text}
                           oninput={link.callback(move |e: InputEvent| Msg::ParamText(p, input_value(&e)))}
                           onchange={link.callback(move |_: Event| Msg::ParamCommit(p))}
                           onkeydown={link.batch_callback(move |e: KeyboardEvent| is_enter(&e).then_some(Msg::ParamCommit(p)))} />
                </label>
            }
        });
        let full = self.page.settings().compare.len() >= MAX_COMPARE;
        let compare_boxes = Method::ALL.iter().copied().filter(|m| *m != method).map(|m| {
            let on = self.page.settings().compare.contains(&m);
            let id = format!("compare-{}", m.name());
            html! {
                <label class="chip" for={id.clone()}>
                    <input id={id.clone()} data-testid={id} type="checkbox" checked={on} disabled={full && !on}
                           onchange={link.callback(move |_: Event| Msg::ToggleCompare(m))} />
                    <span>{ m.label() }</span>
                </label>
            }
        });
        let on_view = link.callback(|e: Event| {
            Msg::SetView(if select_value(&e) == "overlay" { HeatView::Overlay } else { HeatView::Beside })
        });
        let on_opacity = link.callback(|e: InputEvent| Msg::SetOpacity(input_value(&e).parse().unwrap_or(0.6)));
        let on_cmap = link.callback(|e: Event| {
            Msg::SetColormap(if select_value(&e) == "heat" { Colormap::Heat } else { Colormap::Bwr })
        });
        let on_mode = link.callback(|e: Event| {
            Msg::SetMode(match select_value(&e).as_str() {
                "absolute" => ScaleMode::Absolute,
                "positive" => ScaleMode::Positive,
                _ => ScaleMode::Signed,
            })
        });
        let on_contrast = link.callback(|e: Event| {
            let v = select_value(&e);
            Msg::SetContrast(CONTRASTS.iter().find(|(n, _, _)| *n == v).map(|(_, c, _)| *c).unwrap_or(Contrast::Auto))
        });
        let view = view_name(self.view);
        let cmap = colormap_name(self.style.colormap);
        let mode = mode_name(self.style.mode);
        let contrast = contrast_name(self.style.contrast);
        let overlay = self.view == HeatView::Overlay;
        html! {
            <section class="card controls-card" aria-labelledby="h-controls">
                <h2 id="h-controls">{ "Method and display" }</h2>
                <div class="row">
                    <label class="field grow" for="method-picker">{ "Method" }
                        <select id="method-picker" data-testid="method-picker" ref={self.selects.method.clone()} onchange={on_method}>
                            { Self::method_options(method) }
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
                        <select id="view-picker" data-testid="view-picker" ref={self.selects.view.clone()} onchange={on_view}>
                            <option value="beside" selected={view == "beside"}>{ "heatmap beside the image" }</option>
                            <option value="overlay" selected={view == "overlay"}>{ "heatmap over the image" }</option>
                        </select>
                    </label>
                    <label class="field" for="opacity">{ format!("Overlay: image ← {:.2} → heatmap", self.opacity) }
                        <input id="opacity" data-testid="opacity" type="range" min="0" max="1" step="0.05" disabled={!overlay}
                               value={self.opacity.to_string()} oninput={on_opacity} />
                    </label>
                    <label class="field" for="colormap">{ "Colours" }
                        <select id="colormap" data-testid="colormap" ref={self.selects.colormap.clone()} onchange={on_cmap}>
                            <option value="bwr" selected={cmap == "bwr"}>{ "blue–white–red (bwr)" }</option>
                            <option value="heat" selected={cmap == "heat"}>{ "black–red–yellow (heat)" }</option>
                        </select>
                    </label>
                    <label class="field" for="scale-mode">{ "Values" }
                        <select id="scale-mode" data-testid="scale-mode" ref={self.selects.mode.clone()} onchange={on_mode}>
                            <option value="signed" selected={mode == "signed"}>{ "signed (white = 0)" }</option>
                            <option value="absolute" selected={mode == "absolute"}>{ "absolute |R|" }</option>
                            <option value="positive" selected={mode == "positive"}>{ "positive only" }</option>
                        </select>
                    </label>
                    <label class="field" for="contrast">{ "Contrast" }
                        <select id="contrast" data-testid="contrast" ref={self.selects.contrast.clone()} onchange={on_contrast}>
                            { for CONTRASTS.iter().map(|(name, _, label)| html! {
                                <option value={*name} selected={contrast == *name}>{ *label }</option>
                            }) }
                        </select>
                    </label>
                    <label class="field" for="clip-percentile">{ "Full colour at percentile of |R|" }
                        <input id="clip-percentile" data-testid="clip-percentile" type="number" min="0" max="100" step="0.1"
                               value={self.clip_text.clone()}
                               oninput={link.callback(|e: InputEvent| Msg::ClipText(input_value(&e)))}
                               onchange={link.callback(|_: Event| Msg::ClipCommit)}
                               onkeydown={link.batch_callback(|e: KeyboardEvent| is_enter(&e).then_some(Msg::ClipCommit))} />
                    </label>
                    <label class="check" for="shared-scale">
                        <input id="shared-scale" data-testid="shared-scale" type="checkbox" checked={self.shared_scale}
                               disabled={self.page.settings().compare.is_empty()}
                               onchange={link.callback(|e: Event| Msg::SetSharedScale(e.target_unchecked_into::<HtmlInputElement>().checked()))} />
                        { " same colour scale for every map (methods' relevance can differ by 1000×)" }
                    </label>
                </div>
                <p class="hint">{ "Contrast auto keeps the scale linear when at least a fifth of the pixels are visibly \
                                   coloured, else bends it (γ < 1, on the colour bar) so that faint relevance shows." }</p>
            </section>
        }
    }

    fn view_prediction(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let top = self.page.image_info().map(|i| i.top.clone()).unwrap_or_default();
        let classes = self.page.image_info().map(|i| i.classes).unwrap_or(0);
        let main = self.page.main_shown();
        let explained = main.map(|m| m.report.target);
        let items = top.iter().enumerate().map(|(rank, c)| {
            let class = c.class;
            let label = c.label.clone().unwrap_or_else(|| format!("class {class}"));
            let pct = c.probability as f64 * 100.0;
            html! {
                <li>
                    <button type="button" data-testid={format!("class-{class}")}
                            class={classes!("class-button", (explained == Some(class)).then_some("current"))}
                            aria-pressed={(explained == Some(class)).to_string()}
                            title={format!("explain class {class} (logit {})", fmt_num(c.logit as f64, 4))}
                            onclick={link.callback(move |_| Msg::SetTarget(class))}>
                        <span class="class-label">{ label }{ if rank == 0 { " (predicted)" } else { "" } }</span>
                        <span class="class-num">{ format!("#{class} · {pct:.1} %") }</span>
                        <span class="bar" style={format!("width: {:.1}%", pct.clamp(0.0, 100.0))}></span>
                    </button>
                </li>
            }
        });
        html! {
            <section class="card pred-card" aria-labelledby="h-pred">
                <h2 id="h-pred">{ "Prediction" }</h2>
                <ol data-testid="top5" class="top5" aria-label="The five most probable classes (click to explain one)">
                    { for items }
                </ol>
                <div class="row class-row">
                    <label class="field grow" for="class-input">{ if classes > 0 { format!("Explain class (0–{})", classes - 1) } else { "Explain class".to_string() } }
                        <input id="class-input" data-testid="class-input" type="number" min="0"
                               max={classes.saturating_sub(1).to_string()} step="1" value={self.page.class_text().to_string()}
                               oninput={link.callback(|e: InputEvent| Msg::ClassText(input_value(&e)))}
                               onkeydown={link.batch_callback(|e: KeyboardEvent| is_enter(&e).then_some(Msg::ClassGo))} />
                    </label>
                    <button type="button" data-testid="class-go" onclick={link.callback(|_| Msg::ClassGo)}>{ "Explain" }</button>
                </div>
                { self.view_numbers(main) }
                { self.view_timings() }
            </section>
        }
    }

    fn view_numbers(&self, main: Option<&Shown>) -> Html {
        let r = main.map(|m| &m.report);
        let dash = || "–".to_string();
        let kappa = r.map(|r| r.kappa.map(|k| fmt_num(k, 6)).unwrap_or_else(|| "n/a".into())).unwrap_or_else(dash);
        let kappa_raw = r.and_then(|r| r.kappa).map(|k| k.to_string()).unwrap_or_default();
        let row = |label: &'static str, title: &'static str, value: String| {
            html! { <><dt title={title}>{ label }</dt><dd>{ value }</dd></> }
        };
        html! {
            <>
            <dl class="numbers" aria-label="The numbers behind the picture">
                { row("method", "the explanation method", r.map(|r| r.method_label.clone()).unwrap_or_else(dash)) }
                { row("class", "the explained class", r.map(|r| format!("{}{}", r.target,
                      r.target_label.as_ref().map(|l| format!(" “{l}”")).unwrap_or_default())).unwrap_or_else(dash)) }
                { row("logit f_c(x)", "the target's logit", r.map(|r| fmt_num(r.logit as f64, 6)).unwrap_or_else(dash)) }
                <dt title="κ = ΣR_input / f_c(x): how much of the logit the input relevance accounts for">{ "κ" }</dt>
                <dd data-testid="kappa" data-value={kappa_raw}>{ kappa }</dd>
                { row("ΣR input", "sum of the input relevance", r.map(|r| fmt_num(r.relevance_sum, 6)).unwrap_or_else(dash)) }
                { row("‖R‖₁ input", "L1 norm of the input relevance", r.map(|r| fmt_num(r.relevance_l1, 6)).unwrap_or_else(dash)) }
                { row("start", "relevance put on the logit", r.map(|r| fmt_num(r.start as f64, 6)).unwrap_or_else(dash)) }
                { row("non-finite", "non-finite values found (set to zero)", r.map(|r| r.non_finite.to_string()).unwrap_or_else(dash)) }
            </dl>
            <p class="hint numbers-help" data-testid="numbers-help">{ "κ: the share of the class score f_c(x) that the \
                input relevance accounts for (1 = all of it, conservation). ΣR: relevance pushing the class up minus \
                relevance pushing it down; ‖R‖₁: the total amount, either way." }</p>
            </>
        }
    }

    fn view_timings(&self) -> Html {
        let t = self.page.timings();
        let attr = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
        let text = |v: Option<f64>| v.map(fmt_ms).unwrap_or_else(|| "–".into());
        html! {
            <p data-testid="timings" class="timings" data-load-ms={attr(t.load_ms)} data-forward-ms={attr(t.forward_ms)}
               data-relevance-ms={attr(t.relevance_ms)} data-preprocess-ms={attr(t.preprocess_ms)}>
                { format!("load {} · preprocess {} · forward {} · relevance {}", text(t.load_ms), text(t.preprocess_ms),
                          text(t.forward_ms), text(t.relevance_ms)) }
            </p>
        }
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

    fn view_layers(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let main = self.page.main_shown();
        let layers = main.map(|m| m.report.layers.as_slice()).unwrap_or(&[]);
        let maps = main.map(|m| m.layer_maps.as_slice()).unwrap_or(&[]);
        let on_layer = link.callback(|e: Event| Msg::SetLayer(select_value(&e)));
        let (w, h) = self.layer_pic.as_ref().map(|p| (p.width, p.height)).unwrap_or((1, 1));
        let selected = self.page.layer().unwrap_or_default().to_string();
        let shape_of = |node: &str| layers.iter().find(|l| l.node == node).map(|l| l.shape.as_slice());
        let pickable: Vec<String> = maps.iter().map(|(i, _)| i.node.clone()).collect();
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
                                   where the method loses or gains relevance mass. Click or tap a ringed point, or pick \
                                   a layer below, to see its numbers and its map." }</p>
                <div class="layers-body">
                <div class="chart-wrap">{ charts::layer_chart(layers, self.page.layer(), &pickable, &link.callback(Msg::SetLayer)) }</div>
                <div class="layer-view">
                    <label class="field" for="layer-picker">{ "Layer map" }
                        <select id="layer-picker" data-testid="layer-picker" ref={self.selects.layer.clone()} onchange={on_layer}
                                disabled={maps.is_empty()}>
                            { for maps.iter().map(|(info, _)| html! {
                                <option value={info.node.clone()} selected={info.node == selected}>
                                    { Self::layer_name(&info.label, &info.node, shape_of(&info.node), info.height, info.width) }
                                </option>
                            }) }
                        </select>
                    </label>
                    <p class="hint mono layer-readout" data-testid="layer-readout" aria-live="polite">
                        { readout.unwrap_or_else(|| "–".into()) }
                    </p>
                    <canvas data-testid="layer-canvas" class={canvas_class("layer", w.max(h))} ref={self.canvases.layer.node.clone()}
                            width={w.to_string()} height={h.to_string()}
                            data-state={if self.layer_pic.is_some() { "ready" } else { "empty" }} data-node={selected.clone()}
                            role="img" aria-label={format!("relevance at the output of {selected} (channel sum, bwr)")}></canvas>
                </div>
                </div>
            </section>
        }
    }

    fn view_faithfulness(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let shown = self.page.main_ready();
        let keys: Vec<_> = self.page.main_key().into_iter().chain(self.page.compare_keys()).collect();
        let runs: Vec<_> =
            keys.iter().filter_map(|k| self.page.faith().iter().find(|f| &f.key == k)).filter(|_| shown).collect();
        let running = !self.page.faith_requested().is_empty() && runs.len() < self.page.faith_requested().len();
        let methods = keys.len();
        let text = if running {
            format!("running: {} of {} methods done…", runs.len(), self.page.faith_requested().len())
        } else if let Some(best) = runs.iter().max_by(|a, b| a.aopc_morf.total_cmp(&b.aopc_morf)) {
            format!(
                "Higher AOPC than the random order = the map points at what the model uses. Highest: {} ({} vs random {}).",
                best.key.method.label(),
                fmt_num(best.aopc_morf, 4),
                fmt_num(best.aopc_random, 4)
            )
        } else {
            "Removes the most relevant patches first and watches the class score fall, against a random order.".into()
        };
        html! {
            <section class="card faith-card" aria-labelledby="h-faith">
                <h2 id="h-faith">{ "Faithfulness (pixel flipping)" }</h2>
                <div class="row">
                    <button type="button" data-testid="faithfulness-button" disabled={!shown || running}
                            onclick={link.callback(|_| Msg::RunFaithfulness)}>
                        { if methods > 1 { format!("Run pixel flipping ({methods} methods)") } else { "Run pixel flipping".to_string() } }
                    </button>
                    <span class="hint">{ "Runs on every map on show, one after the other. Cancel stops it; so does changing \
                                          the model, the image, the class or a method on show." }</span>
                </div>
                <div class="chart-wrap faith-chart">
                    { charts::faithfulness_chart(&runs) }
                </div>
                <p class="hint aopc" data-testid="faith-summary" aria-live="polite">{ text }</p>
            </section>
        }
    }
}
