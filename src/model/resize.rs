//! Resize (ONNX, opsets 10 and later) with constant scales or sizes, as a linear layer
//! ([`Linear::Resize`]; RLRP.md, "Notation": its weights are the interpolation's, constant once the
//! shapes are fixed). Each resized axis is planned by tract's own functions
//! (`tract_core::ops::nn::resize`), as tract's ONNX Resize plans its forward pass, so the layer's
//! transpose is the exact vector-Jacobian product of what tract computes (`kernels/resample.rs`).
//! Nearest, linear and cubic interpolation, antialiasing, `exclude_outside`, every coordinate
//! transformation but `tf_crop_and_resize` (which fills outside its crop with a constant: affine,
//! not linear), refused by name.
use super::graph::{Axes3, Linear, Op, ResampledAxis};
use super::import::BuildCtx;
use crate::error::Result;
use tract_onnx::tract_core::ops::nn::resize::{
    cubic_weights, linear_weights, plan_axis, window_size, AxisPlan, CoordTransformer, Interpolator,
};

/// How one axis is interpolated (the node's attributes).
struct Interpolation {
    kind: Interpolator,
    coord: CoordTransformer,
    /// ONNX's `nearest_mode`: floor, ceil, round_prefer_floor, round_prefer_ceil.
    nearest: u8,
    cubic_a: f32,
    antialias: bool,
    exclude_outside: bool,
}

impl Interpolation {
    fn read(c: &BuildCtx) -> std::result::Result<Self, String> {
        let a = c.attrs();
        let text = |name: &str, default: &str| a.string(name).unwrap_or_else(|| default.into());
        let mode = text("mode", "nearest");
        let kind = Interpolator::parse(&mode).map_err(|_| format!("interpolation mode '{mode}'"))?;
        let coord = match (c.opset <= 10, text("coordinate_transformation_mode", "half_pixel")) {
            (true, _) => CoordTransformer::Asymmetric,
            (false, name) => CoordTransformer::parse(&name).map_err(|_| {
                format!("coordinate transformation '{name}' (tf_crop_and_resize fills outside its crop with a constant: not a linear layer)")
            })?,
        };
        let nearest = text("nearest_mode", "round_prefer_floor");
        let nearest = ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"]
            .iter()
            .position(|m| *m == nearest)
            .ok_or_else(|| format!("nearest mode '{nearest}'"))? as u8;
        Ok(Interpolation {
            kind,
            coord,
            nearest,
            cubic_a: a.float("cubic_coeff_a").unwrap_or(-0.75),
            antialias: c.opset >= 18 && a.int("antialias").unwrap_or(0) != 0,
            exclude_outside: a.int("exclude_outside").unwrap_or(0) != 0,
        })
    }

    /// tract's plan of an axis of `len_in` resized to `len_out` at scale `s` (as its ONNX Resize).
    #[inline(never)]
    fn plan(&self, s: f32, len_in: usize, len_out: usize) -> AxisPlan {
        let window = window_size(&self.kind, self.antialias, s);
        let at = |o: usize| Some(self.coord.transform(o, s, len_in, len_out));
        plan_axis(len_in, len_out, window, self.exclude_outside, at, |r, w| match self.kind {
            Interpolator::Linear => linear_weights(r, s, self.antialias, w),
            Interpolator::Cubic => cubic_weights(r, s, self.cubic_a, self.antialias, w),
            Interpolator::Nearest => {
                let right = r == 1.0 || [false, true, r > 0.5, r >= 0.5][self.nearest as usize];
                w[0] = !right as u8 as f32;
                w[1] = right as u8 as f32;
            }
        })
    }
}

/// The scale of each axis (1 where it is not resized), as tract resolves it: the `scales` input
/// when it names every resized axis, else the ratio the aspect-ratio policy picks from `sizes`, else
/// output length over input length.
fn scales(c: &mut BuildCtx, x: &[usize], out: &[usize]) -> std::result::Result<Vec<f32>, String> {
    let rank = x.len();
    let a = c.attrs();
    let since_18 = c.opset >= 18;
    let axes: Vec<usize> = match a.ints("axes").filter(|_| since_18) {
        None => (0..rank).collect(),
        Some(v) => {
            v.iter().map(|&i| super::constants::normalise_axis(i, rank)).collect::<std::result::Result<_, _>>()?
        }
    };
    let policy = a.string("keep_aspect_ratio_policy").filter(|_| since_18).unwrap_or_else(|| "stretch".into());
    let (scales_ix, sizes_ix) = if c.opset <= 10 { (1, 4) } else { (2, 3) };
    let given = c.constant(scales_ix, "scales").map_err(|e| e.to_string())?.filter(|s| s.len() == axes.len());
    let mut scale = vec![1f32; rank];
    if let Some(s) = given {
        axes.iter().zip(s.iter()).for_each(|(&axis, &v)| scale[axis] = v);
    } else if policy == "stretch" {
        axes.iter().for_each(|&axis| scale[axis] = out[axis] as f32 / x[axis] as f32);
    } else {
        let sizes = c.ints(sizes_ix, "sizes").map_err(|e| e.to_string())?.filter(|s| s.len() == axes.len());
        let sizes = sizes.ok_or_else(|| format!("aspect-ratio policy '{policy}' without one size per resized axis"))?;
        let ratios = axes.iter().zip(&sizes).map(|(&axis, &size)| size as f32 / x[axis] as f32);
        let pick = match policy.as_str() {
            "not_larger" => ratios.fold(f32::INFINITY, f32::min),
            "not_smaller" => ratios.fold(0.0, f32::max),
            _ => return Err(format!("aspect-ratio policy '{policy}'")),
        };
        axes.iter().for_each(|&axis| scale[axis] = pick);
    }
    Ok(scale)
}

pub fn build(c: &mut BuildCtx) -> Result<Op> {
    let (x, out) = (c.x().to_vec(), c.out.clone());
    planned(c, &x, &out).map_err(|why| c.err(why))
}

fn planned(c: &mut BuildCtx, x: &[usize], out: &[usize]) -> std::result::Result<Op, String> {
    let how = Interpolation::read(c)?;
    if out.len() != x.len() {
        return Err(format!("an output of shape {out:?} for an input of shape {x:?}"));
    }
    let scale = scales(c, x, out)?;
    let mut shape = x.to_vec();
    let mut axes = Vec::new();
    for (axis, &s) in scale.iter().enumerate() {
        let (len_in, len_out) = (shape[axis], out[axis]);
        if len_in == len_out && s == 1.0 {
            continue;
        }
        let window = window_size(&how.kind, how.antialias, s);
        let fits = (window as u64 * len_out as u64) <= crate::budget::MAX_TENSOR_ELEMENTS && window <= 2 * len_in + 4;
        let plan =
            (s.is_finite() && s > 0.0 && len_in > 0 && len_out > 0 && fits).then(|| how.plan(s, len_in, len_out));
        let Some(plan) = plan.filter(|p| p.weights.iter().all(|w| w.is_finite())) else {
            return Err(format!("axis {axis} resized from {len_in} to {len_out} at scale {s:?}"));
        };
        axes.push(ResampledAxis {
            around: Axes3::of(&shape, axis, axis),
            len_out,
            window,
            indices: plan.indices,
            weights: plan.weights,
        });
        shape[axis] = len_out;
    }
    Ok(if axes.is_empty() { Op::Identity } else { Op::Linear(Linear::Resize(axes)) })
}
