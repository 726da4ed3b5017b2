//! Pixel flipping in the page as a list of forward passes that two workers can share. The engine's
//! worker takes passes from the front of the list and a helper worker, where the browser can start
//! one, from the back of the first look and then from the back of the list
//! ([`FlipJob::helper_passes`]), each telling the other which passes it has or is computing (the
//! helper's claims, [`FlipJob::claim`]) so that where they meet neither computes a pass twice; the
//! curves are assembled from whichever worker computed each pass, so they are the same either way.
//! RLRP.md has no section here: this is how the page measures faithfulness (region perturbation,
//! [`crate::eval::perturbation`]).
//!
//! The list's order is the page's: the clean input (whose logits the explanation's forward pass
//! already gave, [`FlipJob::with_clean_logits`]), then the coarse points of the most-relevant-first
//! curve and of the first random order (the first look, answered on its own), then every other
//! point.
use super::protocol::{HelperPass, Response};
use crate::error::{Error, Result};
use crate::eval::perturbation::{aopc, coarse_points, morf_order, perturbed, random_order, PerturbationConfig};
use crate::method::Method;
use crate::tensor::Tensor;

/// One pass: point `k` (patches removed) of curve `curve` (0 = most relevant first, then the random
/// orders).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pass {
    curve: usize,
    k: usize,
}

/// A pixel-flipping run in progress.
pub struct FlipJob {
    pub method: Method,
    pub target: usize,
    patch: usize,
    patches: usize,
    steps: usize,
    /// Patch orders by curve: most relevant first, then the random orders (none when the random
    /// curve is `cached`).
    orders: Vec<Vec<usize>>,
    cached: Option<Vec<f32>>,
    coarse: Vec<usize>,
    passes: Vec<Pass>,
    /// `passes[..first_look]` make the coarse first look (0: there is none, the curve is short).
    first_look: usize,
    first_look_taken: bool,
    /// Each pass's logits (every class's: `classes` of them).
    results: Vec<Option<Vec<f32>>>,
    /// The passes the helper said it is computing.
    claimed: Vec<bool>,
    classes: usize,
    helper_passes: usize,
}

/// What a finished run gives: the page's answer, and what the image keeps for later runs.
pub struct Finished {
    pub response: Response,
    /// The random curve of every class, `[step][class]` (when the random orders were measured in
    /// this run).
    pub random_all_classes: Option<Vec<Vec<f32>>>,
}

/// Pixel flipping in the page answers first with every few steps of its curves (about this many
/// intervals: 7 of the 51 points for 50 steps, 13 of a Lite0's 151 forward passes, the first of
/// which the explanation's forward pass gave), then with all.
const COARSE_INTERVALS: usize = 6;

impl FlipJob {
    /// The passes of a run on patch `scores` (one per patch, in patch order) with `cfg`; `cached`
    /// is the target's random curve when an earlier run measured it; `classes` is the number of
    /// logits each pass gives (the target is one of them).
    pub fn new(
        method: Method,
        target: usize,
        cfg: &PerturbationConfig,
        scores: &[(usize, f64)],
        cached: Option<Vec<f32>>,
        classes: usize,
    ) -> FlipJob {
        let steps = cfg.steps.min(scores.len());
        let random_orders = match cached {
            Some(_) => 0,
            None => cfg.random_orders,
        };
        let orders: Vec<Vec<usize>> = std::iter::once(morf_order(scores))
            .chain((0..random_orders).map(|r| random_order(scores.len(), cfg.seed, r as u64)))
            .collect();
        let coarse = coarse_points(steps, COARSE_INTERVALS);
        let fine: Vec<usize> = (1..=steps).filter(|k| !coarse.contains(k)).collect();
        let first_random = orders.len().min(2);
        let mut passes = vec![Pass { curve: 0, k: 0 }];
        for curve in 0..first_random {
            passes.extend(coarse[1..].iter().map(|&k| Pass { curve, k }));
        }
        let first_look = if fine.is_empty() { 0 } else { passes.len() };
        for curve in 0..orders.len() {
            let points: Box<dyn Iterator<Item = usize>> =
                if curve < first_random { Box::new(fine.iter().copied()) } else { Box::new(1..=steps) };
            passes.extend(points.map(|k| Pass { curve, k }));
        }
        FlipJob {
            method,
            target,
            patch: cfg.patch,
            patches: scores.len(),
            steps,
            orders,
            cached,
            coarse,
            results: vec![None; passes.len()],
            claimed: vec![false; passes.len()],
            passes,
            first_look,
            first_look_taken: false,
            classes,
            helper_passes: 0,
        }
    }

