//! The Web Worker that loads models and computes (src/app/worker). Built for wasm32 by trunk as a
//! worker; natively it does nothing.
#[cfg(target_arch = "wasm32")]
fn main() {
    rlrp::app::worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
