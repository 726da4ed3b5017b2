//! Fusion of written-out element-wise functions (RLRP.md, "Gates, global reductions,
//! normalisations and attention": "Swish/SiLU `Mul(x, Sigmoid(x))`, ..., GELU written out with
//! Erf/Tanh, Mish: any x ⊙ g(x) with g element-wise: an activation").
//!
//! Exporters write activations as small sub-graphs of element-wise operators that all start from
//! one tensor x: `Mul(x, Sigmoid(x))`, GELU as `Div → Erf → Add → Mul(x, ·) → Mul(·, 0.5)`, its
//! tanh form with `x·x·x`, Mish... The plan finds each maximal region of element-wise operators
//! whose only non-constant source is one root tensor, and whose inner values nothing outside reads,
//! and turns it into one [`ScalarFn`] from the root to the region's last value. A region that is a
//! chain of ordinary activations and constant scalings stays as it is (those have their own ops);
//! one with a product of two computed tensors, or a function with no op of its own (Erf, Sqrt, Pow...),
//! is fused. A product whose factors come from different tensors (`x * Sigmoid(y)`: a gate) is not
//! element-wise in one variable and is never fused.
use super::constants::Constants;
use super::import::Trace;
use super::registry::Scalar;
use super::scalar::{Binary, Instr, ScalarFn, Unary};
use crate::error::Result;
use std::collections::HashMap;

/// What one graph node is built from.
#[derive(Debug)]
pub enum Unit {
    /// One traced ONNX node (index into [`Trace::nodes`]).
    Node(usize),
    /// A fused element-wise function from `root` to `output`; `members` are the trace nodes it
    /// replaces, in order.
    Fused { root: String, output: String, function: ScalarFn, members: Vec<usize> },
}

/// One element-wise step in terms of its data inputs.
#[derive(Clone, Debug)]
enum Step {
    Unary(Unary),
    /// A binary operator with a scalar constant (`data_first`: x op c, else c op x).
    WithConstant {
        op: Binary,
        value: f32,
        data_first: bool,
    },
    /// A binary operator of two computed tensors of the output's shape.
    Both(Binary),
}

impl Step {
    /// Whether the step has an op of its own outside a fused region.
    fn standalone(&self) -> bool {
        match self {
            Step::Unary(u) => matches!(u, Unary::Act(_)),
            Step::WithConstant { op, .. } => matches!(op, Binary::Add | Binary::Sub | Binary::Mul | Binary::Div),
            Step::Both(_) => false,
        }
    }
}

/// The element-wise step of trace node `ix`, if it is one (scalar constants only: a per-channel
/// constant makes the function differ between elements).
fn step_of(
    trace: &Trace,
    ix: usize,
    consts: &mut Constants,
    shapes: &HashMap<String, Vec<usize>>,
) -> Result<Option<Step>> {
    let t = trace.nodes[ix];
    let data = trace.data_inputs(t.proto, t.spec);
    let out = shapes.get(t.output_name());
    Ok(match t.spec.scalar {
        Scalar::No => None,
        Scalar::Unary(f) if data.len() == 1 => match f(t.proto, consts) {
            Ok(u) => Some(Step::Unary(u)),
            Err(_) => None, // the builder reports the problem
        },
        Scalar::Unary(_) => None,
        Scalar::Binary(op) => match data.len() {
            2 if data.iter().all(|d| shapes.get(d) == out) && t.proto.input.len() == 2 => Some(Step::Both(op)),
            1 if t.proto.input.len() == 2 => {
                let data_first = t.proto.input[0] == data[0];
                let other = &t.proto.input[if data_first { 1 } else { 0 }];
                match consts.get(other)? {
                    Some(c) if c.values.len() == 1 && shapes.get(&data[0]) == out => Some(Step::WithConstant {
                        op,
                        value: c.values.iter().copied().next().unwrap_or(0.0),
                        data_first,
                    }),
                    _ => None,
                }
            }
            _ => None,
        },
    })
}

