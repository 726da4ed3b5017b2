//! Linear-layer rules. Every rule is a small parametrisation of one generic propagation step (Zennit's
//! `BasicHook`): a few *terms*, each an (input modifier, weight modifier, bias modifier) triple giving a
//! modified forward output `o_k = W_k·in_k(x) + b_k`; a *mapper* turning the incoming relevance and the
//! outputs into one signal `s_k` per term; and the result `R_in = Σ_k c_k · in_k(x) ⊙ W_kᵀ s_k`.
//! R-LRP (RLRP.md, "The R-LRP linear rule") is the same step with `s = R` and a global rescale λ instead
//! of a per-neuron division. The sign-split rules (z⁺, αβ, γ) have one specialisation, for an input
//! with no negative entry (after every ReLU): the same sums without the terms that vanish there
//! (`NonNegativeSplit`). αβ (and z⁺ on a mixed-sign input) at Conv and Dense layers takes three
//! products from |W||x| instead ([`alpha_beta`]). `tests/native/rules_reference.rs` checks every
//! form against dense references.
use crate::kernels::elementwise;
use crate::model::graph::Linear;
use crate::relevance::linear::{slice, tensor};
use crate::tensor::{ndarray, Tensor, TensorRef, TensorView};
use std::borrow::Cow;
use std::rc::Rc;

mod alpha_beta;

/// The rule applied at one linear layer.
#[derive(Clone, Debug, PartialEq)]
pub enum LinearRule {
    /// R-LRP: `U = x ⊙ Wᵀ R`, `R_in = λU`, `λ = ‖R‖₁/‖U‖₁` (RLRP.md).
    Rlrp,
    /// LRP-ε: `s = R / (z + ε·sign(z))` (Zennit's stabiliser: sign(0) = +1). ε = 0 is LRP-0, where a zero
    /// denominator drops the message instead of dividing by zero.
    Epsilon {
        epsilon: f32,
    },
    /// z⁺ (= α1β0 with negative inputs allowed, as in Zennit).
    ZPlus {
        stabilizer: f32,
    },
    AlphaBeta {
        alpha: f32,
        beta: f32,
        stabilizer: f32,
    },
    /// Zennit's generalised γ rule.
    Gamma {
        gamma: f32,
        stabilizer: f32,
    },
    /// Flat: weights and inputs set to one, bias dropped.
    Flat {
        stabilizer: f32,
    },
    /// w²: inputs set to one, weights (and bias) squared.
    WSquare {
        stabilizer: f32,
    },
    /// z^B: input bounded in [low, high].
    ZBox {
        low: f32,
        high: f32,
        stabilizer: f32,
    },
    /// Zennit's Norm rule (pooling, skip sums): ε-rule with a fixed stabiliser and no parameters.
    Norm {
        stabilizer: f32,
    },
    /// Relevance passes unchanged (Zennit's Pass, used for BatchNorm layers left in place).
    Pass,
    /// The vector-Jacobian product `Wᵀ R` (gradient methods).
    Gradient,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum InputMod {
    Keep,
    Positive,
    Negative,
    Ones,
    Constant(f32),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ParamMod {
    Keep,
    Positive,
    Negative,
    /// `p + γ·max(p, 0)`
    GammaPositive(f32),
    /// `p + γ·min(p, 0)`
    GammaNegative(f32),
    Square,
    /// `|p|` = W⁺ − W⁻ (γ on a mixed-sign input: |W| and |b| forward, |W| backward)
    Abs,
    Ones,
    Zero,
}

impl ParamMod {
    fn apply(self, p: f32) -> f32 {
        match self {
            ParamMod::Keep => p,
            ParamMod::Positive => positive_part(p),
            ParamMod::Negative => negative_part(p),
            ParamMod::GammaPositive(g) => p + g * positive_part(p),
            ParamMod::GammaNegative(g) => p + g * negative_part(p),
            ParamMod::Square => p * p,
            ParamMod::Abs => p.abs(),
            ParamMod::Ones => 1.0,
            ParamMod::Zero => 0.0,
        }
    }
}

/// `max(v, 0)` (NaN → 0). Not `f32::max`: on wasm32 that is a call to libm's `fmaxf` per element,
/// which showed up at ~3 % of the worker's profile under αβ.
fn positive_part(v: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        0.0
    }
}

/// `min(v, 0)` (NaN → 0), without `f32::min`'s `fminf` call on wasm32.
fn negative_part(v: f32) -> f32 {
    if v < 0.0 {
        v
    } else {
        0.0
    }
}

/// One term of the generic step: (input modifier, weight modifier, bias modifier).
#[derive(Clone, Copy, Debug)]
struct Term(InputMod, ParamMod, ParamMod);

/// Zennit's stabiliser: `z + ε·(sign(z) + [z = 0])`. With ε = 0, a zero denominator yields 0.
fn stabilised_divide(r: f32, z: f32, eps: f32) -> f32 {
    let d = if z > 0.0 {
        z + eps
    } else if z < 0.0 {
        z - eps
    } else {
        eps
    };
    if d == 0.0 {
        0.0
    } else {
        r / d
    }
}

/// Everything the step needs about the layer at hand.
pub struct LayerContext<'a> {
    pub layer: &'a Linear,
    /// Layer input activation.
    pub x: TensorView<'a>,
    pub out_shape: &'a [usize],
    /// The layer's output `z = W x + b` as the forward pass computed it, when it was kept (the
    /// rules that split by the sign of `z` read it instead of computing it again).
    pub z: Option<TensorView<'a>>,
    /// ‖r‖₁ of the relevance arriving at the layer's output, when the caller has it (the walk
    /// measures every layer's mass): R-LRP's λ needs it.
    pub r_l1: Option<f64>,
}

