//! NumPy `.npy` files: reading (format versions 1.0, 2.0 and 3.0) and writing (version 1.0, byte for
//! byte what `numpy.save` writes for a C-ordered little-endian float32 array).
//!
//! Reading accepts C-ordered arrays of any shape whose dtype is a float (`f4`, `f8`), an integer
//! (`u1`, `i1`, `u2`, `i2`, `u4`, `i4`, `u8`, `i8`) or a boolean (`b1`), in either byte order; every
//! element is converted to `f32` (64-bit integers and doubles lose precision as `as f32` does).
//! Fortran-ordered arrays, structured dtypes and object (pickled) arrays are rejected with
//! [`Error::Npy`]. Malformed input never panics: it gives an [`Error::Npy`] naming the problem.
//!
//! The functions work on byte slices, so they are available in the browser (wasm) as well; native
//! callers read and write the file themselves (`std::fs::read` / `std::fs::write`).
use crate::error::{Error, Result};
use crate::tensor::{ndarray, Tensor};

/// The 6-byte magic string every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// numpy aligns the start of the data to a multiple of this many bytes (`numpy.lib.format.ARRAY_ALIGN`).
const ARRAY_ALIGN: usize = 64;

/// numpy leaves room in the header for the length of the first axis to grow to this many digits
/// (`numpy.lib.format.GROWTH_AXIS_MAX_DIGITS`, numpy >= 1.23).
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The header of a `.npy` file, as parsed by [`read_header`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version `(major, minor)`: (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    /// The dtype string exactly as written, e.g. `"<f4"`.
    pub descr: String,
    /// Whether the data is stored in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The array shape (empty for a 0-d array).
    pub shape: Vec<usize>,
    /// Offset of the first data byte from the start of the file.
    pub data_offset: usize,
}

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Npy(msg.into()))
}

/// Parses the magic string, version and header dictionary of a `.npy` file.
///
/// Does not look at the data; [`read_npy`] checks that the data length matches the shape.
pub fn read_header(bytes: &[u8]) -> Result<NpyHeader> {
    if bytes.is_empty() {
        return err("empty input (a .npy file starts with the bytes \\x93NUMPY)");
    }
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return err("not a .npy file: it does not start with the magic string \\x93NUMPY");
    }
    if bytes.len() < 8 {
        return err("truncated .npy file: the version bytes are missing");
    }
    let version = (bytes[6], bytes[7]);
    let (len_size, utf8) = match version.0 {
        1 => (2usize, false),
        2 => (4, false),
        3 => (4, true),
        v => return err(format!("unsupported .npy format version {v}.{} (supported: 1.0, 2.0, 3.0)", version.1)),
    };
    let start = 8 + len_size;
    if bytes.len() < start {
        return err("truncated .npy file: the header length is missing");
    }
    let header_len = if len_size == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    let end = start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| {
        Error::Npy(format!(
            "truncated .npy file: the header declares {header_len} bytes but only {} follow",
            bytes.len().saturating_sub(start)
        ))
    })?;
    let raw = &bytes[start..end];
    let text: String = if utf8 {
        std::str::from_utf8(raw).map_err(|_| Error::Npy("the header is not valid UTF-8".into()))?.to_string()
    } else {
        // latin-1: every byte is one character
        raw.iter().map(|&b| b as char).collect()
    };
    let dict = parse_dict(&text)?;
    let mut descr = None;
    let mut fortran_order = None;
    let mut shape = None;
    for (key, value) in dict {
        match (key.as_str(), value) {
            ("descr", PyValue::Str(s)) => descr = Some(s),
            ("descr", PyValue::List) => {
                return err("structured dtypes (a list of fields in 'descr') are not supported")
            }
            ("descr", _) => return err("'descr' in the header is not a string"),
            ("fortran_order", PyValue::Bool(b)) => fortran_order = Some(b),
            ("fortran_order", _) => return err("'fortran_order' in the header is not True or False"),
            ("shape", PyValue::Tuple(t)) => shape = Some(t),
            ("shape", _) => return err("'shape' in the header is not a tuple of integers"),
            (other, _) => return err(format!("unexpected key '{other}' in the header")),
        }
    }
    Ok(NpyHeader {
        version,
        descr: descr.ok_or_else(|| Error::Npy("the header has no 'descr' key".into()))?,
        fortran_order: fortran_order.ok_or_else(|| Error::Npy("the header has no 'fortran_order' key".into()))?,
        shape: shape.ok_or_else(|| Error::Npy("the header has no 'shape' key".into()))?,
        data_offset: end,
    })
}

