//! Constant folding at import: initialisers, `Constant` nodes, and the small constant sub-graphs
//! exporters put in front of weights (DequantizeLinear of int8 weights, Identity of a shared bias,
//! Reshape/Unsqueeze of a bias...), and the weight standardisation of NFNets and BiT ResNets (a
//! training-mode BatchNormalization of the weights: each filter centred and scaled by its own
//! statistics). Weights become f32 here (RLRP.md: "dequantised to f32 weights first").
use super::proto::{decode_tensor, Attrs, Constant};
use crate::error::{Error, Result};
use crate::tensor::{ndarray, Tensor};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use tract_onnx::pb::{GraphProto, NodeProto};

/// The operators folded here when all their inputs are constants (besides `Constant` itself; a
/// BatchNormalization only in training mode, from its first three inputs: [`inputs_read`]).
const FOLDABLE: &[&str] = &[
    "DequantizeLinear",
    "Identity",
    "Cast",
    "Reshape",
    "Unsqueeze",
    "Squeeze",
    "Transpose",
    "Flatten",
    "BatchNormalization",
];

/// The inputs a node's folding reads: all of them, but for a training-mode BatchNormalization its
/// data, scale and bias (its mean and variance inputs only feed the running statistics, outputs
/// that folding does not give), and none for one in inference mode (left to tract).
fn inputs_read(node: &NodeProto) -> usize {
    match node.op_type.as_str() {
        "BatchNormalization" if is_training_batch_norm(node) => 3,
        "BatchNormalization" => 0,
        _ => node.input.len(),
    }
}

/// A BatchNormalization that normalises with the statistics of its own input (`training_mode` = 1).
pub fn is_training_batch_norm(node: &NodeProto) -> bool {
    node.op_type == "BatchNormalization" && Attrs::of(node).int("training_mode").unwrap_or(0) == 1
}

pub struct Constants<'a> {
    producers: HashMap<&'a str, &'a NodeProto>,
    initializers: HashMap<&'a str, &'a tract_onnx::pb::TensorProto>,
    /// Every value resolved so far, shared: a weight is decoded or folded once and never copied
    /// by later reads.
    memo: HashMap<String, Option<Rc<Constant>>>,
}

impl<'a> Constants<'a> {
    pub fn new(graph: &'a GraphProto) -> Self {
        let mut producers = HashMap::new();
        for n in &graph.node {
            for o in &n.output {
                producers.insert(o.as_str(), n);
            }
        }
        let initializers = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
        Constants { producers, initializers, memo: HashMap::new() }
    }

