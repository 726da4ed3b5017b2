//! Canvases: pictures as RGBA bytes, put on a canvas only when they change (or when the canvas
//! element itself was replaced).
use std::sync::atomic::{AtomicU64, Ordering};
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};
use yew::NodeRef;

static NEXT_PICTURE: AtomicU64 = AtomicU64::new(1);

/// An RGBA picture with a unique id.
pub struct Picture {
    pub id: u64,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Picture {
    pub fn from_rgb(img: &image::RgbImage) -> Picture {
        let (width, height) = img.dimensions();
        let mut rgba = Vec::with_capacity(width as usize * height as usize * 4);
        for px in img.as_raw().chunks_exact(3) {
            rgba.extend_from_slice(&[px[0], px[1], px[2], 255]);
        }
        Picture { id: NEXT_PICTURE.fetch_add(1, Ordering::Relaxed), width, height, rgba }
    }

    pub fn from_rgba(img: image::RgbaImage) -> Picture {
        let (width, height) = img.dimensions();
        Picture { id: NEXT_PICTURE.fetch_add(1, Ordering::Relaxed), width, height, rgba: img.into_raw() }
    }
}

/// A canvas in the page and what was last put on it.
#[derive(Default)]
pub struct CanvasSlot {
    pub node: NodeRef,
    painted: Option<(u64, HtmlCanvasElement)>,
}

impl CanvasSlot {
    /// Puts `picture` on the canvas unless it is already there; `None` clears it.
    pub fn sync(&mut self, picture: Option<&Picture>) {
        let Some(canvas) = self.node.cast::<HtmlCanvasElement>() else { return };
        let id = picture.map(|p| p.id).unwrap_or(0);
        if let Some((done, el)) = &self.painted {
            if *done == id && *el == canvas {
                return;
            }
        }
        match picture {
            Some(p) => put(&canvas, p),
            None => clear(&canvas),
        }
        self.painted = Some((id, canvas));
    }
}

/// `picture` as a PNG `data:` URL, encoded by the browser (a detached canvas's `toDataURL`): the
/// page's wasm then needs no PNG encoder of its own. Opaque pixels come out exactly as given.
pub fn png_data_url(picture: &Picture) -> Result<String, String> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(|e| super::engine::js_error_text(&e))?
        .dyn_into()
        .map_err(|_| "not a canvas")?;
    put(&canvas, picture);
    canvas.to_data_url_with_type("image/png").map_err(|e| super::engine::js_error_text(&e))
}

fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into().ok())
}

fn put(canvas: &HtmlCanvasElement, p: &Picture) {
    if canvas.width() != p.width {
        canvas.set_width(p.width);
    }
    if canvas.height() != p.height {
        canvas.set_height(p.height);
    }
    let Some(ctx) = context(canvas) else { return };
    if p.width == 0 || p.height == 0 {
        return;
    }
    match ImageData::new_with_u8_clamped_array_and_sh(Clamped(&p.rgba), p.width, p.height) {
        Ok(data) => {
            if let Err(e) = ctx.put_image_data(&data, 0.0, 0.0) {
                web_sys::console::warn_2(&"rlrp: cannot paint".into(), &e);
            }
        }
        Err(e) => web_sys::console::warn_2(&"rlrp: bad picture".into(), &e),
    }
}

fn clear(canvas: &HtmlCanvasElement) {
    if let Some(ctx) = context(canvas) {
        ctx.clear_rect(0.0, 0.0, canvas.width() as f64, canvas.height() as f64);
    }
}