/// Reads a `.npy` file into an f32 tensor of the stored shape (C order).
///
/// Errors ([`Error::Npy`]): not a `.npy` file, truncated header or data, trailing bytes after the
/// data, Fortran order, an unsupported dtype (structured, object, complex, strings, float16).
pub fn read_npy(bytes: &[u8]) -> Result<Tensor> {
    let h = read_header(bytes)?;
    if h.fortran_order {
        return err("Fortran-ordered arrays (fortran_order: True) are not supported; save a C-ordered array (numpy.ascontiguousarray)");
    }
    let (kind, size, little) = parse_descr(&h.descr)?;
    let count = crate::budget::tensor_elements("the array", &h.shape).map_err(Error::Npy)? as usize;
    let data = &bytes[h.data_offset..];
    let expected =
        count.checked_mul(size).ok_or_else(|| Error::Npy(format!("the shape {:?} has too many elements", h.shape)))?;
    if data.len() < expected {
        return err(format!(
            "truncated .npy data: shape {:?} of '{}' needs {expected} bytes, the file has {}",
            h.shape,
            h.descr,
            data.len()
        ));
    }
    if data.len() > expected {
        return err(format!(
            "{} unexpected bytes after the data (shape {:?} of '{}' needs {expected} bytes)",
            data.len() - expected,
            h.shape,
            h.descr
        ));
    }
    let values: Vec<f32> = data.chunks_exact(size).map(|c| convert(c, kind, little)).collect();
    Tensor::from_shape_vec(ndarray::IxDyn(&h.shape), values)
        .map_err(|e| Error::Npy(format!("cannot build a tensor of shape {:?}: {e}", h.shape)))
}

