//! The browser app. The page (Yew, [`ui`]) never computes: it sends [`protocol::Request`]s to a Web
//! Worker ([`worker`]), where a [`session::Session`] holds the model, the image and its forward pass,
//! and answers with [`protocol::Response`]s (progress along the way). The protocol, the session and
//! the page's state machine ([`page`]) are plain Rust, tested natively; the worker and page glue
//! exist only on wasm32.
#[cfg(feature = "engine")]
pub mod flipping;
#[cfg(feature = "engine")]
pub mod helper;
pub mod page;
pub mod preprocess_check;
pub mod progress;
pub mod protocol;
#[cfg(feature = "engine")]
pub mod session;

#[cfg(target_arch = "wasm32")]
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod wire;
#[cfg(all(target_arch = "wasm32", feature = "engine"))]
pub mod worker;