    /// Takes `logits` as pass 0's, the unperturbed input's, when the explanation's forward pass of
    /// the same input gave them (every class's; other lengths are ignored): one pass fewer, and
    /// one fewer before the first look.
    pub fn with_clean_logits(mut self, logits: Option<&[f32]>) -> FlipJob {
        if let Some(logits) = logits {
            self.record(0, logits.to_vec(), false);
        }
        self
    }

    /// Forward passes in the run.
    pub fn total(&self) -> usize {
        self.passes.len()
    }

    /// Forward passes whose logits are in.
    pub fn done(&self) -> usize {
        self.results.iter().filter(|r| r.is_some()).count()
    }

    pub fn is_complete(&self) -> bool {
        self.results.iter().all(Option::is_some)
    }

    /// The first pass that is not done and that the helper has not claimed; the first not done
    /// when the helper has claimed every one left.
    pub fn next_front(&self) -> Option<usize> {
        let open = |i: &usize| self.results[*i].is_none();
        (0..self.results.len()).filter(open).find(|&i| !self.claimed[i]).or_else(|| (0..self.results.len()).find(open))
    }

    /// Notes that the helper is computing pass `index` (an index out of the run is ignored).
    pub fn claim(&mut self, index: usize) {
        if let Some(c) = self.claimed.get_mut(index) {
            *c = true;
        }
    }

    /// The patch orders, by curve.
    pub fn orders(&self) -> &[Vec<usize>] {
        &self.orders
    }

    pub fn patch(&self) -> usize {
        self.patch
    }

    /// The input of pass `index`: `input` with its curve's first `k` patches replaced by `fill`.
    pub fn input_of(&self, index: usize, input: &Tensor, fill: &Tensor) -> Result<Tensor> {
        let pass = self.passes.get(index).ok_or_else(|| Error::Request(format!("no pass {index}")))?;
        perturbed(input, fill, &self.orders[pass.curve], self.patch, pass.k)
    }

    /// The passes a helper may take: the back half of the first look, last first (the engine's
    /// worker takes it from the front: the two meet in its middle, and the coarse look comes in
    /// about half the time), then every later pass, last first.
    pub fn helper_passes(&self) -> Vec<HelperPass> {
        let later = self.first_look.max(1);
        let middle = if self.first_look > 1 { 1 + (self.first_look - 1) / 2 } else { later };
        (middle..self.first_look)
            .rev()
            .chain((later..self.passes.len()).rev())
            .map(|index| HelperPass { index, order: self.passes[index].curve, k: self.passes[index].k })
            .collect()
    }

    /// Records pass `index`'s logits (a pass already done, or logits of the wrong length, are
    /// ignored: a helper's answer may come after the engine's worker computed the same pass).
    pub fn record(&mut self, index: usize, logits: Vec<f32>, by_helper: bool) {
        let fits = logits.len() == self.classes;
        if let Some(slot) = self.results.get_mut(index).filter(|r| r.is_none() && fits) {
            *slot = Some(logits);
            self.helper_passes += by_helper as usize;
        }
    }

    /// The target logit of a done pass.
    fn value(&self, index: usize) -> f32 {
        let logits = self.results[index].as_deref().unwrap_or(&[]);
        logits.get(self.target).copied().unwrap_or(f32::NAN)
    }

    /// The curves so far, `[curve][step]` (steps not measured yet hold NaN).
    fn curves(&self) -> Vec<Vec<f32>> {
        let mut curves = vec![vec![f32::NAN; self.steps + 1]; self.orders.len()];
        for (i, pass) in self.passes.iter().enumerate() {
            if self.results[i].is_some() {
                curves[pass.curve][pass.k] = self.value(i);
            }
        }
        let clean = curves[0][0];
        for curve in &mut curves {
            curve[0] = clean;
        }
        curves
    }