    pub fn producer(&self, name: &str) -> Option<&'a NodeProto> {
        self.producers.get(name).copied()
    }

    /// Records the value of a tensor computed elsewhere (tract's constant propagation).
    pub fn provide(&mut self, name: &str, value: Constant) {
        self.memo.insert(name.to_string(), Some(Rc::new(value)));
    }

    pub fn is_initializer(&self, name: &str) -> bool {
        self.initializers.contains_key(name)
    }

    /// The declared dims of an initialiser (without decoding its data).
    pub fn dims(&self, name: &str) -> Option<&[i64]> {
        self.initializers.get(name).map(|t| t.dims.as_slice())
    }

    /// Is this tensor a constant (known without running the model)?
    pub fn is_constant(&mut self, name: &str) -> Result<bool> {
        Ok(self.get(name)?.is_some())
    }

    /// The value of a constant tensor, or None if it is computed from the network input.
    ///
    /// The tensors it depends on are resolved first, depth-first with an explicit stack (no
    /// recursion: a chain of 20,000 Identity nodes must not overflow the stack), and a tensor that
    /// depends on itself is an error naming it.
    pub fn get(&mut self, name: &str) -> Result<Option<Rc<Constant>>> {
        if name.is_empty() {
            return Ok(None);
        }
        if let Some(c) = self.memo.get(name) {
            return Ok(c.clone());
        }
        let mut stack: Vec<(String, bool)> = vec![(name.to_string(), false)];
        let mut on_path: HashSet<String> = HashSet::new();
        while let Some((n, expanded)) = stack.pop() {
            if self.memo.contains_key(&n) {
                continue;
            }
            if expanded {
                on_path.remove(&n);
                let value = if let Some(t) = self.initializers.get(n.as_str()) {
                    Some(Rc::new(decode_tensor(t)?))
                } else if let Some(node) = self.producer(&n) {
                    // only a node's first output is folded (a BatchNormalization's others are its
                    // running statistics)
                    if node.output.first() == Some(&n) {
                        self.fold(node)?
                    } else {
                        None
                    }
                } else {
                    None
                };
                self.memo.insert(n, value);
                continue;
            }
            if !on_path.insert(n.clone()) {
                return Err(Error::InvalidModel(format!("the graph has a cycle through '{n}'")));
            }
            stack.push((n.clone(), true));
            if self.initializers.contains_key(n.as_str()) {
                continue;
            }
            if let Some(node) = self.producer(&n).filter(|p| FOLDABLE.contains(&p.op_type.as_str())) {
                let read = inputs_read(node);
                for i in node.input.iter().take(read).filter(|i| !i.is_empty() && !self.memo.contains_key(i.as_str())) {
                    stack.push((i.clone(), false));
                }
            }
        }
        Ok(self.memo.get(name).cloned().flatten())
    }

    /// A training-mode BatchNormalization of a constant (weight standardisation): per channel c
    /// (axis 1), `y = (x − μ_c) / sqrt(σ²_c + ε) · scale_c + bias_c` with μ_c and σ²_c the mean and
    /// biased variance of x over every other axis, in f64 (ONNX's training-mode output 0).
    fn batch_norm(&mut self, node: &NodeProto) -> Result<Folded> {
        let bad = |why: String| Error::InvalidModel(format!("node '{}' ({}): {why}", node.name, node.op_type));
        if !is_training_batch_norm(node) || node.input.len() < 3 {
            return Ok(Folded::Not);
        }
        let mut read = Vec::with_capacity(3);
        for name in &node.input[..3] {
            match self.get(name)? {
                Some(c) => read.push(c),
                None => return Ok(Folded::Not),
            }
        }
        let (x, scale, bias) = (&read[0].values, &read[1].values, &read[2].values);
        if x.ndim() < 2 || x.shape()[1] == 0 {
            return Err(bad(format!("a training-mode BatchNormalization of a constant of shape {:?}", x.shape())));
        }
        let channels = x.shape()[1];
        if scale.len() != channels || bias.len() != channels {
            return Err(bad(format!("{} scales and {} biases for {channels} channels", scale.len(), bias.len())));
        }
        let epsilon = Attrs::of(node).float("epsilon").unwrap_or(1e-5) as f64;
        let (scale, bias): (Vec<f32>, Vec<f32>) = (scale.iter().copied().collect(), bias.iter().copied().collect());
        let mut y = x.as_standard_layout().into_owned();
        for (c, mut lane) in y.axis_iter_mut(ndarray::Axis(1)).enumerate() {
            let n = lane.len().max(1) as f64;
            let mean = lane.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = lane.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
            let k = scale[c] as f64 / (var + epsilon).sqrt();
            lane.mapv_inplace(|v| ((v as f64 - mean) * k + bias[c] as f64) as f32);
        }
        Ok(Folded::New(Constant { values: y, ints: None, data_type: 1 }))
    }

    /// The constant values of all of a node's inputs, or None if any input is computed.
    fn inputs(&mut self, node: &NodeProto) -> Result<Option<Vec<Option<Rc<Constant>>>>> {
        let mut out = Vec::new();
        for name in &node.input {
            if name.is_empty() {
                out.push(None);
                continue;
            }
            match self.get(name)? {
                Some(c) => out.push(Some(c)),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    fn fold(&mut self, node: &NodeProto) -> Result<Option<Rc<Constant>>> {
        Ok(match self.fold_new(node)? {
            Folded::Same(x) => Some(x),
            Folded::New(c) => Some(Rc::new(c)),
            Folded::Not => None,
        })
    }

    /// The value of `node`'s output: one of its inputs unchanged, a new value, or not a constant.
    fn fold_new(&mut self, node: &NodeProto) -> Result<Folded> {
        let bad = |why: String| Error::InvalidModel(format!("node '{}' ({}): {why}", node.name, node.op_type));
        if node.op_type == "Constant" {
            let attrs = Attrs::of(node);
            if let Some(t) = attrs.tensor("value") {
                return Ok(Folded::New(decode_tensor(t)?));
            }
            if let Some(f) = attrs.float("value_float") {
                return Ok(Folded::New(Constant { values: ndarray::arr0(f).into_dyn(), ints: None, data_type: 1 }));
            }
            if let Some(i) = attrs.int("value_int") {
                return Ok(Folded::New(Constant {
                    values: ndarray::arr0(i as f32).into_dyn(),
                    ints: Some(vec![i]),
                    data_type: 7,
                }));
            }
            if let Some(v) = attrs.ints("value_ints") {
                let values = Tensor::from_shape_vec(ndarray::IxDyn(&[v.len()]), v.iter().map(|&i| i as f32).collect())
                    .map_err(|e| bad(e.to_string()))?;
                return Ok(Folded::New(Constant { values, ints: Some(v), data_type: 7 }));
            }
            if let Some(v) = attrs.get_floats("value_floats") {
                let values = Tensor::from_shape_vec(ndarray::IxDyn(&[v.len()]), v).map_err(|e| bad(e.to_string()))?;
                return Ok(Folded::New(Constant { values, ints: None, data_type: 1 }));
            }
            return Err(bad("Constant node without a supported value attribute".into()));
        }
        if !FOLDABLE.contains(&node.op_type.as_str()) {
            return Ok(Folded::Not);
        }
        if node.op_type == "BatchNormalization" {
            return self.batch_norm(node);
        }
        let Some(inputs) = self.inputs(node)? else { return Ok(Folded::Not) };
        let Some(Some(x)) = inputs.first().cloned() else { return Ok(Folded::Not) };
        let attrs = Attrs::of(node);
        let folded = match node.op_type.as_str() {
            "Identity" => return Ok(Folded::Same(x)),
            "Cast" => {
                let to = attrs.int("to").unwrap_or(1) as i32;
                let is_int = !matches!(to, 1 | 10 | 11 | 16);
                let values = if is_int { x.values.mapv(|v| v.trunc()) } else { x.values.clone() };
                let ints = if is_int { Some(values.iter().map(|&v| v as i64).collect()) } else { None };
                Constant { values, ints, data_type: to }
            }
            "DequantizeLinear" => {
                let scale = inputs.get(1).cloned().flatten().ok_or_else(|| bad("missing scale".into()))?;
                let zero = inputs.get(2).cloned().flatten();
                let rank = x.values.ndim();
                let axis = normalise_axis(attrs.int("axis").unwrap_or(1), rank.max(1)).map_err(bad)?;
                let per_axis = scale.values.len() > 1;
                let channels = if rank == 0 { 1 } else { x.values.shape()[axis] };
                if per_axis && scale.values.len() != channels {
                    return Err(bad(format!(
                        "{} scales for {channels} elements along axis {axis}",
                        scale.values.len()
                    )));
                }
                if let Some(z) = &zero {
                    if z.values.len() != 1 && z.values.len() != scale.values.len() {
                        return Err(bad(format!("{} zero points for {} scales", z.values.len(), scale.values.len())));
                    }
                }
                if scale.values.is_empty() {
                    return Err(bad("an empty scale".into()));
                }
                // Row-major: element i lies on channel (i / inner) % channels of the axis.
                let scales: Vec<f32> = scale.values.iter().copied().collect();
                let zeros: Vec<f32> = zero.as_ref().map(|z| z.values.iter().copied().collect()).unwrap_or_default();
                let input = x.values.as_standard_layout();
                let input = input.as_slice().expect("standard layout");
                // One pass from the quantised values to the new ones (no copy first).
                let mut data = Vec::with_capacity(input.len());
                let inner: usize =
                    if per_axis { x.values.shape()[axis + 1..].iter().product() } else { input.len().max(1) };
                if inner > 0 {
                    for (block, chunk) in input.chunks(inner).enumerate() {
                        let k = if per_axis { block % scales.len() } else { 0 };
                        let z = match zeros.len() {
                            0 => 0.0,
                            1 => zeros[0],
                            _ => zeros[k],
                        };
                        let s = scales[k];
                        data.extend(chunk.iter().map(|&v| (v - z) * s));
                    }
                }
                let out = Tensor::from_shape_vec(x.values.raw_dim(), data).map_err(|e| bad(e.to_string()))?;
                Constant { values: out, ints: None, data_type: 1 }
            }
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Transpose" => {
                // Only shapes of constants: compute via the known target of the op.
                let shape = x.values.shape().to_vec();
                let new_shape: Vec<usize> = match node.op_type.as_str() {
                    "Reshape" => {
                        let spec = inputs
                            .get(1)
                            .cloned()
                            .flatten()
                            .and_then(|c| c.ints.clone())
                            .ok_or_else(|| bad("shape input is not constant".into()))?;
                        reshape_target(&shape, &spec).map_err(bad)?
                    }
                    "Flatten" => {
                        let axis = normalise_axis(attrs.int("axis").unwrap_or(1), shape.len() + 1).map_err(bad)?;
                        vec![shape[..axis].iter().product(), shape[axis..].iter().product()]
                    }
                    "Squeeze" => {
                        let axes = attrs
                            .ints("axes")
                            .or_else(|| inputs.get(1).cloned().flatten().and_then(|c| c.ints.clone()));
                        match axes {
                            Some(a) => {
                                let a: Vec<usize> = a
                                    .iter()
                                    .map(|&i| normalise_axis(i, shape.len()))
                                    .collect::<std::result::Result<_, _>>()
                                    .map_err(bad)?;
                                shape.iter().enumerate().filter(|(i, _)| !a.contains(i)).map(|(_, &d)| d).collect()
                            }
                            None => shape.iter().copied().filter(|&d| d != 1).collect(),
                        }
                    }
                    "Unsqueeze" => {
                        let axes = attrs
                            .ints("axes")
                            .or_else(|| inputs.get(1).cloned().flatten().and_then(|c| c.ints.clone()))
                            .ok_or_else(|| bad("no axes".into()))?;
                        let out_rank = shape.len() + axes.len();
                        let mut a: Vec<usize> = axes
                            .iter()
                            .map(|&i| normalise_axis(i, out_rank))
                            .collect::<std::result::Result<_, _>>()
                            .map_err(bad)?;
                        a.sort_unstable();
                        let mut s = shape.clone();
                        for ax in a {
                            s.insert(ax.min(s.len()), 1);
                        }
                        s
                    }
                    _ => {
                        let perm: Vec<usize> = match attrs.ints("perm") {
                            Some(p) => p.iter().map(|&i| usize::try_from(i).unwrap_or(usize::MAX)).collect(),
                            None => (0..shape.len()).rev().collect(),
                        };
                        let mut seen = vec![false; shape.len()];
                        let valid = perm.len() == shape.len()
                            && perm.iter().all(|&p| p < shape.len() && !std::mem::replace(&mut seen[p], true));
                        if !valid {
                            return Err(bad(format!("perm {perm:?} is not a permutation of {} axes", shape.len())));
                        }
                        let values =
                            x.values.clone().permuted_axes(ndarray::IxDyn(&perm)).as_standard_layout().into_owned();
                        let ints = x.ints.as_ref().map(|_| values.iter().map(|&v| v as i64).collect());
                        return Ok(Folded::New(Constant { values, ints, data_type: x.data_type }));
                    }
                };
                let values = x
                    .values
                    .clone()
                    .into_shape_with_order(ndarray::IxDyn(&new_shape))
                    .map_err(|e| bad(e.to_string()))?;
                Constant { values, ints: x.ints.clone(), data_type: x.data_type }
            }
            _ => return Ok(Folded::Not),
        };
        Ok(Folded::New(folded))
    }
}

/// What folding a node gave.
enum Folded {
    /// One of its inputs, unchanged (Identity): shared, not copied.
    Same(Rc<Constant>),
    New(Constant),
    /// Not a constant (or not an operator folded here).
    Not,
}

/// Resolves an ONNX Reshape target (0 = copy, -1 = infer).
pub fn reshape_target(shape: &[usize], spec: &[i64]) -> std::result::Result<Vec<usize>, String> {
    let product = |dims: &[usize]| dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let total = product(shape).ok_or("reshape: the input size overflows")?;
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            0 => out.push(*shape.get(i).ok_or("reshape: 0 refers to a missing dimension")?),
            -1 => {
                if infer.is_some() {
                    return Err("reshape: two -1 dimensions".into());
                }
                infer = Some(i);
                out.push(1);
            }
            s if s > 0 => out.push(s as usize),
            _ => return Err(format!("reshape: invalid dimension {s}")),
        }
    }
    let known = product(&out).ok_or_else(|| format!("reshape: the target {spec:?} overflows"))?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("reshape: cannot infer -1 for {total} elements into {spec:?}"));
        }
        out[i] = total / known;
    }
    if product(&out) != Some(total) {
        return Err(format!("reshape: {shape:?} cannot become {spec:?}"));
    }
    Ok(out)
}