/// Plans the graph's nodes: fused regions and single ONNX nodes, in topological order.
pub fn plan(trace: &Trace, consts: &mut Constants, shapes: &HashMap<String, Vec<usize>>) -> Result<Vec<Unit>> {
    let count = trace.nodes.len();
    let mut steps = Vec::with_capacity(count);
    for ix in 0..count {
        steps.push(step_of(trace, ix, consts, shapes)?);
    }
    let producer: HashMap<&str, usize> = trace.nodes.iter().enumerate().map(|(i, n)| (n.output_name(), i)).collect();
    let data_ins: Vec<Vec<String>> = trace.nodes.iter().map(|t| trace.data_inputs(t.proto, t.spec)).collect();
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, ins) in data_ins.iter().enumerate() {
        for name in ins {
            let list = readers.entry(name.as_str()).or_default();
            if !list.contains(&i) {
                list.push(i);
            }
        }
    }
    // root[v]: the value that value v is an element-wise function of (v itself if it is not one).
    let vid: HashMap<&str, usize> = trace.values.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect();
    let mut root: Vec<usize> = (0..trace.values.len()).collect();
    let mut member = vec![false; count];
    for (ix, t) in trace.nodes.iter().enumerate() {
        if steps[ix].is_none() {
            continue;
        }
        let rs: Vec<usize> = data_ins[ix].iter().map(|d| root[vid[d.as_str()]]).collect();
        if !rs.is_empty() && rs.iter().all(|&r| r == rs[0]) {
            root[vid[t.output_name()]] = rs[0];
            member[ix] = true;
        }
    }
    let graph = Relations { trace, producer: &producer, readers: &readers, member: &member, root: &root, vid: &vid };

    let mut assigned = vec![false; count];
    // Nodes inside a full region with nothing to fuse: their own regions are sub-regions of it, with
    // nothing to fuse either (this keeps a chain of 5,000 ReLUs linear, not quadratic).
    let mut barren = vec![false; count];
    let mut fused_at: HashMap<usize, Unit> = HashMap::new();
    for y_ix in (0..count).rev() {
        if !member[y_ix] || assigned[y_ix] || barren[y_ix] {
            continue;
        }
        let y = trace.nodes[y_ix].output_name();
        let fusable = |nodes: &[usize]| nodes.iter().any(|&i| !steps[i].as_ref().is_some_and(Step::standalone));
        let (region, region_root) = match graph.region(&assigned, y_ix, &fusable) {
            Region::Fused(region, root) => (region, root),
            Region::Barren(full) => {
                full.iter().for_each(|&i| barren[i] = true);
                continue;
            }
            Region::None => continue,
        };
        // One instruction per region node, in trace order.
        let mut instrs = vec![Instr::Input];
        let mut reg: HashMap<&str, usize> = HashMap::from([(region_root, 0)]);
        for &i in &region {
            let d = &data_ins[i];
            let ins = match steps[i].clone().expect("region members are element-wise") {
                Step::Unary(u) => Instr::Unary(u, reg[d[0].as_str()]),
                Step::Both(op) => Instr::Binary(op, reg[d[0].as_str()], reg[d[1].as_str()]),
                Step::WithConstant { op, value, data_first } => {
                    instrs.push(Instr::Const(value));
                    let (c, x) = (instrs.len() - 1, reg[d[0].as_str()]);
                    if data_first {
                        Instr::Binary(op, x, c)
                    } else {
                        Instr::Binary(op, c, x)
                    }
                }
            };
            instrs.push(ins);
            reg.insert(trace.nodes[i].output_name(), instrs.len() - 1);
            assigned[i] = true;
        }
        let members = region.clone();
        fused_at.insert(
            y_ix,
            Unit::Fused {
                root: region_root.to_string(),
                output: y.to_string(),
                function: ScalarFn::new(instrs),
                members,
            },
        );
    }
    let mut units = Vec::with_capacity(count);
    for (ix, &taken) in assigned.iter().enumerate() {
        if let Some(u) = fused_at.remove(&ix) {
            units.push(u);
        } else if !taken {
            units.push(Unit::Node(ix));
        }
    }
    Ok(units)
}

