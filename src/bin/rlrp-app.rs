//! The page: a Yew app (src/app/ui). Built for wasm32 by trunk; natively it does nothing.
#[cfg(target_arch = "wasm32")]
fn main() {
    rlrp::app::ui::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