/// Maps a possibly negative ONNX axis into 0..rank.
pub fn normalise_axis(axis: i64, rank: usize) -> std::result::Result<usize, String> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a as usize >= rank {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(a as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{AttributeProto, TensorProto};

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: output.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    fn tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 1,
            float_data: values.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn a_chain_of_20000_identities_folds_without_recursion() {
        let mut graph = GraphProto { initializer: vec![tensor("w", &[2], &[1.5, -2.0])], ..Default::default() };
        let mut prev = "w".to_string();
        for i in 0..20_000 {
            let out = format!("t{i}");
            graph.node.push(node("Identity", &[&prev], &out));
            prev = out;
        }
        let mut c = Constants::new(&graph);
        let v = c.get(&prev).unwrap().expect("a constant");
        assert_eq!(v.values.iter().copied().collect::<Vec<_>>(), vec![1.5, -2.0]);
    }

    #[test]
    fn a_cycle_is_an_error_naming_the_tensor() {
        let graph = GraphProto {
            node: vec![node("Identity", &["b"], "a"), node("Identity", &["a"], "b")],
            ..Default::default()
        };
        let e = Constants::new(&graph).get("a").unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
        // A node reading its own output.
        let graph = GraphProto { node: vec![node("Identity", &["x"], "x")], ..Default::default() };
        assert!(Constants::new(&graph).get("x").is_err());
    }

    #[test]
    fn bad_constant_folds_are_errors_not_panics() {
        // Transpose with a perm that is not a permutation.
        let mut t = node("Transpose", &["w"], "t");
        t.attribute.push(AttributeProto { name: "perm".into(), ints: vec![0, 7], r#type: 7, ..Default::default() });
        let graph =
            GraphProto { initializer: vec![tensor("w", &[2, 1], &[1.0, 2.0])], node: vec![t], ..Default::default() };
        assert!(Constants::new(&graph).get("t").is_err());
        // DequantizeLinear with more scales than channels.
        let graph = GraphProto {
            initializer: vec![tensor("q", &[2, 2], &[1.0, 2.0, 3.0, 4.0]), tensor("s", &[5], &[0.1; 5])],
            node: vec![node("DequantizeLinear", &["q", "s"], "d")],
            ..Default::default()
        };
        let e = Constants::new(&graph).get("d").unwrap_err();
        assert!(e.to_string().contains("scales"), "{e}");
        // A reshape whose target overflows.
        assert!(reshape_target(&[4], &[1 << 62, 1 << 62]).is_err());
        assert!(reshape_target(&[1 << 40, 1 << 40], &[-1]).is_err());
    }
    /// DequantizeLinear per tensor and per channel along each axis, with and without zero points:
    /// `(q − z[k]) · s[k]`, k the index along the axis, against the formula element by element.
    #[test]
    fn dequantize_linear_scales_each_channel_of_its_axis() {
        let dims = [2i64, 3, 2, 2];
        let q: Vec<f32> = (0..24).map(|i| (i as f32 * 7.0) % 11.0 - 5.0).collect();
        for axis in 0..4usize {
            let channels = dims[axis] as usize;
            for per_channel in [false, true] {
                for with_zero in [false, true] {
                    let n = if per_channel { channels } else { 1 };
                    let scales: Vec<f32> = (0..n).map(|k| 0.5 + k as f32).collect();
                    let zeros: Vec<f32> = (0..n).map(|k| k as f32 - 1.0).collect();
                    let mut dq = node("DequantizeLinear", if with_zero { &["q", "s", "z"] } else { &["q", "s"] }, "d");
                    dq.attribute.push(AttributeProto {
                        name: "axis".into(),
                        i: axis as i64,
                        r#type: 2,
                        ..Default::default()
                    });
                    let mut initializer = vec![tensor("q", &dims, &q), tensor("s", &[n as i64], &scales)];
                    if with_zero {
                        initializer.push(tensor("z", &[n as i64], &zeros));
                    }
                    let graph = GraphProto { initializer, node: vec![dq], ..Default::default() };
                    let d = Constants::new(&graph).get("d").unwrap().expect("a constant");
                    assert_eq!(d.values.shape(), &[2, 3, 2, 2]);
                    for (ix, &v) in d.values.indexed_iter() {
                        let k = if per_channel { ix[axis] } else { 0 };
                        let z = if with_zero { zeros[k] } else { 0.0 };
                        let flat = ((ix[0] * 3 + ix[1]) * 2 + ix[2]) * 2 + ix[3];
                        assert_eq!(
                            v,
                            (q[flat] - z) * scales[k],
                            "axis {axis} per-channel {per_channel} zero {with_zero} at {ix:?}"
                        );
                    }
                }
            }
        }
    }
}
