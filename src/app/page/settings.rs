//! The method settings chosen in the page: the method, its parameters (and their text inputs), the
//! target class and the compared methods.
use crate::method::{Family, Method, MethodParams};

/// The method settings chosen in the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub method: Method,
    pub params: MethodParams,
    /// None = the predicted class.
    pub target: Option<usize>,
    /// Methods shown beside the first (at most [`MAX_COMPARE`], in the order picked).
    pub compare: Vec<Method>,
}

/// The most methods shown beside the main one (four maps in all).
pub const MAX_COMPARE: usize = 3;

impl Default for Settings {
    fn default() -> Self {
        Settings { method: Method::Rlrp, params: MethodParams::default(), target: None, compare: Vec::new() }
    }
}

impl Settings {
    /// Adds `m` to the compared methods, or removes it if it is there; the main method and a full
    /// set are left as they are. Returns whether anything changed.
    pub fn toggle_compare(&mut self, m: Method) -> bool {
        if let Some(i) = self.compare.iter().position(|c| *c == m) {
            self.compare.remove(i);
            true
        } else if m != self.method && self.compare.len() < MAX_COMPARE {
            self.compare.push(m);
            true
        } else {
            false
        }
    }
}

/// Whether a method reads the stabiliser (every classical LRP method: the Norm rule at skips and
/// average pooling, and the z⁺, αβ, γ, flat, w², z^B rules).
pub fn uses_stabilizer(method: Method) -> bool {
    matches!(method.family(), Family::Lrp)
}

/// The parameters with the ones `method` does not read reset to their defaults, so that editing an
/// unused parameter does not count as a new explanation.
pub fn normalized(method: Method, params: &MethodParams) -> MethodParams {
    let d = MethodParams::default();
    let uses = method.uses();
    MethodParams {
        epsilon: if uses.contains(&"epsilon") { params.epsilon } else { d.epsilon },
        gamma: if uses.contains(&"gamma") { params.gamma } else { d.gamma },
        alpha: if uses.contains(&"alpha") { params.alpha } else { d.alpha },
        beta: if uses.contains(&"beta") { params.beta } else { d.beta },
        stabilizer: if uses_stabilizer(method) { params.stabilizer } else { d.stabilizer },
        input_range: None,
    }
}

/// A method parameter input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Epsilon,
    Gamma,
    Alpha,
    Beta,
    Stabilizer,
}

impl Param {
    pub const ALL: [Param; 5] = [Param::Epsilon, Param::Gamma, Param::Alpha, Param::Beta, Param::Stabilizer];
    pub fn name(self) -> &'static str {
        match self {
            Param::Epsilon => "epsilon",
            Param::Gamma => "gamma",
            Param::Alpha => "alpha",
            Param::Beta => "beta",
            Param::Stabilizer => "stabilizer",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Param::Epsilon => "ε",
            Param::Gamma => "γ",
            Param::Alpha => "α",
            Param::Beta => "β",
            Param::Stabilizer => "stabiliser",
        }
    }
    pub fn get(self, p: &MethodParams) -> f32 {
        match self {
            Param::Epsilon => p.epsilon,
            Param::Gamma => p.gamma,
            Param::Alpha => p.alpha,
            Param::Beta => p.beta,
            Param::Stabilizer => p.stabilizer,
        }
    }
    pub fn set(self, p: &mut MethodParams, v: f32) {
        match self {
            Param::Epsilon => p.epsilon = v,
            Param::Gamma => p.gamma = v,
            Param::Alpha => p.alpha = v,
            Param::Beta => p.beta = v,
            Param::Stabilizer => p.stabilizer = v,
        }
    }
    pub fn index(self) -> usize {
        Param::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
    /// Whether the method's inputs show this parameter.
    pub fn shown_for(self, m: Method) -> bool {
        match self {
            Param::Stabilizer => uses_stabilizer(m),
            p => m.uses().contains(&p.name()),
        }
    }
}

/// The text of every parameter input, from the parameters.
pub fn param_texts(p: &MethodParams) -> [String; 5] {
    Param::ALL.map(|q| q.get(p).to_string())
}