impl LayerContext<'_> {
    /// The layer input under `m`, in standard layout (one loop over contiguous values: `mapv` over
    /// n-dimensional views, once per modifier, was 17 kB of the worker's code).
    fn modified_input(&self, m: InputMod) -> Tensor {
        let part: fn(f32) -> f32 = match m {
            InputMod::Keep => return self.x.as_standard_layout().into_owned(),
            InputMod::Ones => return Tensor::from_elem(self.x.raw_dim(), 1.0),
            InputMod::Constant(c) => return Tensor::from_elem(self.x.raw_dim(), c),
            InputMod::Positive => positive_part,
            InputMod::Negative => negative_part,
        };
        let x = self.x.as_standard_layout();
        let values = x.as_slice().expect("standard layout").iter().map(|&v| part(v)).collect();
        Tensor::from_shape_vec(self.x.raw_dim(), values).expect("the input's size")
    }

    /// The layer's bias under `m` (None when it has none).
    fn modified_bias(&self, m: ParamMod) -> Option<Cow<'_, [f32]>> {
        let own = self.layer.bias()?;
        Some(match m {
            ParamMod::Keep => Cow::Borrowed(own),
            m => Cow::Owned(own.iter().map(|&v| m.apply(v)).collect()),
        })
    }

    /// True when a term's modified input is zero everywhere (`x⁻` of a non-negative input, as after
    /// a ReLU; `x⁺` of a non-positive one): its product with any weights is exactly zero, so the
    /// term's matrix product is skipped (γ, αβ, z⁺ then cost half as much after every ReLU).
    fn vanishes(input: &TensorRef, t: Term) -> bool {
        matches!(t.0, InputMod::Positive | InputMod::Negative) && input.iter().all(|&v| v == 0.0)
    }

    /// The layer's own output `z = W x + b`: the kept one when the forward pass kept it, else
    /// computed.
    fn output(&self) -> Cow<'_, TensorRef> {
        match &self.z {
            Some(z) if z.shape() == self.out_shape => Cow::Borrowed(&**z),
            _ => Cow::Owned(self.forward(
                &self.x,
                Term(InputMod::Keep, ParamMod::Keep, ParamMod::Keep),
                &ModifiedWeights::default(),
            )),
        }
    }

    /// `W_k·in + b_k` for one term.
    fn forward(&self, input: &TensorRef, t: Term, weights: &ModifiedWeights) -> Tensor {
        if Self::vanishes(input, t) && (matches!(t.2, ParamMod::Zero) || self.layer.bias().is_none()) {
            return Tensor::zeros(ndarray::IxDyn(self.out_shape));
        }
        let w = weights.get(self, t.1);
        let b = self.modified_bias(t.2);
        self.layer.forward_with(input, w.as_ref().map(|w| w.as_slice()), b.as_deref(), self.out_shape)
    }

    /// `in ⊙ W_kᵀ s` for one term.
    fn backward(&self, input: &Tensor, t: Term, s: &Tensor, weights: &ModifiedWeights) -> Tensor {
        if Self::vanishes(input, t) {
            return Tensor::zeros(self.x.raw_dim());
        }
        let w = weights.get(self, t.1);
        let mut g = self.layer.transpose_with(s, w.as_ref().map(|w| w.as_slice()), self.x.shape());
        if !matches!(t.0, InputMod::Ones) {
            g.zip_mut_with(input, |a, b| *a *= b);
        }
        g
    }
}

