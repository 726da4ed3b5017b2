//! Fuzz target: ONNX models through rlrp::fuzz::onnx, with a structure-aware mutator. Byte flips
//! rarely get past the protobuf decoder; this one decodes the model, changes what a hostile or
//! broken exporter would (shapes, attributes, element types, graph wiring, operator types,
//! initialiser sizes, node order) and encodes it again, so that the fuzzer spends its time in
//! import, tract, the budget and the relevance rules. Inputs that do not decode fall back to
//! libFuzzer's own mutations.
#![no_main]
use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};
use prost::Message;
use tract_onnx::pb::{
    tensor_shape_proto::dimension::Value as Dim, type_proto, AttributeProto, GraphProto, ModelProto, ValueInfoProto,
};

fuzz_target!(|data: &[u8]| rlrp::fuzz::onnx(data));

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let Ok(mut model) = ModelProto::decode(&data[..size]) else {
        return fuzzer_mutate(data, size, max_size);
    };
    let mut rng = Rng(seed as u64 ^ 0x9E37_79B9_7F4A_7C15);
    let Some(graph) = model.graph.as_mut() else { return fuzzer_mutate(data, size, max_size) };
    for _ in 0..1 + rng.below(3) {
        mutate(graph, &mut rng);
    }
    let bytes = model.encode_to_vec();
    if bytes.len() > max_size {
        return fuzzer_mutate(data, size, max_size);
    }
    data[..bytes.len()].copy_from_slice(&bytes);
    bytes.len()
});

/// xorshift64*: deterministic per seed, as libFuzzer wants.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        (!v.is_empty()).then(|| &v[self.below(v.len())])
    }
}

/// Integers that break arithmetic: signs, zero, powers of two near the type limits.
const INTS: &[i64] =
    &[0, 1, -1, 2, 3, 7, -2, 64, 1 << 16, 1 << 30, 1 << 31, 1 << 32, 1 << 62, i64::MAX, i64::MIN, i64::MAX - 1];
