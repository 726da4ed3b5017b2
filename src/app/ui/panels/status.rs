//! The status panel: progress, cancel, notices and errors in one fixed, non-modal region at the
//! bottom of the window, always in view and never moving the page.
use super::Msg;
use crate::app::page::Busy;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct StatusProps {
    /// Anything going on (downloads, the worker, or work waiting for the worker).
    pub busy: bool,
    /// The download in progress ("downloading …"), if any.
    pub downloading: Option<String>,
    /// The worker's progress, if it is working.
    pub work: Option<Busy>,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub on_msg: Callback<Msg>,
}

#[function_component(StatusPanel)]
pub fn status_panel(props: &StatusProps) -> Html {
    let busy = props.busy;
    let downloading = props.downloading.as_ref();
    let stage = match (downloading, props.work.as_ref()) {
        (Some(f), _) => f.clone(),
        (None, Some(b)) => b.stage.clone(),
        (None, None) => "ready".to_string(),
    };
    let (value, max) = match props.work.as_ref() {
        Some(b) if b.total > 0 && downloading.is_none() => (Some(b.done.to_string()), b.total.to_string()),
        _ => (None, "1".to_string()),
    };
    let on_msg = &props.on_msg;
    html! {
        <aside class="status" aria-label="Status">
            if let Some(e) = &props.error {
                <div data-testid="error-banner" class="toast error-banner" role="alert">
                    <p>{ e.clone() }</p>
                    <button type="button" data-testid="error-dismiss" class="secondary" aria-label="Dismiss the error"
                            onclick={on_msg.reform(|_| Msg::DismissError)}>{ "Dismiss" }</button>
                </div>
            }
            <div class="toast notice-region" role="status" aria-live="polite">
                if let Some(n) = &props.notice {
                    <p data-testid="notice">{ n.clone() }</p>
                    <button type="button" class="secondary" aria-label="Dismiss the notice"
                            onclick={on_msg.reform(|_| Msg::DismissNotice)}>{ "OK" }</button>
                }
            </div>
            <div data-testid="progress" class={classes!("progress", busy.then_some("busy"))} data-busy={busy.to_string()}
                 role="status" aria-live="polite">
                <span class="stage">{ if busy { stage } else { "ready".to_string() } }</span>
                if busy {
                    <progress max={max} value={value} aria-label="progress"></progress>
                }
                <button type="button" data-testid="cancel-button" class="secondary" disabled={!busy}
                        onclick={on_msg.reform(|_| Msg::Cancel)}>{ "Cancel" }</button>
            </div>
        </aside>
    }
}