/// Applies `rule` at a linear layer: relevance `r` at its output → relevance at its input.
pub fn propagate(rule: &LinearRule, ctx: &LayerContext, r: &Tensor) -> Tensor {
    propagate_with_mass(rule, ctx, r).0
}

/// [`propagate`], and the result's `(Σ, ‖·‖₁)` ([`mass`]) where the rule measured it on the way
/// (R-LRP's rescale does), so that the walk need not read the result again.
pub fn propagate_with_mass(rule: &LinearRule, ctx: &LayerContext, r: &Tensor) -> (Tensor, Option<(f64, f64)>) {
    match rule {
        LinearRule::Rlrp => {
            let (u, measured) = rlrp(ctx, r);
            (u, Some(measured))
        }
        _ => (propagate_terms(rule, ctx, r), None),
    }
}

/// R-LRP (RLRP.md, "The R-LRP linear rule"): `U = x ⊙ Wᵀ R`, then `λU` with `λ = ‖R‖₁/‖U‖₁`;
/// with the result's mass. After the product, two passes over `U`: the product with `x` measures
/// ‖U‖₁, the rescale the result's sum and ‖·‖₁ (the same values and sums as separate passes).
fn rlrp(ctx: &LayerContext, r: &Tensor) -> (Tensor, (f64, f64)) {
    let mut u = ctx.layer.transpose_with(r, None, ctx.x.shape());
    let target = ctx.r_l1.unwrap_or_else(|| l1(r));
    let norm = match (u.as_slice_mut(), ctx.x.as_slice()) {
        (Some(us), Some(xs)) => elementwise::mul_assign_l1(us, xs),
        _ => {
            u.zip_mut_with(&ctx.x, |a, b| *a *= b);
            l1(&u)
        }
    };
    let measured = rescale_measured(&mut u, target, norm);
    (u, measured)
}