/// Writes a tensor as a `.npy` file (format 1.0, dtype `<f4`, C order).
///
/// The bytes are identical to what `numpy.save` (numpy >= 1.23) writes for the same float32 array:
/// the header dictionary `{'descr': '<f4', 'fortran_order': False, 'shape': (...), }`, padded with
/// spaces (including numpy's room for the first axis to grow) and a final newline so that the data
/// starts at a multiple of 64 bytes. Tensors that are not in standard layout are written in logical
/// (C) order. A header too long for format 1.0 (more than 65535 bytes, i.e. thousands of
/// dimensions) is written as format 2.0, as numpy does.
pub fn write_npy(t: &Tensor) -> Vec<u8> {
    let shape = t.shape();
    let shape_repr = match shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_repr}, }}");
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        header.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let hlen = header.len() + 1; // + '\n'
    let mut version = 1u8;
    let mut len_size = 2usize;
    let mut padlen = ARRAY_ALIGN - ((MAGIC.len() + 2 + len_size + hlen) % ARRAY_ALIGN);
    if hlen + padlen > u16::MAX as usize {
        version = 2;
        len_size = 4;
        padlen = ARRAY_ALIGN - ((MAGIC.len() + 2 + len_size + hlen) % ARRAY_ALIGN);
    }
    let total_header = hlen + padlen;
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + len_size + total_header + 4 * t.len());
    out.extend_from_slice(MAGIC);
    out.push(version);
    out.push(0);
    if len_size == 2 {
        out.extend_from_slice(&(total_header as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(total_header as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend(std::iter::repeat_n(b' ', padlen));
    out.push(b'\n');
    for v in t.iter() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Float,
    Signed,
    Unsigned,
    Bool,
}

/// Parses a numpy dtype string into (kind, item size, little endian).
fn parse_descr(descr: &str) -> Result<(Kind, usize, bool)> {
    let unsupported =
        || Error::Npy(format!("unsupported dtype '{descr}' (supported: float32/64, (u)int8/16/32/64, bool)"));
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(unsupported)?;
    let (little, rest) = match order {
        '<' | '=' => (true, chars.as_str()),
        '>' => (false, chars.as_str()),
        '|' => (true, chars.as_str()),
        _ => (true, descr),
    };
    let (kind, size) = match rest {
        "f4" => (Kind::Float, 4),
        "f8" => (Kind::Float, 8),
        "i1" => (Kind::Signed, 1),
        "i2" => (Kind::Signed, 2),
        "i4" => (Kind::Signed, 4),
        "i8" => (Kind::Signed, 8),
        "u1" => (Kind::Unsigned, 1),
        "u2" => (Kind::Unsigned, 2),
        "u4" => (Kind::Unsigned, 4),
        "u8" => (Kind::Unsigned, 8),
        "b1" => (Kind::Bool, 1),
        r if r.starts_with('O') => return err("object arrays (pickled Python objects) are not supported"),
        _ => return Err(unsupported()),
    };
    Ok((kind, size, little))
}

/// Converts one element (`c.len()` = item size) to f32.
fn convert(c: &[u8], kind: Kind, little: bool) -> f32 {
    let mut b = [0u8; 8];
    let n = c.len();
    if little {
        b[..n].copy_from_slice(c);
    } else {
        for (i, &x) in c.iter().rev().enumerate() {
            b[i] = x;
        }
    }
    // b now holds the value little-endian in its first n bytes
    match (kind, n) {
        (Kind::Float, 4) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        (Kind::Float, _) => f64::from_le_bytes(b) as f32,
        (Kind::Bool, _) => (b[0] != 0) as u8 as f32,
        (Kind::Unsigned, _) => u64::from_le_bytes(b) as f32,
        (Kind::Signed, _) => {
            // sign-extend from n bytes
            let shift = 64 - 8 * n as u32;
            ((i64::from_le_bytes(b) << shift) >> shift) as f32
        }
    }
}

/// The subset of Python literals that appears in a `.npy` header.
#[derive(Debug, Clone, PartialEq)]
enum PyValue {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
    /// A list (structured dtype); its content is not needed.
    List,
}

/// A tiny parser for the header dictionary, e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }`.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && (self.s[self.pos] as char).is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        match self.peek() {
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => err(format!(
                "malformed header: expected '{}' at character {}, found '{}'",
                c as char, self.pos, x as char
            )),
            None => err(format!("malformed header: expected '{}' but the header ended", c as char)),
        }
    }

    fn string(&mut self) -> Result<String> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return err(format!("malformed header: expected a string at character {}", self.pos)),
        };
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos] != quote {
            self.pos += 1;
        }
        if self.pos >= self.s.len() {
            return err("malformed header: unterminated string");
        }
        let v = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        self.pos += 1;
        Ok(v)
    }

    fn value(&mut self) -> Result<PyValue> {
        match self.peek() {
            Some(b'\'' | b'"') => Ok(PyValue::Str(self.string()?)),
            Some(b'(') => {
                self.pos += 1;
                let mut dims = Vec::new();
                loop {
                    match self.peek() {
                        Some(b')') => {
                            self.pos += 1;
                            break;
                        }
                        Some(c) if c.is_ascii_digit() => {
                            let start = self.pos;
                            while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                                self.pos += 1;
                            }
                            let txt = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                            let d: usize = txt
                                .parse()
                                .map_err(|_| Error::Npy(format!("malformed header: dimension '{txt}' is too large")))?;
                            // Python 2 long suffix, e.g. (3L, 4L)
                            if self.pos < self.s.len() && self.s[self.pos] == b'L' {
                                self.pos += 1;
                            }
                            dims.push(d);
                            match self.peek() {
                                Some(b',') => self.pos += 1,
                                Some(b')') => {}
                                _ => return err("malformed header: bad shape tuple"),
                            }
                        }
                        _ => return err("malformed header: the shape must be a tuple of non-negative integers"),
                    }
                }
                Ok(PyValue::Tuple(dims))
            }
            Some(b'[') => {
                // skip a (possibly nested) list: only used by structured dtypes, which we reject
                let mut depth = 0usize;
                while self.pos < self.s.len() {
                    match self.s[self.pos] {
                        b'[' | b'(' => depth += 1,
                        b']' | b')' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Ok(PyValue::List);
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
                err("malformed header: unterminated list")
            }
            Some(_) => {
                let rest = &self.s[self.pos..];
                if rest.starts_with(b"True") {
                    self.pos += 4;
                    Ok(PyValue::Bool(true))
                } else if rest.starts_with(b"False") {
                    self.pos += 5;
                    Ok(PyValue::Bool(false))
                } else {
                    err(format!("malformed header: unexpected value at character {}", self.pos))
                }
            }
            None => err("malformed header: a value is missing"),
        }
    }
}