    /// The coarse first look, once, as soon as its passes are done.
    pub fn take_first_look(&mut self) -> Option<Response> {
        if self.first_look == 0 || self.first_look_taken || self.results[..self.first_look].iter().any(Option::is_none)
        {
            return None;
        }
        self.first_look_taken = true;
        let curves = self.curves();
        let at = |curve: &[f32]| self.coarse.iter().map(|&k| curve[k]).collect::<Vec<f32>>();
        let morf = at(&curves[0]);
        let random = match (&self.cached, curves.get(1)) {
            (Some(curve), _) | (None, Some(curve)) => at(curve),
            (None, None) => Vec::new(),
        };
        Some(self.answer(self.coarse.clone(), false, morf, random))
    }

    /// The page's answer: the curves at steps `points`.
    fn answer(&self, points: Vec<usize>, complete: bool, morf: Vec<f32>, random: Vec<f32>) -> Response {
        Response::Faithfulness {
            method: self.method,
            target: self.target,
            patch: self.patch,
            patches: self.patches,
            steps: self.steps,
            points,
            complete,
            aopc_morf: aopc(&morf),
            aopc_random: aopc(&random),
            morf,
            random,
            helper_passes: self.helper_passes,
        }
    }

    /// The answer, once every pass is done.
    pub fn finish(self) -> Result<Finished> {
        if !self.is_complete() {
            return Err(Error::Engine(format!("pixel flipping ended with {} of {} passes", self.done(), self.total())));
        }
        let mut curves = self.curves();
        let random = match &self.cached {
            Some(curve) => curve.clone(),
            None => (0..=self.steps)
                .map(|k| (curves[1..].iter().map(|c| c[k] as f64).sum::<f64>() / (curves.len() - 1) as f64) as f32)
                .collect(),
        };
        let random_all_classes = (self.cached.is_none() && self.orders.len() > 1).then(|| self.random_mean_by_class());
        let morf = curves.swap_remove(0);
        let response = self.answer((0..=self.steps).collect(), true, morf, random);
        Ok(Finished { response, random_all_classes })
    }

