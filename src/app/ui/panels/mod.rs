//! The page's panels, one Yew function component each, fed by props that the root component
//! ([`super::app::App`]) builds from its state: plain data (or small view structs), the
//! `NodeRef`s of the canvases and selects that `App` paints and syncs, and `on_msg`, the callback
//! that hands a [`Msg`] to `App`. A panel reads nothing else, so adding one touches its own file,
//! this list and the place in `App::view_page` where it is put.
//!
//! - [`input`]: the drop zone, the samples, the model picker and the preprocessing form;
//! - [`picture`]: the model input and the heatmaps side by side, the warnings and the downloads;
//! - [`status`]: progress, cancel, notices and errors (its progress line re-renders alone, from a
//!   [`status::ProgressFeed`] that `App` sets: progress reports do not render the whole page);
//! - [`prediction`]: the top classes, the class to explain, the numbers and the timings;
//! - [`controls`]: the method, its parameters, the compared methods and how the maps are drawn;
//! - [`faithfulness`]: pixel flipping;
//! - [`layers`]: the relevance through the layers and a layer's map.
pub mod controls;
pub mod faithfulness;
pub mod input;
pub mod layers;
pub mod picture;
pub mod prediction;
pub mod status;

pub use super::app::Msg;
use web_sys::{HtmlInputElement, HtmlSelectElement, KeyboardEvent};
use yew::prelude::*;

pub(super) fn select_value(e: &Event) -> String {
    e.target_unchecked_into::<HtmlSelectElement>().value()
}

pub(super) fn input_value(e: &InputEvent) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

pub(super) fn is_enter(e: &KeyboardEvent) -> bool {
    e.key() == "Enter"
}

/// Canvases of small inputs (MNIST) are scaled up with crisp pixels.
pub(super) fn canvas_class(base: &'static str, width: u32) -> Classes {
    classes!(base, (width < 100).then_some("pixelated"))
}