const FLOATS: &[f32] = &[0.0, -0.0, 1.0, -1.0, 1e-42, 3e38, -3e38, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
const OPS: &[&str] = &[
    "Conv",
    "Gemm",
    "MatMul",
    "Relu",
    "Add",
    "Mul",
    "Sub",
    "Div",
    "Reshape",
    "Transpose",
    "Concat",
    "Split",
    "Slice",
    "Gather",
    "Pad",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "BatchNormalization",
    "LayerNormalization",
    "InstanceNormalization",
    "LRN",
    "Softmax",
    "Sigmoid",
    "Clip",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Expand",
    "Tile",
    "ReduceMean",
    "ReduceL2",
    "Sin",
    "Einsum",
    "DequantizeLinear",
    "QuantizeLinear",
    "Identity",
    "Shape",
    "Cast",
    "ConstantOfShape",
    "Resize",
    "Erf",
    "Pow",
];

fn interesting_int(rng: &mut Rng) -> i64 {
    if rng.below(3) == 0 {
        rng.below(9) as i64 - 4
    } else {
        *rng.pick(INTS).unwrap_or(&0)
    }
}

fn value_names(g: &GraphProto) -> Vec<String> {
    let mut names: Vec<String> = g.input.iter().map(|i| i.name.clone()).collect();
    names.extend(g.initializer.iter().map(|t| t.name.clone()));
    names.extend(g.node.iter().flat_map(|n| n.output.iter().cloned()));
    names.push(String::new());
    names
}

fn dims_of(vi: &mut ValueInfoProto) -> Option<&mut Vec<tract_onnx::pb::tensor_shape_proto::Dimension>> {
    let type_proto::Value::TensorType(t) = vi.r#type.as_mut()?.value.as_mut()?;
    Some(&mut t.shape.as_mut()?.dim)
}

fn mutate_attribute(a: &mut AttributeProto, rng: &mut Rng) {
    match rng.below(6) {
        0 if !a.ints.is_empty() => {
            let i = rng.below(a.ints.len());
            a.ints[i] = interesting_int(rng);
        }
        1 => a.i = interesting_int(rng),
        2 => a.f = *rng.pick(FLOATS).unwrap_or(&0.0),
        3 => {
            let n = rng.below(9);
            a.ints = (0..n).map(|_| interesting_int(rng)).collect();
        }
        4 => a.r#type = rng.below(15) as i32,
        _ => a.floats.push(*rng.pick(FLOATS).unwrap_or(&0.0)),
    }
}

fn mutate(g: &mut GraphProto, rng: &mut Rng) {
    let names = value_names(g);
    match rng.below(10) {
        // A declared shape: input, output or value_info.
        0 => {
            let mut infos: Vec<&mut ValueInfoProto> =
                g.input.iter_mut().chain(g.output.iter_mut()).chain(g.value_info.iter_mut()).collect();
            let k = rng.below(infos.len());
            if let Some(dims) = infos.get_mut(k).and_then(|vi| dims_of(vi)) {
                match rng.below(4) {
                    0 if !dims.is_empty() => {
                        let i = rng.below(dims.len());
                        dims[i].value = Some(Dim::DimValue(interesting_int(rng)));
                    }
                    1 if !dims.is_empty() => {
                        let i = rng.below(dims.len());
                        dims[i].value = Some(Dim::DimParam("N".into()));
                    }
                    2 if !dims.is_empty() => {
                        dims.remove(rng.below(dims.len()));
                    }
                    _ => dims.push(Default::default()),
                }
            }
        }
        // An attribute value, or a new attribute with a common name.
        1 | 2 => {
            let k = rng.below(g.node.len());
            if let Some(n) = g.node.get_mut(k) {
                if n.attribute.is_empty() || rng.below(4) == 0 {
                    let name =
                        *rng.pick(&["axis", "axes", "pads", "strides", "kernel_shape", "perm", "group"]).unwrap();
                    n.attribute.push(AttributeProto { name: name.into(), r#type: 7, ..Default::default() });
                }
                let i = rng.below(n.attribute.len());
                mutate_attribute(&mut n.attribute[i], rng);
            }
        }
        // Wiring: a node reads another value (possibly its own output: a cycle), or nothing.
        3 | 4 => {
            let k = rng.below(g.node.len());
            if let Some(n) = g.node.get_mut(k) {
                let new = rng.pick(&names).cloned().unwrap_or_default();
                if n.input.is_empty() || rng.below(5) == 0 {
                    n.input.push(new);
                } else {
                    let i = rng.below(n.input.len());
                    n.input[i] = new;
                }
            }
        }
        // An operator type.
        5 => {
            let k = rng.below(g.node.len());
            if let Some(n) = g.node.get_mut(k) {
                n.op_type = rng.pick(OPS).unwrap_or(&"Relu").to_string();
            }
        }
        // An initialiser's element type, dims or data.
        6 | 7 => {
            let k = rng.below(g.initializer.len());
            if let Some(t) = g.initializer.get_mut(k) {
                match rng.below(5) {
                    0 => t.data_type = rng.below(17) as i32,
                    1 if !t.dims.is_empty() => {
                        let i = rng.below(t.dims.len());
                        t.dims[i] = interesting_int(rng);
                    }
                    2 => {
                        let keep = rng.below(t.raw_data.len() + 1);
                        t.raw_data.truncate(keep);
                        let keep = rng.below(t.float_data.len() + 1);
                        t.float_data.truncate(keep);
                    }
                    3 => {
                        for k in 0..t.float_data.len() {
                            if rng.below(4) == 0 {
                                t.float_data[k] = *rng.pick(FLOATS).unwrap_or(&0.0);
                            }
                        }
                        if t.raw_data.len() >= 4 && t.data_type == 1 {
                            let i = rng.below(t.raw_data.len() / 4) * 4;
                            let v = rng.pick(FLOATS).unwrap_or(&0.0).to_le_bytes();
                            t.raw_data[i..i + 4].copy_from_slice(&v);
                        }
                        for k in 0..t.int64_data.len() {
                            if rng.below(3) == 0 {
                                t.int64_data[k] = interesting_int(rng);
                            }
                        }
                    }
                    _ => t.dims.push(interesting_int(rng)),
                }
            }
        }
        // The graph input's element type.
        8 => {
            if let Some(type_proto::Value::TensorType(t)) =
                g.input.first_mut().and_then(|i| i.r#type.as_mut()).and_then(|t| t.value.as_mut())
            {
                t.elem_type = rng.below(17) as i32;
            }
        }
        // Node order: duplicate, delete or swap nodes.
        _ => {
            let len = g.node.len();
            if len == 0 {
                return;
            }
            match rng.below(3) {
                0 => {
                    let n = g.node[rng.below(len)].clone();
                    let at = rng.below(len + 1);
                    g.node.insert(at, n);
                }
                1 if len > 1 => {
                    g.node.remove(rng.below(len));
                }
                _ => g.node.swap(rng.below(len), rng.below(len)),
            }
        }
    }
}
