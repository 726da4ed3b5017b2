//! Element-wise scalar functions written out by ONNX exporters (RLRP.md, "Gates, global reductions,
//! normalisations and attention": "any x ⊙ g(x) with g element-wise is an activation"). SiLU as
//! `Mul(x, Sigmoid(x))`, GELU as `Div/Erf/Add/Mul/Mul` or its tanh form, Mish, `Sqrt`, `Pow`... are
//! fused by [`super::fuse`] into one [`ScalarFn`]: a tiny straight-line program in one variable x.
//! Its value and exact derivative come from one evaluation with dual numbers, so the gradient
//! methods get the true derivative of whatever the exporter wrote; the relevance rules treat a
//! self-gated function `x ⊙ g(x)` as the identity and refuse any other (it has no rule).
use super::graph::Activation;

/// A unary step of a program.
#[derive(Clone, Debug, PartialEq)]
pub enum Unary {
    /// A named activation (its own value and derivative).
    Act(Activation),
    Erf,
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Neg,
    Abs,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
}

/// One instruction; operands index earlier instructions.
#[derive(Clone, Debug, PartialEq)]
pub enum Instr {
    /// The variable x.
    Input,
    Const(f32),
    Unary(Unary, usize),
    Binary(Binary, usize, usize),
}

/// A fused element-wise function y = f(x) (the last instruction is the result).
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarFn {
    pub instrs: Vec<Instr>,
    /// A readable name ("SiLU", "GELU (tanh)", ...) when the function is a known one.
    pub name: String,
    /// f(x) = x ⊙ g(x) (times constants): an activation in RLRP.md's sense, identity for relevance.
    pub self_gated: bool,
    /// The closed form of a well-known function, used instead of the program for speed (they agree
    /// to float rounding: the name is only given after checking the program on a grid).
    known: Option<Known>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Known {
    Silu,
    Gelu,
    GeluTanh,
    HardSwish,
}

impl Known {
    /// (f(x), f'(x)).
    fn eval(self, x: f32) -> (f32, f32) {
        match self {
            Known::Silu => {
                let s = 1.0 / (1.0 + (-x).exp());
                (x * s, s + x * s * (1.0 - s))
            }
            Known::Gelu => (Activation::Gelu.apply(x), Activation::Gelu.derivative(x)),
            Known::GeluTanh => {
                let k = (2.0f32 / std::f32::consts::PI).sqrt();
                let u = k * (x + 0.044715 * x * x * x);
                let t = u.tanh();
                let du = k * (1.0 + 3.0 * 0.044715 * x * x);
                (0.5 * x * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
            }
            Known::HardSwish => (Activation::HardSwish.apply(x), Activation::HardSwish.derivative(x)),
        }
    }
}

/// A dual number v + d·ε.
#[derive(Clone, Copy, Debug)]
struct Dual {
    v: f64,
    d: f64,
}

/// erf by Abramowitz-Stegun 7.1.26 refined (max error ~1.2e-7).
pub fn erf64(x: f64) -> f64 {
    // The exponent's polynomial in t, lowest order first (evaluated by Horner's rule; written as a
    // table because rustfmt takes half a minute over the nested form).
    const POLY: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = POLY.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let y = 1.0 - t * (-x * x + poly).exp();
    if x >= 0.0 {
        y
    } else {
        -y
    }
}

impl Unary {
    fn eval(&self, a: Dual) -> Dual {
        let (v, d) = (a.v, a.d);
        let (fv, fd) = match self {
            Unary::Act(act) => (act.apply(v as f32) as f64, act.derivative(v as f32) as f64),
            Unary::Erf => (erf64(v), 2.0 / std::f64::consts::PI.sqrt() * (-v * v).exp()),
            Unary::Exp => (v.exp(), v.exp()),
            Unary::Log => (v.ln(), 1.0 / v),
            Unary::Sqrt => (v.sqrt(), 0.5 / v.sqrt()),
            Unary::Reciprocal => (1.0 / v, -1.0 / (v * v)),
            Unary::Neg => (-v, -1.0),
            Unary::Abs => (
                v.abs(),
                if v > 0.0 {
                    1.0
                } else if v < 0.0 {
                    -1.0
                } else {
                    0.0
                },
            ),
        };
        // 0 · ∞ (a zero tangent through an infinite derivative) is 0, as autograd's chain rule
        // gives for a constant operand.
        Dual { v: fv, d: if d == 0.0 { 0.0 } else { fd * d } }
    }
}

impl Binary {
    fn eval(self, a: Dual, b: Dual) -> Dual {
        match self {
            Binary::Add => Dual { v: a.v + b.v, d: a.d + b.d },
            Binary::Sub => Dual { v: a.v - b.v, d: a.d - b.d },
            Binary::Mul => Dual { v: a.v * b.v, d: a.d * b.v + a.v * b.d },
            Binary::Div => Dual { v: a.v / b.v, d: (a.d * b.v - a.v * b.d) / (b.v * b.v) },
            Binary::Pow => {
                let v = a.v.powf(b.v);
                let da = if a.d == 0.0 { 0.0 } else { a.d * b.v * a.v.powf(b.v - 1.0) };
                let db = if b.d == 0.0 { 0.0 } else { b.d * v * a.v.ln() };
                Dual { v, d: da + db }
            }
            // The first operand on ties, as PyTorch's maximum/minimum split the gradient evenly;
            // ties have measure zero for real inputs.
            Binary::Max => {
                if a.v >= b.v {
                    a
                } else {
                    b
                }
            }
            Binary::Min => {
                if a.v <= b.v {
                    a
                } else {
                    b
                }
            }
        }
    }
}

impl ScalarFn {
    /// Builds a function from its instructions, naming it and deciding whether it is self-gated.
    pub fn new(instrs: Vec<Instr>) -> ScalarFn {
        let mut f = ScalarFn { instrs, name: String::new(), self_gated: false, known: None };
        f.self_gated = f.is_self_gated();
        let known = f.known_name();
        f.known = known.and_then(|(_, k)| k);
        f.name = known.map(|(n, _)| n).unwrap_or(if f.self_gated { "x·g(x)" } else { "element-wise" }).to_string();
        f
    }

    /// (f(x), f'(x)) in f64. Registers live on the stack for programs of up to 32 steps (every
    /// exporter's activation); longer ones use the heap.
    fn eval_dual(&self, x: f32) -> Dual {
        const STACK: usize = 32;
        if self.instrs.len() <= STACK {
            let mut regs = [Dual { v: 0.0, d: 0.0 }; STACK];
            self.run(x, &mut regs)
        } else {
            self.run(x, &mut vec![Dual { v: 0.0, d: 0.0 }; self.instrs.len()])
        }
    }

    fn run(&self, x: f32, regs: &mut [Dual]) -> Dual {
        for (i, ins) in self.instrs.iter().enumerate() {
            regs[i] = match *ins {
                Instr::Input => Dual { v: x as f64, d: 1.0 },
                Instr::Const(c) => Dual { v: c as f64, d: 0.0 },
                Instr::Unary(ref u, a) => u.eval(regs[a]),
                Instr::Binary(b, l, r) => b.eval(regs[l], regs[r]),
            };
        }
        match self.instrs.len() {
            0 => Dual { v: x as f64, d: 1.0 },
            n => regs[n - 1],
        }
    }

    pub fn apply(&self, x: f32) -> f32 {
        match self.known {
            Some(k) => k.eval(x).0,
            None => self.eval_dual(x).v as f32,
        }
    }

    pub fn derivative(&self, x: f32) -> f32 {
        match self.known {
            Some(k) => k.eval(x).1,
            None => self.eval_dual(x).d as f32,
        }
    }

    /// Strips multiplications/divisions by constants from instruction `ix`.
    fn unscaled(&self, mut ix: usize) -> usize {
        loop {
            match self.instrs[ix] {
                Instr::Binary(Binary::Mul, a, b) => match (&self.instrs[a], &self.instrs[b]) {
                    (Instr::Const(_), _) => ix = b,
                    (_, Instr::Const(_)) => ix = a,
                    _ => return ix,
                },
                Instr::Binary(Binary::Div, a, b) if matches!(self.instrs[b], Instr::Const(_)) => ix = a,
                _ => return ix,
            }
        }
    }

    /// `x ⊙ g(x)` up to constant factors: the result is a product one of whose factors is x itself
    /// (up to constant factors) and the other is not a constant.
    fn is_self_gated(&self) -> bool {
        let Some(last) = self.instrs.len().checked_sub(1) else { return false };
        let Instr::Binary(Binary::Mul, a, b) = self.instrs[self.unscaled(last)] else { return false };
        let is_x = |ix: usize| matches!(self.instrs[self.unscaled(ix)], Instr::Input);
        let is_const = |ix: usize| matches!(self.instrs[ix], Instr::Const(_));
        (is_x(a) && !is_const(b)) || (is_x(b) && !is_const(a))
    }

    /// The name of a well-known function this program computes (checked numerically on a grid).
    fn known_name(&self) -> Option<(&'static str, Option<Known>)> {
        let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
        type Reference<'r> = (&'static str, Option<Known>, &'r dyn Fn(f64) -> f64);
        let known: [Reference; 5] = [
            ("SiLU", Some(Known::Silu), &|x| x * sigmoid(x)),
            ("GELU", Some(Known::Gelu), &|x| 0.5 * x * (1.0 + erf64(x / std::f64::consts::SQRT_2))),
            ("GELU (tanh)", Some(Known::GeluTanh), &|x| {
                0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
            }),
            ("HardSwish", Some(Known::HardSwish), &|x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0)),
            ("Mish", None, &|x| x * (x.exp().ln_1p()).tanh()),
        ];
        let grid: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.2).collect();
        known
            .iter()
            .find(|(_, _, f)| {
                grid.iter().all(|&x| {
                    let want = f(x as f64);
                    (self.eval_dual(x).v - want).abs() <= 1e-5 * (1.0 + want.abs())
                })
            })
            .map(|&(name, k, _)| (name, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silu() -> ScalarFn {
        ScalarFn::new(vec![
            Instr::Input,
            Instr::Unary(Unary::Act(Activation::Sigmoid), 0),
            Instr::Binary(Binary::Mul, 0, 1),
        ])
    }

    #[test]
    fn silu_is_named_self_gated_and_differentiated_exactly() {
        let f = silu();
        assert_eq!(f.name, "SiLU");
        assert!(f.self_gated);
        for x in [-3.0f32, -0.5, 0.0, 0.7, 4.0] {
            let s = 1.0 / (1.0 + (-x).exp());
            assert!((f.apply(x) - x * s).abs() < 1e-6);
            assert!((f.derivative(x) - (s + x * s * (1.0 - s))).abs() < 1e-6);
        }
    }

    #[test]
    fn gelu_erf_form_as_exported() {
        // Div(x, √2) → Erf → Add(1) → Mul(x, ·) → Mul(·, 0.5)
        let f = ScalarFn::new(vec![
            Instr::Input,
            Instr::Const(std::f32::consts::SQRT_2),
            Instr::Binary(Binary::Div, 0, 1),
            Instr::Unary(Unary::Erf, 2),
            Instr::Const(1.0),
            Instr::Binary(Binary::Add, 3, 4),
            Instr::Binary(Binary::Mul, 0, 5),
            Instr::Const(0.5),
            Instr::Binary(Binary::Mul, 6, 7),
        ]);
        assert_eq!(f.name, "GELU");
        assert!(f.self_gated);
        let g = Activation::Gelu;
        for x in [-2.5f32, -0.3, 0.0, 1.1, 3.0] {
            assert!((f.derivative(x) - g.derivative(x)).abs() < 1e-5, "{x}");
        }
    }

    #[test]
    fn not_self_gated_near_misses() {
        // sqrt(x): element-wise but not x ⊙ g(x).
        let sqrt = ScalarFn::new(vec![Instr::Input, Instr::Unary(Unary::Sqrt, 0)]);
        assert!(!sqrt.self_gated);
        // 2·x: a product with a constant is a diagonal linear map, not a gate.
        let twice = ScalarFn::new(vec![Instr::Input, Instr::Const(2.0), Instr::Binary(Binary::Mul, 0, 1)]);
        assert!(!twice.self_gated);
        // x + sigmoid(x): a sum, not a product.
        let sum = ScalarFn::new(vec![
            Instr::Input,
            Instr::Unary(Unary::Act(Activation::Sigmoid), 0),
            Instr::Binary(Binary::Add, 0, 1),
        ]);
        assert!(!sum.self_gated);
        assert_eq!(sum.name, "element-wise");
    }

    #[test]
    fn closed_forms_agree_with_the_programs() {
        let silu = silu();
        let program = ScalarFn { known: None, ..silu.clone() };
        for i in -80..=80 {
            let x = i as f32 * 0.1;
            assert!((silu.apply(x) - program.apply(x)).abs() < 1e-5, "{x}");
            assert!((silu.derivative(x) - program.derivative(x)).abs() < 1e-5, "{x}");
        }
    }

    #[test]
    fn erf_matches_tabulated_values() {
        // Abramowitz & Stegun, table 7.1 (and erf(-x) = -erf(x)).
        let table =
            [(0.0, 0.0), (0.1, 0.112_462_916), (0.5, 0.520_499_878), (1.0, 0.842_700_793), (2.0, 0.995_322_265)];
        for (x, want) in table {
            assert!((erf64(x) - want).abs() < 2e-7, "erf({x}) = {} not {want}", erf64(x));
            assert!((erf64(-x) + want).abs() < 2e-7, "erf(-{x})");
        }
    }

    #[test]
    fn derivative_matches_finite_differences() {
        // Mish written out: x · tanh(log(1 + exp(x))).
        let f = ScalarFn::new(vec![
            Instr::Input,
            Instr::Unary(Unary::Exp, 0),
            Instr::Const(1.0),
            Instr::Binary(Binary::Add, 1, 2),
            Instr::Unary(Unary::Log, 3),
            Instr::Unary(Unary::Act(Activation::Tanh), 4),
            Instr::Binary(Binary::Mul, 0, 5),
        ]);
        assert_eq!(f.name, "Mish");
        for x in [-2.0f64, -0.4, 0.3, 1.7] {
            let h = 1e-3;
            let fd = (f.apply((x + h) as f32) as f64 - f.apply((x - h) as f32) as f64) / (2.0 * h);
            assert!((f.derivative(x as f32) as f64 - fd).abs() < 1e-3, "{x}: {} vs {fd}", f.derivative(x as f32));
        }
    }
}
