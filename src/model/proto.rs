//! Reading ONNX protobuf pieces: tensors (initialisers, Constant values) and node attributes.
//! tract decodes the protobuf; this module turns its messages into our values without panicking on
//! data types or layouts we do not support (those become errors).
use crate::error::{Error, Result};
use crate::tensor::{ndarray, Tensor};
use tract_onnx::pb::{self, AttributeProto, NodeProto, TensorProto};

/// A constant tensor of the model, converted to f32 (weights, biases, scales) and, for integer
/// types, also kept as i64 (shapes, axes, pads).
#[derive(Clone, Debug)]
pub struct Constant {
    pub values: Tensor,
    /// Exact integer values for integer tensors (None for floating-point tensors, and for 8- and
    /// 16-bit integer tensors of more than 4096 elements, quantised weights, whose `values` are exact).
    pub ints: Option<Vec<i64>>,
    /// ONNX data type code (1 = float, 2 = uint8, 3 = int8, 6 = int32, 7 = int64, ...).
    pub data_type: i32,
}

impl Constant {
    pub fn scalar_f32(&self) -> Option<f32> {
        (self.values.len() == 1).then(|| self.values.iter().copied().next().unwrap_or(0.0))
    }
    pub fn int_list(&self) -> Option<&[i64]> {
        self.ints.as_deref()
    }
}

const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const UINT16: i32 = 4;
const INT16: i32 = 5;
const INT32: i32 = 6;
pub(crate) const INT64: i32 = 7;
const BOOL: i32 = 9;
const FLOAT16: i32 = 10;
const DOUBLE: i32 = 11;
const UINT32: i32 = 12;
const UINT64: i32 = 13;

fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits >> 15) & 1) as u32;
    let exp = ((bits >> 10) & 0x1f) as u32;
    let frac = (bits & 0x3ff) as u32;
    let out = if exp == 0 {
        if frac == 0 {
            sign << 31
        } else {
            // subnormal: renormalise
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            (sign << 31) | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
    } else if exp == 0x1f {
        (sign << 31) | (0xff << 23) | (frac << 13)
    } else {
        (sign << 31) | ((exp + 127 - 15) << 23) | (frac << 13)
    };
    f32::from_bits(out)
}

/// 8- and 16-bit integer tensors of more elements than this (quantised weights) keep no `ints`:
/// their values are exact in f32, and what is read as integers (shapes, axes, pads, indices) is small.
const EXACT_IN_VALUES_ABOVE: usize = 4096;

/// Decodes an ONNX TensorProto into a [`Constant`].
pub fn decode_tensor(t: &TensorProto) -> Result<Constant> {
    let name = &t.name;
    let bad = |why: &str| Error::InvalidModel(format!("tensor '{name}': {why}"));
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err(bad(
            "stored in an external data file that was not read into the model (give the .onnx file with its data file)",
        ));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(bad("negative dimension"));
        }
        shape.push(d as usize);
    }
    let count: usize = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad("size overflows"))?;
    let raw = &t.raw_data;
    let from_raw = |width: usize| -> Result<()> {
        if raw.len() != count * width {
            return Err(bad(&format!("raw data has {} bytes, expected {}", raw.len(), count * width)));
        }
        Ok(())
    };
    let (values, ints): (Vec<f32>, Option<Vec<i64>>) = match t.data_type {
        FLOAT => {
            if !raw.is_empty() {
                from_raw(4)?;
                (raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(), None)
            } else {
                (t.float_data.clone(), None)
            }
        }
        DOUBLE => {
            if !raw.is_empty() {
                from_raw(8)?;
                (raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect(), None)
            } else {
                (t.double_data.iter().map(|&v| v as f32).collect(), None)
            }
        }
        FLOAT16 => {
            let bits: Vec<u16> = if !raw.is_empty() {
                from_raw(2)?;
                raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()
            } else {
                t.int32_data.iter().map(|&v| v as u16).collect()
            };
            (bits.into_iter().map(f16_to_f32).collect(), None)
        }
        // Quantised weights: every value is exact in f32, and nothing reads them as integers.
        UINT8 | INT8 | UINT16 | INT16 | BOOL if count > EXACT_IN_VALUES_ABOVE => {
            (integers(t, &from_raw, |v| v as f32)?, None)
        }
        UINT8 | INT8 | UINT16 | INT16 | INT32 | BOOL | INT64 | UINT32 | UINT64 => {
            let ints = integers(t, &from_raw, |v| v)?;
            (ints.iter().map(|&v| v as f32).collect(), Some(ints))
        }
        other => return Err(bad(&format!("unsupported data type {other}"))),
    };
    if values.len() != count {
        return Err(bad(&format!("holds {} values, its shape {:?} needs {}", values.len(), shape, count)));
    }
    let values = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), values).map_err(|e| bad(&e.to_string()))?;
    Ok(Constant { values, ints, data_type: t.data_type })
}

