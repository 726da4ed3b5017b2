//! The page: a Yew app that sends requests to the engine's Web Worker and paints its answers with
//! the same code as the command line ([`crate::heatmap::paint_over`]).
//!
//! - [`app`]: the root component, the glue around the page's state machine
//!   ([`crate::app::page`]: what the page wants against what the worker holds, replayed after a
//!   cancel or a crash), applying its effects to the worker and the canvases;
//! - [`engine`]: the worker handle; [`net`]: fetching the bundled models; [`files`]: files in
//!   (drop, paste, picker) and out (downloads); [`paint`]: canvases; [`charts`]: SVG charts and
//!   the colour bar; [`view`]: the page's layout and the props of its panels; [`panels`]: the
//!   panels, one component each; [`sidecar_form`]: preprocessing of a user model.
mod app;
mod charts;
mod engine;
mod files;
mod net;
mod paint;
mod panels;
mod sidecar_form;
mod state;
mod view;

/// Starts the page (called by the `rlrp-app` binary).
pub fn start() {
    console_error_panic_hook::set_once();
    yew::Renderer::<app::App>::new().render();
}