/// The generic step for every rule but R-LRP ([`propagate`]).
fn propagate_terms(rule: &LinearRule, ctx: &LayerContext, r: &Tensor) -> Tensor {
    use InputMod as I;
    use ParamMod as P;
    let weights = ModifiedWeights::default();
    match *rule {
        LinearRule::Pass => r.clone().into_shape_with_order(ctx.x.raw_dim()).unwrap_or_else(|_| r.clone()),
        LinearRule::Gradient => ctx.layer.transpose_with(r, None, ctx.x.shape()),
        LinearRule::Rlrp => rlrp(ctx, r).0,
        LinearRule::Epsilon { epsilon } => single_term(ctx, r, Term(I::Keep, P::Keep, P::Keep), epsilon),
        LinearRule::Norm { stabilizer } => single_term(ctx, r, Term(I::Keep, P::Keep, P::Keep), stabilizer),
        LinearRule::Flat { stabilizer } => single_term(ctx, r, Term(I::Ones, P::Ones, P::Zero), stabilizer),
        LinearRule::WSquare { stabilizer } => single_term(ctx, r, Term(I::Ones, P::Square, P::Square), stabilizer),
        LinearRule::ZPlus { stabilizer } => {
            if let Some(split) = NonNegativeSplit::new(ctx, false, &weights) {
                let s = divide(r, &split.positive, stabilizer);
                return split.backward(ctx, &[(&split.w_pos, &s)]);
            }
            // on a mixed-sign input: αβ with α = 1, β = 0 (the same terms), three products
            if let Some(relevance) = alpha_beta::propagate(ctx, r, 1.0, 0.0, stabilizer, &weights) {
                return relevance;
            }
            let terms = [Term(I::Positive, P::Positive, P::Positive), Term(I::Negative, P::Negative, P::Zero)];
            let (ins, outs) = forward_terms(ctx, &terms, &weights);
            let s = divide(r, &(&outs[0] + &outs[1]), stabilizer);
            ctx.backward(&ins[0], terms[0], &s, &weights) + ctx.backward(&ins[1], terms[1], &s, &weights)
        }
        LinearRule::AlphaBeta { alpha, beta, stabilizer } => {
            // α1β0 after a ReLU is z⁺'s two products; every other αβ takes three from |W||x|
            let z_plus_after_relu = beta == 0.0 && ctx.x.iter().all(|&v| v >= 0.0);
            if !z_plus_after_relu {
                if let Some(relevance) = alpha_beta::propagate(ctx, r, alpha, beta, stabilizer, &weights) {
                    return relevance;
                }
            }
            if let Some(split) = NonNegativeSplit::new(ctx, false, &weights) {
                let s_pos = divide_scaled(r, &split.positive, stabilizer, alpha);
                if beta == 0.0 {
                    return split.backward(ctx, &[(&split.w_pos, &s_pos)]);
                }
                // W⁻x + b⁻ has its own product here: as z − P it would lose digits where
                // |W⁻x| ≪ W⁺x, and αβ divides by it (6× the error against Zennit on Lite0)
                let w_neg = weights.get(ctx, ParamMod::Negative);
                let b_neg = ctx.modified_bias(ParamMod::Negative);
                let negative = ctx.layer.forward_with(
                    &ctx.x,
                    w_neg.as_deref().map(|w| w.as_slice()),
                    b_neg.as_deref(),
                    ctx.out_shape,
                );
                let s_neg = divide_scaled(r, &negative, stabilizer, -beta);
                return split.backward(ctx, &[(&split.w_pos, &s_pos), (&w_neg, &s_neg)]);
            }
            let terms = [
                Term(I::Positive, P::Positive, P::Positive),
                Term(I::Negative, P::Negative, P::Zero),
                Term(I::Positive, P::Negative, P::Negative),
                Term(I::Negative, P::Positive, P::Zero),
            ];
            let (ins, outs) = forward_terms(ctx, &terms, &weights);
            let s_pos = divide(r, &(&outs[0] + &outs[1]), stabilizer);
            let s_neg = divide(r, &(&outs[2] + &outs[3]), stabilizer);
            // (Conv and Dense layers took `alpha_beta`'s three products, with the lopsided
            // outputs summed term by term, and depthwise convolutions after a ReLU its exact
            // sides; depthwise ones on a mixed-sign input, implicit weights and layers with many
            // lopsided outputs come here.)
            // Four products here, not γ's two (`gamma_mixed_sign_backward`): the same pairing,
            // ½[x⊙Wᵀ(αs₊ − βs₋) + |x|⊙|W|ᵀ(αs₊ + βs₋)], cancels W⁺ᵀβs₋ terms where a small
            // negative denominator makes s₋ large (tried: 1.5e-4 relative L1 against Zennit on
            // Lite0, against 1.1e-5, and 3e-2 on the dense references).
            let pos =
                ctx.backward(&ins[0], terms[0], &s_pos, &weights) + ctx.backward(&ins[1], terms[1], &s_pos, &weights);
            let neg =
                ctx.backward(&ins[2], terms[2], &s_neg, &weights) + ctx.backward(&ins[3], terms[3], &s_neg, &weights);
            pos * alpha - neg * beta
        }
        LinearRule::Gamma { gamma, stabilizer } => {
            if let Some(split) = NonNegativeSplit::new(ctx, true, &weights) {
                // o₊ = (W + γW⁺)x + b + γb⁺ = z + γP and o₋ = (W + γW⁻)x + b + γb⁻ = z + γ(z − P)
                let z = split.z.expect("asked for a kept z");
                // (W + γW⁺)ᵀs₊ + (W + γW⁻)ᵀs₋ = Wᵀ(s₊ + (1 + γ)s₋) + γW⁺ᵀ(s₊ − s₋): two products, W⁺
                // shared with the forward; the s₋ terms on positive weights cancel to at most
                // a (1 + 2γ) error growth. s₊ and s₋ only live inside the one pass that makes
                // s_all = s₊ + (1 + γ)s₋ and s_diff = γ(s₊ − s₋).
                let (s_all, s_diff) = two_signals(r, z, &split.positive, |rv, zv, p| {
                    let (positive, negative) = (zv + gamma * p, zv + gamma * (zv - p));
                    let sp = if zv > 0.0 { stabilised_divide(rv, positive, stabilizer) } else { 0.0 };
                    let sn = if zv < 0.0 { stabilised_divide(rv, negative, stabilizer) } else { 0.0 };
                    (sp + (1.0 + gamma) * sn, gamma * (sp - sn))
                });
                let own = None;
                return split.backward(ctx, &[(&own, &s_all), (&split.w_pos, &s_diff)]);
            }
            if ctx.layer.weight().is_some() {
                let (sum, difference) = gamma_mixed_sign_signals(ctx, r, gamma, stabilizer, &weights);
                return gamma_mixed_sign_backward(ctx, &sum, &difference, gamma, &weights);
            }
            // implicit weights (pooling): the four terms as Zennit writes them
            let terms = [
                Term(I::Positive, P::GammaPositive(gamma), P::GammaPositive(gamma)),
                Term(I::Negative, P::GammaNegative(gamma), P::Zero),
                Term(I::Positive, P::GammaNegative(gamma), P::GammaNegative(gamma)),
                Term(I::Negative, P::GammaPositive(gamma), P::Zero),
            ];
            let (ins, outs) = forward_terms(ctx, &terms, &weights);
            let z = ctx.output();
            let z: &TensorRef = &z;
            let mut r_pos = r.clone();
            r_pos.zip_mut_with(z, |a, &zv| *a *= (zv > 0.0) as u8 as f32);
            let mut r_neg = r.clone();
            r_neg.zip_mut_with(z, |a, &zv| *a *= (zv < 0.0) as u8 as f32);
            let s_pos = divide(&r_pos, &(&outs[0] + &outs[1]), stabilizer);
            let s_neg = divide(&r_neg, &(&outs[2] + &outs[3]), stabilizer);
            ctx.backward(&ins[0], terms[0], &s_pos, &weights)
                + ctx.backward(&ins[1], terms[1], &s_pos, &weights)
                + ctx.backward(&ins[2], terms[2], &s_neg, &weights)
                + ctx.backward(&ins[3], terms[3], &s_neg, &weights)
        }
        LinearRule::ZBox { low, high, stabilizer } => {
            let terms = [
                Term(I::Keep, P::Keep, P::Keep),
                Term(I::Constant(low), P::Positive, P::Positive),
                Term(I::Constant(high), P::Negative, P::Negative),
            ];
            let ins: Vec<Tensor> = terms.iter().map(|t| ctx.modified_input(t.0)).collect();
            let mut denom: Tensor = ctx.output().into_owned();
            denom -= &ctx.forward(&ins[1], terms[1], &weights);
            denom -= &ctx.forward(&ins[2], terms[2], &weights);
            let s = divide(r, &denom, stabilizer);
            ctx.backward(&ins[0], terms[0], &s, &weights)
                - ctx.backward(&ins[1], terms[1], &s, &weights)
                - ctx.backward(&ins[2], terms[2], &s, &weights)
        }
    }
}