fn parse_dict(text: &str) -> Result<Vec<(String, PyValue)>> {
    let mut p = Parser { s: text.as_bytes(), pos: 0 };
    p.expect(b'{')?;
    let mut items = Vec::new();
    loop {
        match p.peek() {
            Some(b'}') => {
                p.pos += 1;
                break;
            }
            Some(_) => {
                let key = p.string()?;
                p.expect(b':')?;
                let value = p.value()?;
                items.push((key, value));
                match p.peek() {
                    Some(b',') => p.pos += 1,
                    Some(b'}') => {}
                    _ => return err("malformed header: expected ',' or '}' after a value"),
                }
            }
            None => return err("malformed header: the dictionary is not closed with '}'"),
        }
    }
    if p.peek().is_some() {
        return err("malformed header: unexpected characters after the dictionary");
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_bytes(dict: &str) -> Vec<u8> {
        let mut h = dict.to_string();
        h.push('\n');
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[1, 0]);
        v.extend_from_slice(&(h.len() as u16).to_le_bytes());
        v.extend_from_slice(h.as_bytes());
        v
    }

    #[test]
    fn npy_round_trip_shapes() {
        for shape in [vec![], vec![0], vec![5], vec![2, 3], vec![1, 3, 4, 5], vec![1000000, 0]] {
            let n: usize = shape.iter().product();
            let t =
                Tensor::from_shape_vec(ndarray::IxDyn(&shape), (0..n).map(|i| i as f32 * 0.5 - 3.0).collect()).unwrap();
            let bytes = write_npy(&t);
            let hdr = read_header(&bytes).unwrap();
            assert_eq!(hdr.data_offset % 64, 0);
            assert_eq!(read_npy(&bytes).unwrap(), t);
        }
    }

    #[test]
    fn npy_dtypes() {
        let mut v = header_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }");
        for x in [-5i64, 0, 7] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        assert_eq!(read_npy(&v).unwrap().as_slice().unwrap(), &[-5.0, 0.0, 7.0]);

        let mut v = header_bytes("{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }");
        for x in [-2i16, 300] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        assert_eq!(read_npy(&v).unwrap().as_slice().unwrap(), &[-2.0, 300.0]);

        let mut v = header_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }");
        for x in [1.5f64, -0.25] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        let t = read_npy(&v).unwrap();
        assert_eq!(t.shape(), &[2, 1]);
        assert_eq!(t.as_slice().unwrap(), &[1.5, -0.25]);

        let mut v = header_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }");
        v.extend_from_slice(&[0, 255]);
        assert_eq!(read_npy(&v).unwrap().as_slice().unwrap(), &[0.0, 255.0]);
    }

    #[test]
    fn npy_errors_no_panic() {
        let good = write_npy(&Tensor::zeros(ndarray::IxDyn(&[2, 2])));
        // every truncation is an error, never a panic
        for n in 0..good.len() {
            assert!(matches!(read_npy(&good[..n]), Err(Error::Npy(_))), "len {n}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(matches!(read_npy(&extra), Err(Error::Npy(_))));
        let f = header_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }");
        let e = read_npy(&[f, vec![0; 4]].concat()).unwrap_err().to_string();
        assert!(e.contains("Fortran"), "{e}");
        let o = header_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }");
        assert!(read_npy(&o).unwrap_err().to_string().contains("object"));
        let s = header_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }");
        assert!(read_npy(&s).unwrap_err().to_string().contains("structured"));
        let big = header_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999, 99999999999999), }");
        assert!(matches!(read_npy(&big), Err(Error::Npy(_))));
        assert!(matches!(read_npy(b"hello world, not npy"), Err(Error::Npy(_))));
        // garbage after a valid magic
        let mut g = MAGIC.to_vec();
        g.extend_from_slice(&[1, 0, 10, 0]);
        g.extend_from_slice(b"\xff\xfe{{{{((((\n");
        assert!(matches!(read_npy(&g), Err(Error::Npy(_))));
    }
}