/// What the region search needs to know about the traced graph.
struct Relations<'t, 'm> {
    trace: &'t Trace<'t>,
    producer: &'m HashMap<&'t str, usize>,
    readers: &'m HashMap<&'t str, Vec<usize>>,
    member: &'m [bool],
    root: &'m [usize],
    vid: &'m HashMap<&'t str, usize>,
}

impl<'t> Relations<'t, '_> {
    /// The nodes on every path from `stop` to node `y_ix` (sorted), if all of them are unassigned
    /// element-wise nodes with root `r` (so the output is a function of `stop` alone).
    fn collect(&self, assigned: &[bool], y_ix: usize, stop: &str, r: usize) -> Option<Vec<usize>> {
        let trace = self.trace;
        let mut nodes = vec![y_ix];
        let mut stack = vec![y_ix];
        let mut seen = std::collections::HashSet::from([y_ix]);
        while let Some(i) = stack.pop() {
            for d in trace.data_inputs(trace.nodes[i].proto, trace.nodes[i].spec) {
                if d == stop {
                    continue;
                }
                let p = *self.producer.get(d.as_str())?;
                if !self.member[p] || assigned[p] || self.root[self.vid[d.as_str()]] != r {
                    return None; // reaches something that is not a function of `stop`
                }
                if seen.insert(p) {
                    nodes.push(p);
                    stack.push(p);
                }
            }
        }
        nodes.sort_unstable();
        Some(nodes)
    }

    /// Whether a value inside the region (not its output) is read outside it.
    fn escapes(&self, nodes: &[usize], y_ix: usize) -> bool {
        let trace = self.trace;
        let inside: std::collections::HashSet<usize> = nodes.iter().copied().collect();
        nodes.iter().copied().filter(|&i| i != y_ix).any(|i| {
            let v = trace.nodes[i].output_name();
            v == trace.output || self.readers.get(v).is_some_and(|rs| rs.iter().any(|k| !inside.contains(k)))
        })
    }

    /// The region of element-wise nodes ending at node `y_ix` and its root, if no value inside it is
    /// read outside it and `fusable` accepts it. The root is the latest value the output is a
    /// function of alone (so a ReLU before `x · Sigmoid(x)` stays a ReLU); where an inner value is
    /// read outside, the region is re-rooted at the latest such value.
    fn region(&self, assigned: &[bool], y_ix: usize, fusable: &dyn Fn(&[usize]) -> bool) -> Region<'t> {
        let trace = self.trace;
        let r = self.root[self.vid[trace.nodes[y_ix].output_name()]];
        let Some(full) = self.collect(assigned, y_ix, &trace.values[r], r) else { return Region::None };
        // A sub-region of a region with nothing to fuse has nothing to fuse either (a chain of
        // ReLUs stays ReLUs, without trying every cut).
        if !fusable(&full) {
            return Region::Barren(full);
        }
        // Candidate roots, latest first: inner values, then the root itself.
        let mut candidates: Vec<&'t str> =
            full.iter().rev().filter(|&&i| i != y_ix).map(|&i| trace.nodes[i].output_name()).collect();
        candidates.push(trace.values[r].as_str());
        for stop in candidates {
            let Some(nodes) = self.collect(assigned, y_ix, stop, r) else { continue };
            if !self.escapes(&nodes, y_ix) && fusable(&nodes) {
                return Region::Fused(nodes, stop);
            }
        }
        Region::None
    }
}

/// What [`Relations::region`] found for one output.
enum Region<'t> {
    /// A region to fuse, and its root.
    Fused(Vec<usize>, &'t str),
    /// The full region (every node on a path from the root), which has nothing to fuse.
    Barren(Vec<usize>),
    /// Nothing.
    None,
}