/// The modified weights of one propagation step, each modifier's computed once: the general
/// αβ and γ ask for W⁺ and W⁻ in two terms each, forward and backward (eight passes over W
/// became two). The one way a rule gets a modified weight, the non-negative forms included.
#[derive(Default)]
struct ModifiedWeights {
    made: std::cell::RefCell<Vec<(ParamMod, Rc<Vec<f32>>)>>,
}

impl ModifiedWeights {
    /// The layer's weights under `m` (None: the layer's own, for `Keep` or implicit weights).
    fn get(&self, ctx: &LayerContext, m: ParamMod) -> Option<Rc<Vec<f32>>> {
        if m == ParamMod::Keep {
            return None;
        }
        let own = ctx.layer.weight()?;
        if let Some((_, w)) = self.made.borrow().iter().find(|(k, _)| *k == m) {
            return Some(w.clone());
        }
        // the sign splits as loops of their own, which the compiler vectorises (one loop matching
        // the modifier per weight was ~5 % of αβ's time in the page)
        let w: Vec<f32> = match m {
            ParamMod::Positive => own.iter().map(|&p| positive_part(p)).collect(),
            ParamMod::Negative => own.iter().map(|&p| negative_part(p)).collect(),
            ParamMod::Abs => own.iter().map(|&p| p.abs()).collect(),
            m => own.iter().map(|&p| m.apply(p)).collect(),
        };
        let w = Rc::new(w);
        self.made.borrow_mut().push((m, w.clone()));
        Some(w)
    }
}

