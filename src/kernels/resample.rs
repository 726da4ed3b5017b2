//! One axis of a Resize (ONNX `Resize`, nearest, linear or cubic, any coordinate transformation but
//! `tf_crop_and_resize`) as a linear layer, forward and transposed (RLRP.md, "The R-LRP linear
//! rule": the transpose is the vector-Jacobian product of the forward map).
//!
//! The tensor is viewed as `[outer, len_in, inner]` around the resampled axis. Output `j` of the
//! axis reads the `window` inputs `indices[j·window + k]` with weights `weights[j·window + k]`
//! (tract's own plan of the axis, so the map is the one tract's forward pass computes):
//! `y[o, j, i] = Σ_k w[j, k] · x[o, idx[j, k], i]`. Its transpose scatters back:
//! `x̄[o, idx[j, k], i] += w[j, k] · ȳ[o, j, i]`. A Resize of several axes is these maps one axis
//! after the other (`relevance/linear.rs`).

/// The shape of one resampled axis and its taps.
#[derive(Clone, Copy)]
pub struct AxisTaps<'a> {
    pub outer: usize,
    pub inner: usize,
    pub len_in: usize,
    pub len_out: usize,
    pub window: usize,
    pub indices: &'a [usize],
    pub weights: &'a [f32],
}

impl AxisTaps<'_> {
    fn check(&self, input: usize, output: usize) {
        assert_eq!(self.indices.len(), self.window * self.len_out);
        assert_eq!(self.weights.len(), self.window * self.len_out);
        assert!(self.indices.iter().all(|&i| i < self.len_in));
        assert_eq!(input, self.outer * self.len_in * self.inner);
        assert_eq!(output, self.outer * self.len_out * self.inner);
    }

    /// The taps of output `j`: (input index, weight), zero weights left out.
    fn taps(&self, j: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let at = j * self.window..(j + 1) * self.window;
        self.indices[at.clone()].iter().copied().zip(self.weights[at].iter().copied()).filter(|&(_, w)| w != 0.0)
    }
}

/// The forward map `y[o, j, i] = Σ_k w[j, k] · x[o, idx[j, k], i]` (`from` = x, `to` = y), or with
/// `transpose` its transpose `to[o, idx[j, k], i] += w[j, k] · from[o, j, i]`; `to` is overwritten.
pub fn resample(t: &AxisTaps, from: &[f32], to: &mut [f32], transpose: bool) {
    if transpose {
        t.check(to.len(), from.len());
    } else {
        t.check(from.len(), to.len());
    }
    to.fill(0.0);
    let inner = t.inner;
    for o in 0..t.outer {
        for j in 0..t.len_out {
            let out_row = (o * t.len_out + j) * inner;
            for (tap, w) in t.taps(j) {
                let in_row = (o * t.len_in + tap) * inner;
                let (src, dst) = if transpose { (out_row, in_row) } else { (in_row, out_row) };
                to[dst..dst + inner].iter_mut().zip(&from[src..src + inner]).for_each(|(d, &v)| *d += w * v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ⟨r, A x⟩ = ⟨Aᵀ r, x⟩ for a plan with repeated, clamped and zero-weight taps.
    #[test]
    fn the_transpose_is_the_adjoint_of_the_forward_map() {
        let (outer, inner, len_in, len_out, window) = (2, 3, 4, 7, 2);
        let indices: Vec<usize> = (0..len_out * window).map(|k| (k * 3 / 2) % len_in).collect();
        let weights: Vec<f32> = (0..len_out * window).map(|k| [0.25, 0.75, 0.0, 1.0, -0.5][k % 5]).collect();
        let t = AxisTaps { outer, inner, len_in, len_out, window, indices: &indices, weights: &weights };
        let x: Vec<f32> = (0..outer * len_in * inner).map(|i| (i as f32 * 0.37).sin()).collect();
        let r: Vec<f32> = (0..outer * len_out * inner).map(|i| (i as f32 * 0.61).cos()).collect();
        let (mut y, mut back) = (vec![0f32; r.len()], vec![0f32; x.len()]);
        resample(&t, &x, &mut y, false);
        resample(&t, &r, &mut back, true);
        let lhs: f64 = r.iter().zip(&y).map(|(a, b)| (a * b) as f64).sum();
        let rhs: f64 = back.iter().zip(&x).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - rhs).abs() < 1e-5 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
        // one output by hand
        let (o, j, i) = (1, 5, 2);
        let want: f32 =
            (0..window).map(|k| weights[j * window + k] * x[(o * len_in + indices[j * window + k]) * inner + i]).sum();
        assert!((y[(o * len_out + j) * inner + i] - want).abs() < 1e-6);
    }
}
