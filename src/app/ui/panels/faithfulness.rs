//! The faithfulness panel: pixel flipping on every map on show (its button, its chart and a
//! one-line summary).
use super::Msg;
use crate::app::page::Faith;
use crate::app::ui::charts;
use crate::app::ui::state::fmt_num;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct FaithfulnessProps {
    /// The main map is shown (pixel flipping can run).
    pub ready: bool,
    /// How many maps are on show (the main one and the compared ones).
    pub methods: usize,
    /// How many runs were asked for.
    pub requested: usize,
    /// The runs done of the maps on show, in their order.
    pub runs: Rc<Vec<Faith>>,
    pub on_msg: Callback<Msg>,
}

#[function_component(FaithfulnessPanel)]
pub fn faithfulness_panel(props: &FaithfulnessProps) -> Html {
    let runs = &props.runs;
    let methods = props.methods;
    let complete = runs.iter().filter(|r| r.complete).count();
    let running = props.requested > 0 && complete < props.requested;
    let text = if running {
        match runs.iter().find(|r| !r.complete) {
            Some(r) => format!(
                "running: {complete} of {} methods done; a first look at {} from {} of the {} steps, the rest follows…",
                props.requested,
                r.key.method.label(),
                r.points.len(),
                r.steps + 1
            ),
            None => format!("running: {complete} of {} methods done…", props.requested),
        }
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
                <button type="button" data-testid="faithfulness-button" disabled={!props.ready || running}
                        onclick={props.on_msg.reform(|_| Msg::RunFaithfulness)}>
                    { if methods > 1 { format!("Run pixel flipping ({methods} methods)") } else { "Run pixel flipping".to_string() } }
                </button>
                <span class="hint">{ "Runs on every map on show, one after the other. Cancel stops it; so does changing \
                                      the model, the image, the class or a method on show." }</span>
            </div>
            <div class="chart-wrap faith-chart">
                { charts::faithfulness_chart(runs) }
            </div>
            <p class="hint aopc" data-testid="faith-summary" aria-live="polite">{ text }</p>
        </section>
    }
}