/// The sign-split rules (z⁺, αβ, γ) on a non-negative input, as after every ReLU: the x⁻ terms
/// vanish, so no copies of x⁺ and x⁻ and no products with them. With the forward pass's z kept,
/// γ's two denominators follow from z and one product `P = W⁺x + b⁺`.
struct NonNegativeSplit<'c> {
    /// W⁺, the layer's positive weights.
    w_pos: Option<Rc<Vec<f32>>>,
    /// P = W⁺x + b⁺.
    positive: Tensor,
    /// z = Wx + b as the forward pass kept it.
    z: Option<&'c TensorRef>,
}

impl<'c> NonNegativeSplit<'c> {
    /// None when the layer has no explicit weights, some input is negative, or `needs_z` and the
    /// forward pass did not keep z (checked before any product is computed).
    fn new(ctx: &'c LayerContext, needs_z: bool, weights: &ModifiedWeights) -> Option<Self> {
        ctx.layer.weight()?;
        let z = ctx.z.as_ref().filter(|z| z.shape() == ctx.out_shape).map(|z| &**z);
        if (needs_z && z.is_none()) || has_negative(&ctx.x) {
            return None;
        }
        let w_pos = weights.get(ctx, ParamMod::Positive);
        let b_pos = ctx.modified_bias(ParamMod::Positive);
        let positive =
            ctx.layer.forward_with(&ctx.x, w_pos.as_deref().map(|w| w.as_slice()), b_pos.as_deref(), ctx.out_shape);
        Some(Self { w_pos, positive, z })
    }

    /// `x ⊙ Σ_k W_kᵀ s_k` (None = the layer's own weights).
    fn backward(&self, ctx: &LayerContext, terms: &[(&Option<Rc<Vec<f32>>>, &Tensor)]) -> Tensor {
        let terms: Vec<(&Tensor, Option<&[f32]>)> =
            terms.iter().map(|(w, s)| (*s, w.as_deref().map(|w| w.as_slice()))).collect();
        let mut g = ctx.layer.transpose_sum(&terms, ctx.x.shape());
        g.zip_mut_with(&ctx.x, |a, &b| *a *= b);
        g
    }
}