    /// The random orders' mean curve of every class, `[step][class]` (step 0 being the clean
    /// input), averaged as the target's own curve is (f64 sums). Every pass is done.
    fn random_mean_by_class(&self) -> Vec<Vec<f32>> {
        let classes = self.classes;
        let mut by_order = vec![vec![None; self.steps + 1]; self.orders.len()];
        for (i, pass) in self.passes.iter().enumerate() {
            by_order[pass.curve][pass.k] = self.results[i].as_deref();
        }
        let clean = by_order[0][0].unwrap_or(&[]).to_vec();
        let random = &by_order[1..];
        let n = random.len() as f64;
        let mut mean = vec![clean];
        for k in 1..=self.steps {
            mean.push(
                (0..classes)
                    .map(|c| (random.iter().map(|o| o[k].map_or(f64::NAN, |l| l[c] as f64)).sum::<f64>() / n) as f32)
                    .collect(),
            );
        }
        mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of 50 steps over 196 patches with 2 random orders and 3 classes.
    fn job(cached: Option<Vec<f32>>) -> FlipJob {
        let cfg = PerturbationConfig {
            patch: 16,
            steps: 50,
            random_orders: 2,
            ..PerturbationConfig::for_input(&[1, 3, 224, 224])
        };
        let scores: Vec<(usize, f64)> = (0..196).map(|i| (i, ((i * 37) % 196) as f64)).collect();
        FlipJob::new(Method::Rlrp, 1, &cfg, &scores, cached, 3)
    }

    #[test]
    fn the_passes_and_who_may_take_them() {
        let j = job(None);
        assert_eq!(j.total(), 1 + 3 * 50, "the clean input once, then 50 steps of 3 curves");
        assert_eq!(j.first_look, 13, "x⁰ and 6 coarse steps of two curves");
        let helper: Vec<usize> = j.helper_passes().iter().map(|p| p.index).collect();
        let expected: Vec<usize> = (7..13).rev().chain((13..j.total()).rev()).collect();
        assert_eq!(helper, expected, "the first look's second half, then the rest, each last first");
        let mut all: Vec<(usize, usize)> = j.passes.iter().map(|p| (p.curve, p.k)).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), j.total(), "no pass twice");
        let cached = job(Some(vec![0.0; 51]));
        assert_eq!(
            (cached.total(), cached.first_look),
            (51, 7),
            "with the random curve known, the most-relevant-first curve alone"
        );
        let helper: Vec<usize> = cached.helper_passes().iter().map(|p| p.index).collect();
        assert_eq!(helper, (4..7).rev().chain((7..51).rev()).collect::<Vec<_>>());
        // A run too short for a first look: the helper takes every pass but the clean input's.
        let short = FlipJob::new(
            Method::Rlrp,
            1,
            &PerturbationConfig { steps: 3, random_orders: 0, ..PerturbationConfig::for_input(&[1, 3, 224, 224]) },
            &(0..196).map(|i| (i, i as f64)).collect::<Vec<_>>(),
            Some(vec![0.0; 4]),
            3,
        );
        let helper: Vec<usize> = short.helper_passes().iter().map(|p| p.index).collect();
        assert_eq!((short.first_look, helper), (0, vec![3, 2, 1]));
    }

    #[test]
    fn the_clean_input_is_not_computed_again() {
        let j = job(None).with_clean_logits(Some(&[0.5, 1.5, 2.5]));
        assert_eq!((j.done(), j.next_front(), j.value(0)), (1, Some(1), 1.5));
        assert!(j.helper_passes().iter().all(|p| p.index >= 7), "the helper leaves the first look's first half alone");
        let j = job(None).with_clean_logits(Some(&[0.5, 1.5]));
        assert_eq!((j.done(), j.next_front()), (0, Some(0)), "logits of another length are not the model's");
        assert_eq!(job(None).with_clean_logits(None).done(), 0);
    }

    #[test]
    fn the_engine_leaves_the_passes_the_helper_claimed_while_others_remain() {
        let mut j = job(None).with_clean_logits(Some(&[0.5, 1.5, 2.5]));
        j.claim(1);
        j.claim(usize::MAX);
        assert_eq!(j.next_front(), Some(2));
        for i in 0..j.total() {
            j.claim(i);
        }
        assert_eq!(j.next_front(), Some(1), "all claimed: the first not done, to finish sooner");
        j.record(1, vec![0.0; 3], true);
        assert_eq!(j.next_front(), Some(2));
    }

    #[test]
    fn recording_counts_each_pass_once_and_refuses_wrong_lengths() {
        let mut j = job(None);
        j.record(5, vec![1.0, 2.0], true);
        assert_eq!(j.done(), 0, "two logits where the model has three");
        j.record(5, vec![1.0, 2.0, 3.0], true);
        j.record(5, vec![9.0, 9.0, 9.0], false);
        j.record(usize::MAX, vec![1.0, 2.0, 3.0], true);
        assert_eq!((j.done(), j.helper_passes, j.value(5)), (1, 1, 2.0), "the first answer stays");
        assert_eq!(j.next_front(), Some(0));
        assert!(j.take_first_look().is_none() && !j.is_complete());
        for i in 0..j.total() {
            j.record(i, vec![0.0, i as f32, 0.0], false);
        }
        assert!(j.take_first_look().is_some() && j.take_first_look().is_none(), "the first look once");
        let Finished { response, random_all_classes } = j.finish().unwrap();
        let Response::Faithfulness { morf, random, helper_passes, complete, .. } = response else { panic!() };
        assert!(complete && helper_passes == 1);
        assert_eq!((morf.len(), random.len()), (51, 51));
        let all = random_all_classes.expect("random orders measured");
        assert_eq!(all.len(), 51);
        assert!(
            all.iter().zip(&random).all(|(step, &r)| step.len() == 3 && step[1] == r),
            "the target's column is its curve"
        );
    }
}
