//! Elementwise helpers used around the linear kernels (`U = x ⊙ Wᵀ R`, normalisations,
//! conservation checks).
//!
//! Sums accumulate in `f64` (several independent partial sums, so the result can differ from a
//! strictly sequential sum by rounding only). The wasm `simd128` sums first add four values a lane
//! in f32 (one f64 addition per 16 values instead of per 4: these loops are bound by the f64
//! additions, not by memory), which keeps them within 3·2⁻²⁴ of ‖x‖₁ of the f64 sum (where lane
//! sums pass f32's range, the plain f64 sum is taken instead). Binary operations require equal
//! lengths and panic otherwise. On `wasm32` with `simd128` every helper has an explicit
//! `core::arch::wasm32` path; natively the plain loops are auto-vectorised by LLVM.
//!
//! The crate-internal `axpy*` helpers are the innermost loops of col2im; the `simd` load/store
//! helpers are shared with the direct convolution kernels.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use core::arch::wasm32::*;

/// A clamp folded into a forward kernel (ReLU, ReLU6): `v ← max(v, lo)` then `v ← min(v, hi)`,
/// each step as `if v > lo { v } else { lo }` (a NaN becomes `lo`, as in the forward pass's other
/// clamps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clamp {
    pub lo: f32,
    pub hi: f32,
}

impl Clamp {
    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        let v = if v > self.lo { v } else { self.lo };
        if v < self.hi {
            v
        } else {
            self.hi
        }
    }
}

/// `dst[i] = clamp(src[i])`, or a copy without a clamp (equal lengths).
pub fn copy_clamped(src: &[f32], clamp: Option<Clamp>, dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "copy_clamped: lengths");
    match clamp {
        None => dst.copy_from_slice(src),
        Some(c) => {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = c.apply(v);
            }
        }
    }
}

/// `Σ |xᵢ|`, accumulated in `f64`.
pub fn l1_norm(x: &[f32]) -> f64 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::sum_f64(x, true)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        sum_f64_lanes(x.len(), |i| x[i].abs())
    }
}

/// `Σ xᵢ`, accumulated in `f64`.
pub fn sum(x: &[f32]) -> f64 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::sum_f64(x, false)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        sum_f64_lanes(x.len(), |i| x[i])
    }
}

/// `(Σ xᵢ, Σ |xᵢ|)` in one pass, accumulated in `f64` (a layer's relevance mass and its L1 norm).
pub fn sum_and_l1(x: &[f32]) -> (f64, f64) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::sum_and_l1(x)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        sum_and_l1_lanes(x.len(), |i| x[i])
    }
}

/// `a ← a ⊙ b`, then `Σ |aᵢ|` of the result: [`mul_assign`] then [`l1_norm`] in one pass over
/// `a` (R-LRP's `U = x ⊙ Wᵀ R` and the ‖U‖₁ of its λ), the same values summed in the same order.
pub fn mul_assign_l1(a: &mut [f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "mul_assign_l1: length mismatch");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::map_l1(a, |v, i| f32x4_mul(v, simd::load(b, i)), |v, i| v * b[i])
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        sum_f64_lanes(a.len(), |i| {
            a[i] *= b[i];
            a[i].abs()
        })
    }
}

/// `a ← s · a`, then `(Σ aᵢ, Σ |aᵢ|)` of the result: [`scale`] then [`sum_and_l1`] in one pass
/// (R-LRP's rescale and the mass the walk reports), the same values summed in the same order.
pub fn scale_sum_and_l1(a: &mut [f32], s: f32) -> (f64, f64) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        let sv = f32x4_splat(s);
        simd::map_sum_and_l1(a, |v, _| f32x4_mul(v, sv), |v, _| v * s)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        sum_and_l1_lanes(a.len(), |i| {
            a[i] *= s;
            a[i]
        })
    }
}

/// Eight independent `f64` partial sums of `value(0..n)`, taken in index order: keeps the loop
/// vectorisable (no reassociation needed).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn sum_f64_lanes(n: usize, mut value: impl FnMut(usize) -> f32) -> f64 {
    let mut acc = [0f64; 8];
    let n8 = n / 8 * 8;
    for base in (0..n8).step_by(8) {
        for (k, a) in acc.iter_mut().enumerate() {
            *a += value(base + k) as f64;
        }
    }
    let mut total = 0f64;
    for i in n8..n {
        total += value(i) as f64;
    }
    acc.iter().sum::<f64>() + total
}

