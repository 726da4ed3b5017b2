//! The explanation methods and their parameters: names, labels, validation. What each method does
//! to each layer is in `relevance::composite` (engine side); this module is shared with the page.
use crate::error::{Error, Result};

/// An explanation method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// R-LRP, the paper's form (RLRP.md). The default.
    Rlrp,
    /// R-LRP with division-free skips (RLRP.md, "Variant").
    RlrpDivfree,
    Lrp0,
    Epsilon,
    Gamma,
    Alphabeta,
    Zplus,
    Flat,
    Wsquare,
    /// z^B on the first layer, LRP-ε elsewhere.
    Zbox,
    /// Zennit's EpsilonPlusFlat: Flat on the first layer, z⁺ on convolutions, ε on dense layers.
    EpsilonPlusFlat,
    /// Zennit's EpsilonGammaBox: z^B on the first convolution, γ on convolutions, ε on dense layers.
    EpsilonGammaBox,
    Gradient,
    GradientXInput,
}

impl Method {
    pub const ALL: [Method; 14] = [
        Method::Rlrp,
        Method::RlrpDivfree,
        Method::Lrp0,
        Method::Epsilon,
        Method::Gamma,
        Method::Alphabeta,
        Method::Zplus,
        Method::Flat,
        Method::Wsquare,
        Method::Zbox,
        Method::EpsilonPlusFlat,
        Method::EpsilonGammaBox,
        Method::Gradient,
        Method::GradientXInput,
    ];

    /// The command-line / URL name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Rlrp => "rlrp",
            Method::RlrpDivfree => "rlrp-divfree",
            Method::Lrp0 => "lrp0",
            Method::Epsilon => "epsilon",
            Method::Gamma => "gamma",
            Method::Alphabeta => "alphabeta",
            Method::Zplus => "zplus",
            Method::Flat => "flat",
            Method::Wsquare => "wsquare",
            Method::Zbox => "zbox",
            Method::EpsilonPlusFlat => "epsilon-plus-flat",
            Method::EpsilonGammaBox => "epsilon-gamma-box",
            Method::Gradient => "gradient",
            Method::GradientXInput => "gradient-x-input",
        }
    }

    /// A human-readable label.
    pub fn label(self) -> &'static str {
        match self {
            Method::Rlrp => "R-LRP",
            Method::RlrpDivfree => "R-LRP, division-free skips",
            Method::Lrp0 => "LRP-0",
            Method::Epsilon => "LRP-ε",
            Method::Gamma => "LRP-γ",
            Method::Alphabeta => "LRP-αβ",
            Method::Zplus => "LRP-z⁺",
            Method::Flat => "LRP-flat",
            Method::Wsquare => "LRP-w²",
            Method::Zbox => "LRP-z^B (first layer) + ε",
            Method::EpsilonPlusFlat => "EpsilonPlusFlat",
            Method::EpsilonGammaBox => "EpsilonGammaBox",
            Method::Gradient => "Gradient",
            Method::GradientXInput => "Gradient × Input",
        }
    }

    pub fn parse(s: &str) -> Result<Method> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match norm.as_str() {
            "r-lrp" => "rlrp",
            "rlrp-divfree-skip" | "rlrp-division-free" => "rlrp-divfree",
            "alpha-beta" | "alpha2-beta1" => "alphabeta",
            "z-plus" => "zplus",
            "w-square" => "wsquare",
            "z-box" => "zbox",
            "gradient-input" | "gradient-times-input" | "gxi" => "gradient-x-input",
            other => other,
        };
        Method::ALL.iter().copied().find(|m| m.name() == alias).ok_or_else(|| {
            let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
            Error::Request(format!("unknown method '{s}'; choose one of: {}", names.join(", ")))
        })
    }

    pub fn family(self) -> Family {
        match self {
            Method::Rlrp => Family::Rlrp { divfree_skips: false },
            Method::RlrpDivfree => Family::Rlrp { divfree_skips: true },
            Method::Gradient | Method::GradientXInput => Family::Gradient,
            _ => Family::Lrp,
        }
    }

    /// The parameters this method uses (for display and validation).
    pub fn uses(self) -> &'static [&'static str] {
        match self {
            Method::Epsilon | Method::Zbox => &["epsilon"],
            Method::Gamma => &["gamma"],
            Method::Alphabeta => &["alpha", "beta"],
            Method::EpsilonPlusFlat => &["epsilon"],
            Method::EpsilonGammaBox => &["epsilon", "gamma"],
            _ => &[],
        }
    }
}

/// How a method treats the non-linear parts of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// R-LRP: λ-rescaled linear rule; skip additions split in proportion (paper) or division-free.
    Rlrp { divfree_skips: bool },
    /// Classical LRP: per-layer rules; skip additions and pooling get Zennit's Norm rule.
    Lrp,
    /// Gradient: exact vector-Jacobian products everywhere.
    Gradient,
}

/// Method hyper-parameters (R-LRP has none).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MethodParams {
    pub epsilon: f32,
    pub gamma: f32,
    pub alpha: f32,
    pub beta: f32,
    /// The stabiliser of z⁺, αβ, γ, flat, w², z^B and the Norm rule (Zennit's default 1e-6).
    pub stabilizer: f32,
    /// Lowest and highest value of a preprocessed input (for z^B); None = take them from the input.
    pub input_range: Option<(f32, f32)>,
}

impl Default for MethodParams {
    fn default() -> Self {
        MethodParams { epsilon: 1e-6, gamma: 0.25, alpha: 2.0, beta: 1.0, stabilizer: 1e-6, input_range: None }
    }
}

impl MethodParams {
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Request(what.to_string()));
        if !(self.epsilon.is_finite() && self.epsilon >= 0.0) {
            return bad("epsilon must be a finite number ≥ 0");
        }
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return bad("gamma must be a finite number ≥ 0");
        }
        if !(self.alpha.is_finite() && self.beta.is_finite() && self.alpha >= 0.0 && self.beta >= 0.0) {
            return bad("alpha and beta must be finite numbers ≥ 0");
        }
        if (self.alpha - self.beta - 1.0).abs() > 1e-6 {
            return bad("alpha − beta must equal 1 (conservation), e.g. alpha 2, beta 1");
        }
        if let Some((lo, hi)) = self.input_range {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return bad("the input range must be two finite numbers, low < high");
            }
        }
        Ok(())
    }
}
