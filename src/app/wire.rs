//! Messages as JavaScript values: `{ id: number, body: string (JSON), data: Uint8Array[] }`. The
//! byte arrays' buffers are transferred, not copied, when posted.
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// A decoded message.
pub struct Message {
    pub id: u64,
    /// JSON of a [`super::protocol::Request`] or [`super::protocol::Response`].
    pub body: String,
    pub data: Vec<Vec<u8>>,
}

/// Builds the JavaScript message and the list of buffers to transfer with it.
pub fn encode(id: u64, body: &str, data: &[Vec<u8>]) -> (JsValue, Array) {
    let msg = Object::new();
    let arrays = Array::new();
    let transfer = Array::new();
    for bytes in data {
        let a = Uint8Array::from(bytes.as_slice());
        transfer.push(&a.buffer());
        arrays.push(&a);
    }
    // Setting properties on a fresh plain object cannot fail.
    let _ = Reflect::set(&msg, &"id".into(), &JsValue::from_f64(id as f64));
    let _ = Reflect::set(&msg, &"body".into(), &JsValue::from_str(body));
    let _ = Reflect::set(&msg, &"data".into(), &arrays);
    (msg.into(), transfer)
}

/// Reads a message built by [`encode`].
pub fn decode(value: &JsValue) -> Result<Message, String> {
    let get = |key: &str| Reflect::get(value, &key.into()).map_err(|_| format!("the message has no '{key}'"));
    let id = get("id")?.as_f64().ok_or("the message id is not a number")? as u64;
    let body = get("body")?.as_string().ok_or("the message body is not a string")?;
    let data = get("data")?;
    let data = if data.is_undefined() || data.is_null() {
        Vec::new()
    } else {
        let list: Array = data.dyn_into().map_err(|_| "the message data is not a list".to_string())?;
        list.iter()
            .map(|v| {
                v.dyn_into::<Uint8Array>()
                    .map(|a| a.to_vec())
                    .map_err(|_| "message data must be Uint8Arrays".to_string())
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(Message { id, body, data })
}