/// Four independent pairs of `f64` partial sums (values, absolute values) of `value(0..n)`, taken
/// in index order.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn sum_and_l1_lanes(n: usize, mut value: impl FnMut(usize) -> f32) -> (f64, f64) {
    let mut sum = [0f64; 4];
    let mut l1 = [0f64; 4];
    let n4 = n / 4 * 4;
    for base in (0..n4).step_by(4) {
        for k in 0..4 {
            let v = value(base + k);
            sum[k] += v as f64;
            l1[k] += v.abs() as f64;
        }
    }
    let (mut s, mut a) = (sum.iter().sum::<f64>(), l1.iter().sum::<f64>());
    for i in n4..n {
        let v = value(i);
        s += v as f64;
        a += v.abs() as f64;
    }
    (s, a)
}

/// `out = a ⊙ b` (elementwise product, overwritten).
pub fn mul_into(a: &[f32], b: &[f32], out: &mut [f32]) {
    assert_eq!(a.len(), b.len(), "mul_into: length mismatch");
    assert_eq!(a.len(), out.len(), "mul_into: output length mismatch");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::binary_into(a, b, out, |x, y| f32x4_mul(x, y), |x, y| x * y);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = x * y;
        }
    }
}

/// `a ← a ⊙ b`.
pub fn mul_assign(a: &mut [f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "mul_assign: length mismatch");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::binary_assign(a, b, |x, y| f32x4_mul(x, y), |x, y| x * y);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        for (x, &y) in a.iter_mut().zip(b) {
            *x *= y;
        }
    }
}

/// `a ← s · a`.
pub fn scale(a: &mut [f32], s: f32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::scale(a, s);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        for x in a.iter_mut() {
            *x *= s;
        }
    }
}

/// `a ← a + b`.
pub fn add_assign(a: &mut [f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "add_assign: length mismatch");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::binary_assign(a, b, |x, y| f32x4_add(x, y), |x, y| x + y);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        for (x, &y) in a.iter_mut().zip(b) {
            *x += y;
        }
    }
}

/// Number of elements that are NaN or ±infinity.
pub fn count_non_finite(x: &[f32]) -> usize {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::count_non_finite(x)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        x.iter().filter(|v| !v.is_finite()).count()
    }
}

/// Whether some element is below zero (−0.0 and NaN are not). The sign-split rules ask it of every
/// layer input; after a ReLU the answer is no, found only by reading everything: blocks of values
/// tested without a branch each (a value-by-value `any` does not vectorise).
pub fn any_negative(x: &[f32]) -> bool {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::any_negative(x)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        x.chunks(64).any(|c| c.iter().fold(false, |any, &v| any | (v < 0.0)))
    }
}

/// `y ← y + a · x` over contiguous slices of equal length.
#[inline]
pub(crate) fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    assert_eq!(y.len(), x.len(), "axpy: length mismatch");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::axpy(y, a, x);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        for (yv, &xv) in y.iter_mut().zip(x) {
            *yv += a * xv;
        }
    }
}

