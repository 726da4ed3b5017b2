//! The prediction panel: the most probable classes (click one to explain it), the class to
//! explain by number, the numbers behind the picture and the timings.
use super::{input_value, is_enter, Msg};
use crate::app::page::Timings;
use crate::app::ui::state::{fmt_ms, fmt_num};
use crate::report::{ClassScore, Report};
use std::rc::Rc;
use web_sys::KeyboardEvent;
use yew::prelude::*;

/// The numbers of the main map's report that the panel shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Numbers {
    pub method_label: String,
    pub target: usize,
    pub target_label: Option<String>,
    pub logit: f32,
    pub kappa: Option<f64>,
    pub relevance_sum: f64,
    pub relevance_l1: f64,
    pub start: f32,
    pub non_finite: usize,
}

impl Numbers {
    pub fn of(r: &Report) -> Numbers {
        Numbers {
            method_label: r.method_label.clone(),
            target: r.target,
            target_label: r.target_label.clone(),
            logit: r.logit,
            kappa: r.kappa,
            relevance_sum: r.relevance_sum,
            relevance_l1: r.relevance_l1,
            start: r.start,
            non_finite: r.non_finite,
        }
    }
}

/// The worker's timings, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Times {
    pub load_ms: Option<f64>,
    pub preprocess_ms: Option<f64>,
    pub forward_ms: Option<f64>,
    pub relevance_ms: Option<f64>,
}

impl Times {
    pub fn of(t: &Timings) -> Times {
        Times {
            load_ms: t.load_ms,
            preprocess_ms: t.preprocess_ms,
            forward_ms: t.forward_ms,
            relevance_ms: t.relevance_ms,
        }
    }
}

#[derive(Properties, PartialEq)]
pub struct PredictionProps {
    /// The most probable classes, the predicted one first.
    pub top: Rc<Vec<ClassScore>>,
    /// How many classes the model has (0 before an image is loaded).
    pub classes: usize,
    /// What the class input holds.
    pub class_text: String,
    /// The main map's numbers, once it is shown.
    pub numbers: Option<Numbers>,
    pub timings: Times,
    pub on_msg: Callback<Msg>,
}

#[function_component(PredictionPanel)]
pub fn prediction_panel(props: &PredictionProps) -> Html {
    let on_msg = &props.on_msg;
    let classes = props.classes;
    let explained = props.numbers.as_ref().map(|n| n.target);
    let items = props.top.iter().enumerate().map(|(rank, c)| {
        let class = c.class;
        let label = c.label.clone().unwrap_or_else(|| format!("class {class}"));
        let pct = c.probability as f64 * 100.0;
        html! {
            <li>
                <button type="button" data-testid={format!("class-{class}")}
                        class={classes!("class-button", (explained == Some(class)).then_some("current"))}
                        aria-pressed={(explained == Some(class)).to_string()}
                        title={format!("explain class {class} (logit {})", fmt_num(c.logit as f64, 4))}
                        onclick={on_msg.reform(move |_| Msg::SetTarget(class))}>
                    <span class="class-label">{ label }{ if rank == 0 { " (predicted)" } else { "" } }</span>
                    <span class="class-num">{ format!("#{class} · {pct:.1} %") }</span>
                    <span class="bar" style={format!("width: {:.1}%", pct.clamp(0.0, 100.0))}></span>
                </button>
            </li>
        }
    });
    let on_key = {
        let on_msg = on_msg.clone();
        Callback::from(move |e: KeyboardEvent| {
            if is_enter(&e) {
                on_msg.emit(Msg::ClassGo);
            }
        })
    };
    html! {
        <section class="card pred-card" aria-labelledby="h-pred">
            <h2 id="h-pred">{ "Prediction" }</h2>
            <ol data-testid="top5" class="top5" aria-label="The five most probable classes (click to explain one)">
                { for items }
            </ol>
            <div class="row class-row">
                <label class="field grow" for="class-input">{ if classes > 0 { format!("Explain class (0–{})", classes - 1) } else { "Explain class".to_string() } }
                    <input id="class-input" data-testid="class-input" type="number" min="0"
                           max={classes.saturating_sub(1).to_string()} step="1" value={props.class_text.clone()}
                           oninput={on_msg.reform(|e: InputEvent| Msg::ClassText(input_value(&e)))}
                           onkeydown={on_key} />
                </label>
                <button type="button" data-testid="class-go" onclick={on_msg.reform(|_| Msg::ClassGo)}>{ "Explain" }</button>
            </div>
            { numbers(props.numbers.as_ref()) }
            { timings(&props.timings) }
        </section>
    }
}

fn numbers(r: Option<&Numbers>) -> Html {
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

fn timings(t: &Times) -> Html {
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
