//! The status panel: progress, cancel, notices and errors in one fixed, non-modal region at the
//! bottom of the window, always in view and never moving the page.
//!
//! The progress line re-renders on its own ([`ProgressFeed`]): the root component sets what it
//! shows, and a progress report (ten a second during long work such as pixel flipping) then costs
//! the page that line's update, not a render of the whole page (~6 ms of the page's thread each,
//! plus the paint, taken from the workers on two cores).
use super::Msg;
use crate::app::page::Busy;
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

/// What the progress line shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProgressLine {
    /// Anything going on (downloads, the worker, or work waiting for the worker).
    pub busy: bool,
    pub stage: String,
    /// The bar's value and maximum (no value: a bar without a known end).
    pub value: Option<String>,
    pub max: String,
}

impl ProgressLine {
    /// The line for `busy` (anything going on), the download in progress (`"downloading …"`), if
    /// any, and the worker's progress, if it is working.
    pub fn of(busy: bool, downloading: Option<&str>, work: Option<&Busy>) -> ProgressLine {
        let stage = match (downloading, work) {
            _ if !busy => "ready".to_string(),
            (Some(f), _) => f.to_string(),
            (None, Some(b)) => b.stage.clone(),
            (None, None) => "ready".to_string(),
        };
        let (value, max) = match work {
            Some(b) if b.total > 0 && downloading.is_none() => (Some(b.done.to_string()), b.total.to_string()),
            _ => (None, "1".to_string()),
        };
        ProgressLine { busy, stage, value, max }
    }
}

/// The progress line's state, shared by the root component (which sets it after every change) and
/// the line (which re-renders when it changes). Equal to its clones only.
#[derive(Clone, Default)]
pub struct ProgressFeed(Rc<RefCell<FeedState>>);

#[derive(Default)]
struct FeedState {
    line: ProgressLine,
    /// Re-renders the line (None until the line is in the page).
    redraw: Option<Callback<()>>,
}

impl PartialEq for ProgressFeed {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl ProgressFeed {
    /// Shows `line` (the line re-renders if it changed).
    pub fn set(&self, line: ProgressLine) {
        {
            let mut state = self.0.borrow_mut();
            if state.line == line {
                return;
            }
            state.line = line;
        }
        self.redraw();
    }

    /// What the line shows now.
    pub fn line(&self) -> ProgressLine {
        self.0.borrow().line.clone()
    }

    /// Tells the feed how to re-render the line (None: the line left the page).
    fn listen(&self, redraw: Option<Callback<()>>) {
        self.0.borrow_mut().redraw = redraw;
    }

    fn redraw(&self) {
        let redraw = self.0.borrow().redraw.clone();
        if let Some(redraw) = redraw {
            redraw.emit(());
        }
    }
}

#[derive(Properties, PartialEq)]
pub struct StatusProps {
    pub progress: ProgressFeed,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub on_msg: Callback<Msg>,
}

#[function_component(StatusPanel)]
pub fn status_panel(props: &StatusProps) -> Html {
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
            <ProgressView feed={props.progress.clone()} on_msg={on_msg.clone()} />
        </aside>
    }
}

#[derive(Properties, PartialEq)]
struct ProgressProps {
    feed: ProgressFeed,
    on_msg: Callback<Msg>,
}

/// The progress line and the cancel button, drawn from the feed.
#[function_component(ProgressView)]
fn progress_view(props: &ProgressProps) -> Html {
    let redraw = use_force_update();
    let line = props.feed.line();
    let shown = line.clone();
    use_effect_with(props.feed.clone(), move |feed| {
        feed.listen(Some(Callback::from(move |()| redraw.force_update())));
        // a change between this first render and now
        if feed.line() != shown {
            feed.redraw();
        }
        let feed = feed.clone();
        move || feed.listen(None)
    });
    let ProgressLine { busy, stage, value, max } = line;
    html! {
        <div data-testid="progress" class={classes!("progress", busy.then_some("busy"))} data-busy={busy.to_string()}
             role="status" aria-live="polite">
            <span class="stage">{ stage }</span>
            if busy {
                <progress max={max} value={value} aria-label="progress"></progress>
            }
            <button type="button" data-testid="cancel-button" class="secondary" disabled={!busy}
                    onclick={props.on_msg.reform(|_| Msg::Cancel)}>{ "Cancel" }</button>
        </div>
    }
}