/// γ's signals on a mixed-sign input, `s₊ = [z > 0]·R/o₊` and `s₋ = [z < 0]·R/o₋`, from z and one
/// product instead of four, returned as the sum `s₊ + s₋` and the difference `s₊ − s₋` the
/// backward step reads (made in the same pass). With G₊ = W + γW⁺ and G₋ = W + γW⁻, Zennit's
/// denominators are `o₊ = G₊x⁺ + G₋x⁻ + b + γb⁺` and `o₋ = G₋x⁺ + G₊x⁻ + b + γb⁻`. As
/// W⁺x⁺ + W⁻x⁻ = ½(Wx + |W||x|) and b + γb± = (1 + γ/2)b ± (γ/2)|b|, they are
/// `o± = (1 + γ/2)z ± (γ/2)A` with z = Wx + b and `A = |W||x| + |b|`. Where each is used (o₊ where
/// z > 0, o₋ where z < 0) its two parts have the same sign: nothing cancels beyond what cancelled
/// in z, whose rounding the four sums share (a few ulps of A).
fn gamma_mixed_sign_signals(
    ctx: &LayerContext,
    r: &Tensor,
    gamma: f32,
    stabilizer: f32,
    weights: &ModifiedWeights,
) -> (Tensor, Tensor) {
    let z = ctx.output();
    let w_abs = weights.get(ctx, ParamMod::Abs);
    let b_abs = ctx.modified_bias(ParamMod::Abs);
    let x_abs = ctx.x.mapv(f32::abs);
    let a = ctx.layer.forward_with(&x_abs, w_abs.as_deref().map(|w| w.as_slice()), b_abs.as_deref(), ctx.out_shape);
    let (own, half) = (1.0 + 0.5 * gamma, 0.5 * gamma);
    two_signals(r, &z, &a, |rv, zv, av| {
        let sp = if zv > 0.0 { stabilised_divide(rv, own * zv + half * av, stabilizer) } else { 0.0 };
        let sn = if zv < 0.0 { stabilised_divide(rv, own * zv - half * av, stabilizer) } else { 0.0 };
        (sp + sn, sp - sn)
    })
}

/// Two signals from the relevance `r` and two tensors of its shape, element by element over
/// contiguous values: `f(r, z, p) → (first, second)` (a plain loop: ndarray's five-way zips over
/// n-dimensional arrays were several kB of the worker's code each).
fn two_signals(r: &Tensor, z: &TensorRef, p: &TensorRef, f: impl Fn(f32, f32, f32) -> (f32, f32)) -> (Tensor, Tensor) {
    let (rs, zs, ps) = (slice(r), slice(z), slice(p));
    assert!(zs.len() == rs.len() && ps.len() == rs.len(), "two_signals: tensors of the relevance's shape");
    let (mut first, mut second) = (vec![0f32; rs.len()], vec![0f32; rs.len()]);
    for ((o1, o2), (&rv, (&zv, &pv))) in
        first.iter_mut().zip(second.iter_mut()).zip(rs.iter().zip(zs.iter().zip(ps.iter())))
    {
        (*o1, *o2) = f(rv, zv, pv);
    }
    (tensor(r.shape(), first), tensor(r.shape(), second))
}

/// γ's backward on a mixed-sign input in two products instead of four, from the signals' sum
/// `s₊ + s₋` and difference `s₊ − s₋`. With G₊ = W + γW⁺ and G₋ = W + γW⁻, the four terms
/// `x⁺⊙(G₊ᵀs₊ + G₋ᵀs₋) + x⁻⊙(G₋ᵀs₊ + G₊ᵀs₋)` pair up, as G₊ + G₋ = (2 + γ)W and G₊ − G₋ = γ|W|,
/// into `½[(2 + γ) x⊙Wᵀ(s₊ + s₋) + γ|x|⊙|W|ᵀ(s₊ − s₋)]`. Exact in real arithmetic; in float32 it
/// adds the error of the two sums, a few ulps of `|x| ⊙ |W|ᵀ(|s₊| + |s₋|)`. γ's denominators are
/// at least |z|, so s₊ and s₋ stay of the order of R/z (its golden errors against Zennit did not
/// move); αβ's are not (see there).
fn gamma_mixed_sign_backward(
    ctx: &LayerContext,
    sum: &Tensor,
    difference: &Tensor,
    gamma: f32,
    weights: &ModifiedWeights,
) -> Tensor {
    let mut g = ctx.layer.transpose_with(sum, None, ctx.x.shape());
    let w_abs = weights.get(ctx, ParamMod::Abs);
    let h = ctx.layer.transpose_with(difference, w_abs.as_deref().map(|w| w.as_slice()), ctx.x.shape());
    let (own, abs) = (0.5 * (2.0 + gamma), 0.5 * gamma);
    let (hs, xs) = (slice(&h), slice(&ctx.x));
    let gs = g.as_slice_mut().expect("a kernel's output is contiguous");
    for ((g, &h), &x) in gs.iter_mut().zip(hs.iter()).zip(xs.iter()) {
        *g = own * x * *g + abs * x.abs() * h;
    }
    g
}

