//! rustfft 6's planner API (`FftPlanner`, `Fft`, `FftDirection`, `FftNum`) as a direct O(n²)
//! discrete Fourier transform, with rustfft's conventions: unnormalised in both directions,
//! `X_k = Σ_n x_n e^{∓2πikn/N}` (− forward, + inverse). Why it exists: `Cargo.toml` here.
use num_complex::Complex;
use num_traits::{FromPrimitive, Signed};
use std::fmt::Debug;
use std::sync::Arc;

pub use num_complex;
pub use num_traits;

/// A floating-point number the transforms compute in (f32, f64), as rustfft's.
pub trait FftNum: Copy + FromPrimitive + Signed + Sync + Send + Debug + 'static {}

impl<T> FftNum for T where T: Copy + FromPrimitive + Signed + Sync + Send + Debug + 'static {}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum FftDirection {
    Forward,
    Inverse,
}

/// A planned transform of one length.
pub trait Fft<T: FftNum>: Sync + Send {
    /// The transform of `buffer`, in place, in chunks of the planned length.
    fn process(&self, buffer: &mut [Complex<T>]);
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Dft {
    len: usize,
    direction: FftDirection,
}

impl<T: FftNum> Fft<T> for Dft {
    fn process(&self, buffer: &mut [Complex<T>]) {
        let n = self.len;
        if n == 0 {
            return;
        }
        let sign = if self.direction == FftDirection::Forward { -1.0 } else { 1.0 };
        let number = |v: f64| T::from_f64(v).unwrap_or_else(T::zero);
        // e^{∓2πi m/N} for m = k·j mod N
        let twiddles: Vec<(T, T)> = (0..n)
            .map(|m| {
                let (s, c) = (sign * 2.0 * std::f64::consts::PI * m as f64 / n as f64).sin_cos();
                (number(c), number(s))
            })
            .collect();
        let mut out = vec![Complex::new(T::zero(), T::zero()); n];
        for chunk in buffer.chunks_exact_mut(n) {
            for (k, o) in out.iter_mut().enumerate() {
                let (mut re, mut im) = (T::zero(), T::zero());
                for (j, x) in chunk.iter().enumerate() {
                    let (c, s) = twiddles[((k as u64 * j as u64) % n as u64) as usize];
                    re = re + x.re * c - x.im * s;
                    im = im + x.re * s + x.im * c;
                }
                *o = Complex::new(re, im);
            }
            chunk.copy_from_slice(&out);
        }
    }
    fn len(&self) -> usize {
        self.len
    }
}

/// Plans transforms (here: every length the same direct way).
pub struct FftPlanner<T> {
    _number: std::marker::PhantomData<T>,
}

impl<T: FftNum> Default for FftPlanner<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: FftNum> FftPlanner<T> {
    pub fn new() -> Self {
        FftPlanner { _number: std::marker::PhantomData }
    }
    pub fn plan_fft(&mut self, len: usize, direction: FftDirection) -> Arc<dyn Fft<T>> {
        Arc::new(Dft { len, direction })
    }
    pub fn plan_fft_forward(&mut self, len: usize) -> Arc<dyn Fft<T>> {
        self.plan_fft(len, FftDirection::Forward)
    }
    pub fn plan_fft_inverse(&mut self, len: usize) -> Arc<dyn Fft<T>> {
        self.plan_fft(len, FftDirection::Inverse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the transform written out: a delta, a constant, and a round trip (×N).
    #[test]
    fn direct_transform_follows_rustfft_conventions() {
        let mut planner = FftPlanner::<f64>::new();
        let n = 8;
        let mut delta = vec![Complex::new(0.0, 0.0); n];
        delta[1] = Complex::new(1.0, 0.0);
        planner.plan_fft_forward(n).process(&mut delta);
        for (k, v) in delta.iter().enumerate() {
            let angle = -2.0 * std::f64::consts::PI * k as f64 / n as f64;
            assert!((v.re - angle.cos()).abs() < 1e-12 && (v.im - angle.sin()).abs() < 1e-12);
        }
        let x: Vec<Complex<f64>> = (0..n).map(|i| Complex::new(i as f64 * 0.5, 1.0 - i as f64)).collect();
        let mut y = x.clone();
        planner.plan_fft(n, FftDirection::Forward).process(&mut y);
        let sum: Complex<f64> = x.iter().sum();
        assert!((y[0] - sum).norm() < 1e-12);
        planner.plan_fft_inverse(n).process(&mut y);
        for (a, b) in y.iter().zip(&x) {
            assert!((a / n as f64 - b).norm() < 1e-12);
        }
    }
}