/// Typed access to a node's attributes.
pub struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    pub fn of(node: &'a NodeProto) -> Self {
        Attrs { node }
    }
    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|a| a.i)
    }
    pub fn float(&self, name: &str) -> Option<f32> {
        self.get(name).map(|a| a.f)
    }
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }
    pub fn get_floats(&self, name: &str) -> Option<Vec<f32>> {
        self.get(name).map(|a| a.floats.clone())
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
    pub fn tensor(&self, name: &str) -> Option<&'a TensorProto> {
        self.get(name).and_then(|a| a.t.as_ref())
    }
}

/// The elements of an integer tensor (raw little-endian bytes, or the typed field ONNX keeps that
/// type in), each given to `f` as its exact value. `from_raw(width)` checks the raw data's length.
fn integers<T>(t: &TensorProto, from_raw: &dyn Fn(usize) -> Result<()>, f: impl Fn(i64) -> T) -> Result<Vec<T>> {
    let raw = &t.raw_data;
    if raw.is_empty() {
        return Ok(match t.data_type {
            INT64 => t.int64_data.iter().map(|&v| f(v)).collect(),
            UINT32 | UINT64 => t.uint64_data.iter().map(|&v| f(v as i64)).collect(),
            INT8 => t.int32_data.iter().map(|&v| f(v as i8 as i64)).collect(),
            UINT8 => t.int32_data.iter().map(|&v| f(v as u8 as i64)).collect(),
            _ => t.int32_data.iter().map(|&v| f(v as i64)).collect(),
        });
    }
    Ok(match t.data_type {
        UINT8 | BOOL => {
            from_raw(1)?;
            raw.iter().map(|&b| f(b as i64)).collect()
        }
        INT8 => {
            from_raw(1)?;
            raw.iter().map(|&b| f(b as i8 as i64)).collect()
        }
        UINT16 => {
            from_raw(2)?;
            raw.chunks_exact(2).map(|c| f(u16::from_le_bytes([c[0], c[1]]) as i64)).collect()
        }
        INT16 => {
            from_raw(2)?;
            raw.chunks_exact(2).map(|c| f(i16::from_le_bytes([c[0], c[1]]) as i64)).collect()
        }
        INT32 => {
            from_raw(4)?;
            raw.chunks_exact(4).map(|c| f(i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)).collect()
        }
        UINT32 => {
            from_raw(4)?;
            raw.chunks_exact(4).map(|c| f(u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)).collect()
        }
        _ => {
            from_raw(8)?;
            raw.chunks_exact(8).map(|c| f(i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))).collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_decodes() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!((f16_to_f32(0x0001) - 5.960_464_5e-8).abs() < 1e-12);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn raw_float_tensor_decodes_and_size_is_checked() {
        let mut t = TensorProto { dims: vec![2], data_type: FLOAT, ..Default::default() };
        t.raw_data = [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat();
        let c = decode_tensor(&t).unwrap();
        assert_eq!(c.values.as_slice().unwrap(), &[1.5, -2.0]);
        t.raw_data.pop();
        assert!(decode_tensor(&t).is_err());
    }

    /// Small integer tensors keep exact `ints` (shapes, axes); large 8- and 16-bit ones (quantised
    /// weights) only their values, which are exact in f32, from raw bytes and from int32_data alike.
    #[test]
    fn large_8_and_16_bit_tensors_keep_their_values_only() {
        for (data_type, width) in [(INT8, 1), (UINT8, 1), (INT16, 2), (UINT16, 2)] {
            for count in [3, EXACT_IN_VALUES_ABOVE, EXACT_IN_VALUES_ABOVE + 1] {
                let ints: Vec<i64> = (0..count as i64)
                    .map(|i| match data_type {
                        INT8 => i % 256 - 128,
                        UINT8 => i % 256,
                        INT16 => i * 7 % 65536 - 32768,
                        _ => i * 7 % 65536,
                    })
                    .collect();
                let raw: Vec<u8> = ints.iter().flat_map(|&v| (v as u16).to_le_bytes()[..width].to_vec()).collect();
                let from_raw = TensorProto { dims: vec![count as i64], data_type, raw_data: raw, ..Default::default() };
                let int32_data = ints.iter().map(|&v| v as i32).collect();
                let from_ints = TensorProto { dims: vec![count as i64], data_type, int32_data, ..Default::default() };
                for t in [from_raw, from_ints] {
                    let c = decode_tensor(&t).unwrap();
                    assert_eq!(c.values.iter().map(|&v| v as i64).collect::<Vec<_>>(), ints, "type {data_type}");
                    assert_eq!(c.ints.is_some(), count <= EXACT_IN_VALUES_ABOVE, "type {data_type}, {count}");
                    if let Some(exact) = c.ints {
                        assert_eq!(exact, ints);
                    }
                }
            }
        }
    }
}
