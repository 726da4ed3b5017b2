//! One error type for the whole library: every failure a user can cause has a variant with a clear
//! message (never a panic).
use thiserror::Error;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Error)]
pub enum Error {
    /// The bytes are not a readable ONNX protobuf (empty, truncated, corrupt, not ONNX at all).
    #[error("not a readable ONNX model: {0}")]
    OnnxDecode(String),
    /// The ONNX file decodes but is not a model we can explain (structure, missing tensors...).
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// An operator that the relevance pass has no rule for (RLRP.md: never a silent guess).
    #[error("unsupported operator {op} at node '{node}'")]
    UnsupportedOperator { op: String, node: String },
    /// An operator we support, used in a way we do not (e.g. a Conv whose weights are computed).
    #[error("unsupported use of {op} at node '{node}': {reason}")]
    UnsupportedUsage { op: String, node: String, reason: String },
    /// A forward or relevance pass produced NaN or ±∞ (where first, and why, is in the message).
    #[error("non-finite values: {0}")]
    NonFinite(String),
    /// An explanation that cannot be trusted (non-finite values, a map that is zero everywhere).
    #[error("degenerate explanation: {0}")]
    Degenerate(String),
    /// The file asks for more memory or work than [`crate::budget`] allows.
    #[error("over budget: {0}")]
    Budget(String),
    /// tract (the forward-pass engine) rejected the model: opset, shapes, types.
    #[error("the inference engine (tract) rejected the model: {0}")]
    Engine(String),
    /// NaN or infinity in the model's weights.
    #[error("the weights of node '{node}' contain {count} non-finite values (NaN or infinity)")]
    NonFiniteWeights { node: String, count: usize },
    /// The input tensor does not have the shape the model expects.
    #[error("input shape {got:?} does not match the model input shape {expected:?}")]
    InputShape { expected: Vec<usize>, got: Vec<usize> },
    /// The input contains NaN or infinity.
    #[error("the input contains {0} non-finite values (NaN or infinity)")]
    NonFiniteInput(usize),
    /// An image that cannot be decoded or is unusable (too large, zero size...).
    #[error("image: {0}")]
    Image(String),
    /// A preprocessing sidecar (model.json) that is missing or malformed.
    #[error("sidecar: {0}")]
    Sidecar(String),
    /// A malformed .npy file.
    #[error("npy: {0}")]
    Npy(String),
    /// A bad request: unknown method, target class out of range, bad parameter...
    #[error("{0}")]
    Request(String),
    /// The job was cancelled (a newer request superseded it).
    #[error("cancelled")]
    Cancelled,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// A panic as people read it: "panicked at tract-hir-0.23.9/src/ops/array/flatten.rs:15: range end
/// index 9 out of range for slice of length 4" (the crate's file, not the build machine's cargo
/// registry path). For the engine guard's errors and the browser worker's crash report.
pub fn panic_text(info: &std::panic::PanicHookInfo) -> String {
    let place = info
        .location()
        .map(|l| {
            let file = l.file();
            let short = match file.split_once("/registry/src/") {
                Some((_, rest)) => rest.split_once('/').map_or(rest, |(_, crate_path)| crate_path),
                None => file,
            };
            format!(" at {short}:{}", l.line())
        })
        .unwrap_or_default();
    let payload = info.payload();
    let what = payload.downcast_ref::<&str>().copied().or(payload.downcast_ref::<String>().map(String::as_str));
    format!("panicked{place}: {}", what.unwrap_or("no message"))
}