/// Each term's modified input (one tensor per distinct modifier, shared: αβ's and γ's four terms
/// read x⁺ and x⁻ twice each) and its forward output.
fn forward_terms(ctx: &LayerContext, terms: &[Term], weights: &ModifiedWeights) -> (Vec<Rc<Tensor>>, Vec<Tensor>) {
    let mut ins: Vec<Rc<Tensor>> = Vec::with_capacity(terms.len());
    for (k, t) in terms.iter().enumerate() {
        let made = terms[..k].iter().position(|u| u.0 == t.0).map(|j| ins[j].clone());
        ins.push(made.unwrap_or_else(|| Rc::new(ctx.modified_input(t.0))));
    }
    let outs = ins.iter().zip(terms).map(|(i, &t)| ctx.forward(i, t, weights)).collect();
    (ins, outs)
}

fn single_term(ctx: &LayerContext, r: &Tensor, t: Term, eps: f32) -> Tensor {
    let input = ctx.modified_input(t.0);
    let weights = ModifiedWeights::default();
    let s = match t {
        // the layer's own output: kept by the forward pass
        Term(InputMod::Keep, ParamMod::Keep, ParamMod::Keep) => divide(r, &ctx.output(), eps),
        _ => divide(r, &ctx.forward(&input, t, &weights), eps),
    };
    ctx.backward(&input, t, &s, &weights)
}

/// Whether some value of `t` is below zero.
fn has_negative(t: &TensorRef) -> bool {
    match t.as_slice() {
        Some(s) => elementwise::any_negative(s),
        None => t.iter().any(|&v| v < 0.0),
    }
}

/// `r / stabilise(z)` element-wise.
fn divide(r: &Tensor, z: &TensorRef, eps: f32) -> Tensor {
    divide_scaled(r, z, eps, 1.0)
}

/// `factor · r / stabilise(z)` element-wise (z broadcast to r's shape), in one pass.
fn divide_scaled(r: &Tensor, z: &TensorRef, eps: f32, factor: f32) -> Tensor {
    let z = z.broadcast(r.raw_dim()).expect("a layer's output broadcasts to its relevance");
    ndarray::Zip::from(r).and(z).map_collect(|&rv, &zv| factor * stabilised_divide(rv, zv, eps))
}

/// `(Σ t, ‖t‖₁)` in f64, in one pass: a layer's relevance mass.
pub fn mass(t: &Tensor) -> (f64, f64) {
    match t.as_slice() {
        Some(s) => elementwise::sum_and_l1(s),
        None => t.iter().fold((0.0, 0.0), |(s, a), &v| (s + v as f64, a + v.abs() as f64)),
    }
}

/// ‖t‖₁ in f64.
pub fn l1(t: &Tensor) -> f64 {
    match t.as_slice() {
        Some(s) => elementwise::l1_norm(s),
        None => t.iter().map(|v| v.abs() as f64).sum(),
    }
}

/// Scales `u`, whose ‖·‖₁ is `norm`, so that ‖u‖₁ = `target` (λ = target/‖u‖₁; u becomes 0 when
/// ‖u‖₁ = 0): RLRP.md's λ. Returns the result's [`mass`], measured in the same pass.
fn rescale_measured(u: &mut Tensor, target: f64, norm: f64) -> (f64, f64) {
    let lambda = if norm > 0.0 && norm.is_finite() { target / norm } else { 0.0 };
    if lambda == 0.0 {
        u.fill(0.0);
        return (0.0, 0.0);
    }
    match u.as_slice_mut() {
        Some(s) => elementwise::scale_sum_and_l1(s, lambda as f32),
        None => {
            u.mapv_inplace(|v| v * lambda as f32);
            mass(u)
        }
    }
}