/// `y[i · stride] ← y[i · stride] + a · x[i]` for `i < x.len()` (strided scatter-add, the inner
/// loop of col2im). Requires
/// `y.len() > (x.len() - 1) * stride` when `x` is non-empty.
#[inline]
pub(crate) fn axpy_scatter(y: &mut [f32], a: f32, x: &[f32], stride: usize) {
    if stride == 1 {
        let n = x.len();
        return axpy(&mut y[..n], a, x);
    }
    if x.is_empty() {
        return;
    }
    assert!(y.len() > (x.len() - 1) * stride, "axpy_scatter: destination too short");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        if stride == 2 {
            return simd::axpy_scatter2(y, a, x);
        }
    }
    for (c, &xv) in y.chunks_mut(stride).zip(x) {
        c[0] += a * xv;
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) mod simd {
    //! Explicit wasm `simd128` loops. Loads and stores are unaligned (`v128.load` / `v128.store`
    //! accept any alignment); every pointer access stays inside the slices it came from.
    use core::arch::wasm32::*;
    use core::ptr::{read_unaligned, write_unaligned};

    /// Unaligned load of `s[i..i + 4]` (bounds checked).
    #[inline(always)]
    pub(crate) fn load(s: &[f32], i: usize) -> v128 {
        assert!(i + 4 <= s.len());
        // SAFETY: bounds checked just above; wasm loads have no alignment requirement.
        unsafe { read_unaligned(s.as_ptr().add(i) as *const v128) }
    }

    /// Unaligned store into `s[i..i + 4]` (bounds checked).
    #[inline(always)]
    pub(crate) fn store(s: &mut [f32], i: usize, v: v128) {
        assert!(i + 4 <= s.len());
        // SAFETY: bounds checked just above; wasm stores have no alignment requirement.
        unsafe { write_unaligned(s.as_mut_ptr().add(i) as *mut v128, v) }
    }

    /// Two f64x2 partial sums, each fed one lane sum per 16 values: `lanes(i)` gives the f32 lane
    /// sums of values `i..i + 16`, for every `i < n16` in steps of 16.
    #[inline(always)]
    fn accumulate(n16: usize, mut lanes: impl FnMut(usize) -> v128) -> f64 {
        let (mut acc0, mut acc1) = (f64x2_splat(0.0), f64x2_splat(0.0));
        let mut i = 0;
        while i < n16 {
            let b = lanes(i);
            acc0 = f64x2_add(acc0, f64x2_promote_low_f32x4(b));
            acc1 = f64x2_add(acc1, f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 0, 1>(b, b)));
            i += 16;
        }
        let a = f64x2_add(acc0, acc1);
        f64x2_extract_lane::<0>(a) + f64x2_extract_lane::<1>(a)
    }

    /// [`accumulate`] for two sums at once (values, absolute values).
    #[inline(always)]
    fn accumulate2(n16: usize, mut lanes: impl FnMut(usize) -> (v128, v128)) -> (f64, f64) {
        let (mut s0, mut s1, mut a0, mut a1) = (f64x2_splat(0.0), f64x2_splat(0.0), f64x2_splat(0.0), f64x2_splat(0.0));
        let mut i = 0;
        while i < n16 {
            let (bs, ba) = lanes(i);
            let (hs, ha) = (i32x4_shuffle::<2, 3, 0, 1>(bs, bs), i32x4_shuffle::<2, 3, 0, 1>(ba, ba));
            s0 = f64x2_add(s0, f64x2_promote_low_f32x4(bs));
            s1 = f64x2_add(s1, f64x2_promote_low_f32x4(hs));
            a0 = f64x2_add(a0, f64x2_promote_low_f32x4(ba));
            a1 = f64x2_add(a1, f64x2_promote_low_f32x4(ha));
            i += 16;
        }
        let (s, a) = (f64x2_add(s0, s1), f64x2_add(a0, a1));
        (
            f64x2_extract_lane::<0>(s) + f64x2_extract_lane::<1>(s),
            f64x2_extract_lane::<0>(a) + f64x2_extract_lane::<1>(a),
        )
    }

    pub(super) fn sum_f64(x: &[f32], abs: bool) -> f64 {
        let n16 = x.len() / 16 * 16;
        let mut total = accumulate(n16, |i| {
            let (bs, ba) = block_sums(x, i);
            if abs {
                ba
            } else {
                bs
            }
        });
        for &v in &x[n16..] {
            total += if abs { v.abs() } else { v } as f64;
        }
        if total.is_finite() {
            return total;
        }
        // A non-finite value, or lane sums past f32's range: the plain f64 sum tells them apart.
        x.iter().map(|&v| if abs { v.abs() } else { v } as f64).sum()
    }

    /// `a ← map(a)` (`map(v, i)` on the four values at `i`, `scalar(v, i)` on the tail's), then
    /// `Σ |aᵢ|` of the result exactly as [`sum_f64`] takes it.
    pub(super) fn map_l1(a: &mut [f32], map: impl Fn(v128, usize) -> v128, scalar: impl Fn(f32, usize) -> f32) -> f64 {
        let n16 = a.len() / 16 * 16;
        let mut total = accumulate(n16, |i| map_block(a, i, &map).1);
        for (i, v) in a.iter_mut().enumerate().skip(n16) {
            *v = scalar(*v, i);
            total += v.abs() as f64;
        }
        if total.is_finite() {
            return total;
        }
        a.iter().map(|&v| v.abs() as f64).sum()
    }

    pub(super) fn sum_and_l1(x: &[f32]) -> (f64, f64) {
        let n16 = x.len() / 16 * 16;
        let (mut sum, mut l1) = accumulate2(n16, |i| block_sums(x, i));
        for &v in &x[n16..] {
            sum += v as f64;
            l1 += v.abs() as f64;
        }
        if sum.is_finite() && l1.is_finite() {
            return (sum, l1);
        }
        // A non-finite value, or lane sums past f32's range: the plain f64 sums tell them apart.
        x.iter().fold((0.0, 0.0), |(s, a), &v| (s + v as f64, a + v.abs() as f64))
    }

    /// `a ← map(a)` as in [`map_l1`], then `(Σ aᵢ, Σ |aᵢ|)` of the result exactly as
    /// [`sum_and_l1`] takes them.
    pub(super) fn map_sum_and_l1(
        a: &mut [f32],
        map: impl Fn(v128, usize) -> v128,
        scalar: impl Fn(f32, usize) -> f32,
    ) -> (f64, f64) {
        let n16 = a.len() / 16 * 16;
        let (mut sum, mut l1) = accumulate2(n16, |i| map_block(a, i, &map));
        for (i, v) in a.iter_mut().enumerate().skip(n16) {
            *v = scalar(*v, i);
            sum += *v as f64;
            l1 += v.abs() as f64;
        }
        if sum.is_finite() && l1.is_finite() {
            return (sum, l1);
        }
        a.iter().fold((0.0, 0.0), |(s, t), &v| (s + v as f64, t + v.abs() as f64))
    }

    /// Lane-wise f32 sums of `x[i..i + 16]` and of their absolute values (four values a lane):
    /// the f64 additions that follow, one per lane and block, are what bounds these loops.
    #[inline(always)]
    fn block_sums(x: &[f32], i: usize) -> (v128, v128) {
        lane_sums([load(x, i), load(x, i + 4), load(x, i + 8), load(x, i + 12)])
    }

    /// `a[i..i + 16]` replaced by `map` of it, and the lane sums of the new values ([`block_sums`]).
    #[inline(always)]
    fn map_block(a: &mut [f32], i: usize, map: &impl Fn(v128, usize) -> v128) -> (v128, v128) {
        let v =
            [map(load(a, i), i), map(load(a, i + 4), i + 4), map(load(a, i + 8), i + 8), map(load(a, i + 12), i + 12)];
        for (k, &vk) in v.iter().enumerate() {
            store(a, i + 4 * k, vk);
        }
        lane_sums(v)
    }

    #[inline(always)]
    fn lane_sums(v: [v128; 4]) -> (v128, v128) {
        let s = f32x4_add(f32x4_add(v[0], v[1]), f32x4_add(v[2], v[3]));
        let a = f32x4_add(f32x4_add(f32x4_abs(v[0]), f32x4_abs(v[1])), f32x4_add(f32x4_abs(v[2]), f32x4_abs(v[3])));
        (s, a)
    }

    #[inline(always)]
    pub(super) fn binary_into(
        a: &[f32],
        b: &[f32],
        out: &mut [f32],
        op: impl Fn(v128, v128) -> v128,
        scalar: impl Fn(f32, f32) -> f32,
    ) {
        let n = out.len();
        let n4 = n / 4 * 4;
        let mut i = 0;
        while i < n4 {
            store(out, i, op(load(a, i), load(b, i)));
            i += 4;
        }
        for j in n4..n {
            out[j] = scalar(a[j], b[j]);
        }
    }

    #[inline(always)]
    pub(super) fn binary_assign(
        a: &mut [f32],
        b: &[f32],
        op: impl Fn(v128, v128) -> v128,
        scalar: impl Fn(f32, f32) -> f32,
    ) {
        let n = a.len();
        let n4 = n / 4 * 4;
        let mut i = 0;
        while i < n4 {
            let v = op(load(a, i), load(b, i));
            store(a, i, v);
            i += 4;
        }
        for j in n4..n {
            a[j] = scalar(a[j], b[j]);
        }
    }

    pub(super) fn scale(a: &mut [f32], s: f32) {
        let sv = f32x4_splat(s);
        let n = a.len();
        let n4 = n / 4 * 4;
        let mut i = 0;
        while i < n4 {
            let v = f32x4_mul(load(a, i), sv);
            store(a, i, v);
            i += 4;
        }
        for v in &mut a[n4..] {
            *v *= s;
        }
    }

    pub(super) fn count_non_finite(x: &[f32]) -> usize {
        let inf = f32x4_splat(f32::INFINITY);
        let mut acc = i32x4_splat(0);
        let n4 = x.len() / 4 * 4;
        let mut i = 0;
        while i < n4 {
            // |v| < inf is false exactly for NaN and ±inf; the mask lanes are -1 there.
            let bad = v128_not(f32x4_lt(f32x4_abs(load(x, i)), inf));
            acc = i32x4_sub(acc, bad);
            i += 4;
        }
        let mut count = (i32x4_extract_lane::<0>(acc) as u32
            + i32x4_extract_lane::<1>(acc) as u32
            + i32x4_extract_lane::<2>(acc) as u32
            + i32x4_extract_lane::<3>(acc) as u32) as usize;
        count += x[n4..].iter().filter(|v| !v.is_finite()).count();
        count
    }

    pub(super) fn any_negative(x: &[f32]) -> bool {
        let zero = f32x4_splat(0.0);
        let mut blocks = x.chunks_exact(64);
        for block in blocks.by_ref() {
            let mut below = i32x4_splat(0);
            for i in (0..64).step_by(4) {
                below = v128_or(below, f32x4_lt(load(block, i), zero));
            }
            if v128_any_true(below) {
                return true;
            }
        }
        blocks.remainder().iter().any(|&v| v < 0.0)
    }

    #[inline]
    pub(super) fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
        let av = f32x4_splat(a);
        let n = y.len();
        let n4 = n / 4 * 4;
        let mut i = 0;
        while i < n4 {
            let v = f32x4_add(load(y, i), f32x4_mul(av, load(x, i)));
            store(y, i, v);
            i += 4;
        }
        for j in n4..n {
            y[j] += a * x[j];
        }
    }

    /// `y[2i] += a * x[i]`: the products are interleaved with zeros and added to two vectors
    /// of `y` (odd lanes get `+ 0.0`).
    #[inline]
    pub(super) fn axpy_scatter2(y: &mut [f32], a: f32, x: &[f32]) {
        let av = f32x4_splat(a);
        let zero = f32x4_splat(0.0);
        let n = x.len();
        let mut i = 0;
        while i + 4 <= n && 2 * i + 8 <= y.len() {
            let t = f32x4_mul(av, load(x, i));
            let lo = i32x4_shuffle::<0, 4, 1, 5>(t, zero);
            let hi = i32x4_shuffle::<2, 6, 3, 7>(t, zero);
            let y0 = f32x4_add(load(y, 2 * i), lo);
            let y1 = f32x4_add(load(y, 2 * i + 4), hi);
            store(y, 2 * i, y0);
            store(y, 2 * i + 4, y1);
            i += 4;
        }
        for j in i..n {
            y[2 * j] += a * x[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn any_negative_finds_one_anywhere() {
        for n in [0usize, 1, 3, 4, 63, 64, 65, 130, 200] {
            let mut x: Vec<f32> = data(n, 7).iter().map(|v| v.abs()).collect();
            assert!(!any_negative(&x), "n={n}: none");
            if n > 0 {
                x[n / 2] = -0.0;
                x[n - 1] = f32::NAN;
                assert!(!any_negative(&x), "n={n}: -0 and NaN are not below zero");
            }
            for at in 0..n {
                let mut y = x.clone();
                y[at] = -f32::MIN_POSITIVE;
                assert!(any_negative(&y), "n={n}: at {at}");
            }
        }
    }

    #[test]
    fn axpy_scatter_matches_loop() {
        for n in [0usize, 1, 3, 4, 5, 8, 9, 17, 33] {
            for stride in 1..4usize {
                let a = 0.75f32;
                // y has exactly (n - 1) * stride + 1 elements (tightest legal length).
                let xlen = if n == 0 { 0 } else { (n - 1) * stride + 1 };
                let src = data(n, 3);
                let mut dst = data(xlen, 4);
                let mut expect = dst.clone();
                for i in 0..n {
                    expect[i * stride] += a * src[i];
                }
                axpy_scatter(&mut dst, a, &src, stride);
                assert_eq!(dst, expect, "scatter n={n} stride={stride}");
            }
        }
    }
}
