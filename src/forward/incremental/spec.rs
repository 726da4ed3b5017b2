//! Where a model's forward pass can be recomputed on a crop: the sections of its local prefix
//! (convolutions, pooling, padding, element-wise ops and skip additions, on NCHW maps) between
//! bottleneck values, with, for each, how far an output element reaches into the section's input
//! and the crop that covers a changed patch. Derived from the explainable graph
//! ([`crate::model::graph`]); the runner is [`super::IncrementalLogits`]. RLRP.md has no section
//! here: this only makes pixel flipping's forward passes cheaper, not different.
use crate::model::graph::{Graph, Linear, Op};

/// How the elements of one map depend on a section's input, along one spatial axis: element `j`
/// reads input elements `j·stride − before ..= j·stride + after` (a superset where branches join).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    pub stride: usize,
    pub before: isize,
    pub after: isize,
}

impl Reach {
    const IDENTITY: Reach = Reach { stride: 1, before: 0, after: 0 };

    /// Through a window of `kernel` taps `dilation` apart, `stride` apart, after `pad` padding.
    fn window(self, kernel: usize, stride: usize, dilation: usize, pad: usize) -> Reach {
        let s = self.stride as isize;
        let span = (dilation * (kernel.max(1) - 1)) as isize;
        Reach {
            stride: self.stride * stride,
            before: pad as isize * s + self.before,
            after: (span - pad as isize) * s + self.after,
        }
    }

    /// Two branches joined (an addition): the same stride, or no reach at all.
    fn join(self, other: Reach) -> Option<Reach> {
        (self.stride == other.stride).then(|| Reach {
            stride: self.stride,
            before: self.before.max(other.before),
            after: self.after.max(other.after),
        })
    }

    /// The output elements (half-open, within `out`) that read any of input elements `lo..hi`.
    pub fn affected(self, lo: usize, hi: usize, out: usize) -> (usize, usize) {
        let s = self.stride as isize;
        let first = (lo as isize - self.after).div_euclid(s) + ((lo as isize - self.after).rem_euclid(s) != 0) as isize;
        let last = (hi as isize - 1 + self.before).div_euclid(s);
        let first = first.clamp(0, out as isize) as usize;
        let end = (last + 1).clamp(0, out as isize) as usize;
        (first, end.max(first))
    }

    /// The input elements (half-open, within `input`) that output elements `lo..hi` read.
    pub fn needed(self, lo: usize, hi: usize, input: usize) -> (usize, usize) {
        let s = self.stride as isize;
        let first = (lo as isize * s - self.before).clamp(0, input as isize) as usize;
        let end = ((hi as isize - 1) * s + self.after + 1).clamp(0, input as isize) as usize;
        (first, end.max(first))
    }
}

/// Half-open ranges of rows and of columns.
pub type Region = [(usize, usize); 2];

/// One section: from value `from` (None: the model's input) to the bottleneck value `to`.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub from: Option<String>,
    pub to: String,
    /// `[1, C, H, W]` of the section's input and output.
    pub in_shape: Vec<usize>,
    pub out_shape: Vec<usize>,
    /// How the section's input depends on the model's input, along H and W.
    pub entry: [Reach; 2],
    /// How the section's output depends on its input, along H and W.
    pub reach: [Reach; 2],
    /// The crop of the input the section is run on, along H and W: a multiple of the stride short of
    /// the whole map, so the crop's grid and padding are the whole map's.
    pub window: [usize; 2],
}

impl Section {
    /// Where a change of the model's input elements `box_` (half-open, along H and W) shows in the
    /// section's output, and the crop origin that covers it: `None` when the change does not fit
    /// the window.
    pub fn crop_for(&self, box_: Region) -> Option<(Region, [usize; 2])> {
        let mut affected = [(0, 0); 2];
        let mut origin = [0; 2];
        for a in 0..2 {
            let (input, out) = (self.in_shape[2 + a], self.out_shape[2 + a]);
            let r = self.reach[a];
            let (c0, c1) = self.entry[a].affected(box_[a].0, box_[a].1, input);
            affected[a] = r.affected(c0, c1, out);
            let (lo, hi) = r.needed(affected[a].0, affected[a].1, input);
            let o = (lo / r.stride * r.stride).min(input - self.window[a]);
            if o + self.window[a] < hi || o > lo {
                return None;
            }
            origin[a] = o;
        }
        Some((affected, origin))
    }
}

/// The sections to crop, in order; the rest of the model (from the last section's output) runs
/// whole.
#[derive(Clone, Debug, PartialEq)]
pub struct IncrementalSpec {
    pub sections: Vec<Section>,
}

/// How the search for sections weighs them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tuning {
    /// A section is a candidate only when its crop is at most this share of its input map.
    pub max_crop_share: f64,
    /// The fixed cost of a section (its plan's call, the crop and the paste), as a share of the
    /// whole model's work.
    pub section_overhead: f64,
    /// The chain is kept only when its cost is at most this share of the whole model's work.
    pub max_cost_share: f64,
}

impl Tuning {
    /// The sections that make passes cheaper (what the page and `rlrp eval` use).
    pub const PAYING: Tuning = Tuning { max_crop_share: 0.5, section_overhead: 0.01, max_cost_share: 0.9 };
    /// As many sections as the model's local prefix allows, whether or not they pay: crops up to
    /// the whole map, and each section a gain (a negative overhead). For the fuzz targets and
    /// tests, which look for cropping that breaks, not for speed.
    pub const EVERY_SECTION: Tuning =
        Tuning { max_crop_share: 1.0, section_overhead: -0.01, max_cost_share: f64::INFINITY };
}

/// Cuts the search considers (it tries every pair).
const MAX_CUTS: usize = 48;

/// Numbers per section in the wire form: the two shapes, the window, the entry and the reach.
const WIRE_NUMBERS: usize = 4 + 4 + 2 + 6 + 6;

impl IncrementalSpec {
    /// The spec as names (each section's `from`, empty for the input, and `to`) and numbers, for
    /// the message to the helper worker (numbers are `usize`, a negative reach wrapped around).
    pub fn to_wire(&self) -> (Vec<String>, Vec<usize>) {
        let mut names = Vec::with_capacity(2 * self.sections.len());
        let mut numbers = Vec::with_capacity(WIRE_NUMBERS * self.sections.len());
        for s in &self.sections {
            names.push(s.from.clone().unwrap_or_default());
            names.push(s.to.clone());
            numbers.extend(s.in_shape.iter().chain(&s.out_shape).chain(&s.window));
            for r in s.entry.iter().chain(&s.reach) {
                numbers.extend([r.stride, r.before as usize, r.after as usize]);
            }
        }
        (names, numbers)
    }

    /// The spec [`IncrementalSpec::to_wire`] wrote; None for none, or for names and numbers that do
    /// not make sections ([`IncrementalSpec::check`] then tells whether they fit the model).
    pub fn from_wire(names: &[String], numbers: &[usize]) -> Option<IncrementalSpec> {
        if names.is_empty() || !names.len().is_multiple_of(2) || numbers.len() != names.len() / 2 * WIRE_NUMBERS {
            return None;
        }
        let sections = names
            .chunks(2)
            .zip(numbers.chunks(WIRE_NUMBERS))
            .map(|(n, x)| {
                let reach = |i: usize| Reach { stride: x[i], before: x[i + 1] as isize, after: x[i + 2] as isize };
                Section {
                    from: (!n[0].is_empty()).then(|| n[0].clone()),
                    to: n[1].clone(),
                    in_shape: x[0..4].to_vec(),
                    out_shape: x[4..8].to_vec(),
                    window: [x[8], x[9]],
                    entry: [reach(10), reach(13)],
                    reach: [reach(16), reach(19)],
                }
            })
            .collect();
        Some(IncrementalSpec { sections })
    }

    /// Whether the sections fit together and the model's input of `input_shape` (a spec comes from
    /// another worker, so it is checked before any index is taken from it).
    pub fn check(&self, input_shape: &[usize]) -> crate::error::Result<()> {
        let bad = |what: String| Err(crate::error::Error::Request(format!("cropping the model: {what}")));
        let mut expected = input_shape.to_vec();
        for s in &self.sections {
            if s.in_shape != expected || s.out_shape.len() != 4 || s.in_shape.len() != 4 || s.out_shape[0] != 1 {
                return bad(format!("section '{}' takes {:?} where {:?} comes", s.to, s.in_shape, expected));
            }
            for a in 0..2 {
                let (input, out, w, stride) = (s.in_shape[2 + a], s.out_shape[2 + a], s.window[a], s.reach[a].stride);
                let short = input.wrapping_sub(w);
                if stride == 0 || w == 0 || w > input || short % stride != 0 || short / stride >= out {
                    return bad(format!("section '{}' has a window {w} of {input} with stride {stride}", s.to));
                }
                for r in [s.reach[a], s.entry[a]] {
                    if r.stride == 0 || r.before.unsigned_abs() > 1 << 20 || r.after.unsigned_abs() > 1 << 20 {
                        return bad(format!("section '{}' has a reach {r:?}", s.to));
                    }
                }
            }
            expected = s.out_shape.clone();
        }
        Ok(())
    }

    /// The sections worth cropping for changes of `patch` × `patch` pixels, or None where the model
    /// has no local prefix, or cropping it would not pay.
    pub fn of(graph: &Graph, patch: usize) -> Option<IncrementalSpec> {
        Self::tuned(graph, patch, Tuning::PAYING)
    }

    /// The sections for changes of `patch` × `patch` pixels that `tuning` chooses, or None where
    /// the model has no local prefix or no chain of sections meets it.
    pub fn tuned(graph: &Graph, patch: usize, tuning: Tuning) -> Option<IncrementalSpec> {
        let input_shape = &graph.values[graph.input].shape;
        if input_shape.len() != 4 || input_shape[0] != 1 || patch == 0 {
            return None;
        }
        let position = position_of_producers(graph);
        let work = node_work(graph);
        let total_work: f64 = work.iter().sum::<f64>().max(1.0);
        // The local prefix: nodes up to the first that is not local.
        let prefix = graph.nodes.iter().position(|n| !is_local(n, graph)).unwrap_or(graph.nodes.len());
        // Bottlenecks in it: values after whose producer no node reads anything older.
        let mut oldest_read_after = vec![usize::MAX; graph.nodes.len() + 1];
        for i in (0..graph.nodes.len()).rev() {
            let oldest = graph.nodes[i].inputs.iter().map(|&v| position[v]).min().unwrap_or(usize::MAX);
            oldest_read_after[i] = oldest_read_after[i + 1].min(oldest);
        }
        // Positions are 0 for the input, i + 1 for node i's output.
        let mut cuts: Vec<usize> = vec![0];
        for i in 0..prefix {
            let out = graph.nodes[i].output;
            if graph.values[out].shape.len() == 4 && oldest_read_after[i + 1] > i && out != graph.output {
                cuts.push(i + 1);
            }
        }
        // At most this many, evenly spread, so that a long chain cannot make the search slow.
        if cuts.len() > MAX_CUTS {
            let last = cuts.len() - 1;
            cuts = (0..MAX_CUTS).map(|i| cuts[i * last / (MAX_CUTS - 1)]).collect();
        }
        let value_at = |p: usize| if p == 0 { graph.input } else { graph.nodes[p - 1].output };
        // depends[i][j − i − 1]: how cut j depends on cut i (one walk over the nodes from each cut).
        let depends: Vec<Vec<Option<[Reach; 2]>>> =
            (0..cuts.len()).map(|i| reaches(graph, &position, value_at(cuts[i]), cuts[i], &cuts[i + 1..])).collect();
        // Candidate sections between cuts i < j, with their reach and the crop a patch needs.
        let section = |i: usize, j: usize| -> Option<(Section, f64)> {
            let (a, b) = (cuts[i], cuts[j]);
            let reach = depends[i][j - i - 1]?;
            let (from, to) = (value_at(a), value_at(b));
            let (in_shape, out_shape) = (graph.values[from].shape.clone(), graph.values[to].shape.clone());
            if in_shape.len() != 4 || out_shape.len() != 4 {
                return None;
            }
            let entry = if i == 0 { [Reach::IDENTITY; 2] } else { depends[0][i - 1]? };
            // The smallest window that covers what a patch at `places` needs (the widest of them),
            // a multiple of the stride short of the whole map, and its share of the map.
            let crop = |places: &dyn Fn(usize) -> std::ops::Range<usize>| -> Option<([usize; 2], f64)> {
                let mut window = [0; 2];
                for ax in 0..2 {
                    let (size, input, s) = (input_shape[2 + ax], in_shape[2 + ax], reach[ax].stride);
                    let needed = places(size)
                        .map(|lo| {
                            let (c0, c1) = entry[ax].affected(lo, (lo + patch).min(size), input);
                            let (b0, b1) = reach[ax].affected(c0, c1, out_shape[2 + ax]);
                            let (n0, n1) = reach[ax].needed(b0, b1, input);
                            n1 - n0 / s * s
                        })
                        .max()?;
                    window[ax] = input - (input.saturating_sub(needed) / s) * s;
                }
                Some((window, (window[0] * window[1]) as f64 / (in_shape[2] * in_shape[3]) as f64))
            };
            // A patch in the middle needs at most what the widest needs: most sections are too
            // wide already there, and the search skips them (Lite0 natively: ~2.4 ms, not ~9).
            if crop(&|size| size / 2..size / 2 + 1)?.1 > tuning.max_crop_share {
                return None;
            }
            // The widest crop a patch needs, wherever it lies.
            let (window, share) = crop(&|size| 0..size)?;
            (share <= tuning.max_crop_share).then(|| {
                let section_work: f64 = work[a..b].iter().sum();
                (
                    Section {
                        from: (a != 0).then(|| graph.values[from].name.clone()),
                        to: graph.values[to].name.clone(),
                        in_shape,
                        out_shape,
                        entry,
                        reach,
                        window,
                    },
                    share * section_work + tuning.section_overhead * total_work,
                )
            })
        };
        // The cheapest chain of sections from the input, the rest whole (work in node order).
        let n = cuts.len();
        let mut best: Vec<Option<(f64, usize, Option<Section>)>> = vec![None; n];
        best[0] = Some((0.0, 0, None));
        for j in 1..n {
            for i in 0..j {
                let Some(cost_i) = best[i].as_ref().map(|b| b.0) else { continue };
                if let Some((s, cost)) = section(i, j) {
                    if best[j].as_ref().is_none_or(|b| cost_i + cost < b.0) {
                        best[j] = Some((cost_i + cost, i, Some(s)));
                    }
                }
            }
        }
        let whole_after = |p: usize| -> f64 { work[p..].iter().sum() };
        let (end, cost) = (0..n)
            .filter_map(|j| best[j].as_ref().map(|b| (j, b.0 + whole_after(cuts[j]))))
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        if end == 0 || cost > tuning.max_cost_share * total_work {
            return None;
        }
        let mut sections = Vec::new();
        let mut j = end;
        while j != 0 {
            let (_, i, s) = best[j].clone()?;
            sections.push(s?);
            j = i;
        }
        sections.reverse();
        Some(IncrementalSpec { sections })
    }
}

/// Position of each value's producer: 0 for the input (and constants-free values), i + 1 for
/// node i's output.
fn position_of_producers(graph: &Graph) -> Vec<usize> {
    let mut position = vec![0; graph.values.len()];
    for (i, n) in graph.nodes.iter().enumerate() {
        position[n.output] = i + 1;
    }
    position
}

/// Whether a node computes each output element from a window of its inputs' elements at the same
/// place (NCHW maps), so that a crop computes it as the whole map does.
fn is_local(node: &crate::model::graph::Node, graph: &Graph) -> bool {
    let maps = node.inputs.iter().chain(std::iter::once(&node.output)).all(|&v| graph.values[v].shape.len() == 4);
    maps && match &node.op {
        Op::Linear(Linear::Conv(_)) | Op::Linear(Linear::AvgPool(_)) | Op::Linear(Linear::Affine(_)) => true,
        Op::MaxPool(_) | Op::Activation(_) | Op::Add { .. } | Op::Identity | Op::Saturate { .. } => true,
        Op::Pad(pads) => pads.len() == 4 && pads[0] == (0, 0) && pads[1] == (0, 0),
        Op::Gate { .. } => {
            let shapes: Vec<&Vec<usize>> = node.inputs.iter().map(|&v| &graph.values[v].shape).collect();
            shapes.windows(2).all(|w| w[0] == w[1])
        }
        Op::Concat { axis, pieces } => {
            *axis == 1 && pieces.iter().all(|p| matches!(p, crate::model::graph::Piece::Input(_)))
        }
        _ => false,
    }
}

/// Rough work of each node (multiply-adds, or elements for element-wise ops), by position − 1.
fn node_work(graph: &Graph) -> Vec<f64> {
    graph
        .nodes
        .iter()
        .map(|n| {
            let out: f64 = graph.values[n.output].shape.iter().product::<usize>() as f64;
            match &n.op {
                Op::Linear(Linear::Conv(c)) => {
                    let g = &c.geometry;
                    out * (g.in_channels / g.groups.max(1) * g.kernel_h * g.kernel_w) as f64
                }
                Op::Linear(Linear::Dense(d)) => (d.rows * d.k * d.n) as f64,
                _ => out,
            }
        })
        .collect()
}

/// How the values at positions `ends` (increasing, after `a`) depend on `from`, the value at
/// position `a`, along H and W: one walk over the nodes from `a`. None for a section that holds a
/// node that is not local, reads a value from before `a`, or joins branches of different strides
/// (and so for every longer one).
fn reaches(graph: &Graph, position: &[usize], from: usize, a: usize, ends: &[usize]) -> Vec<Option<[Reach; 2]>> {
    let mut out = vec![None; ends.len()];
    let Some(&last) = ends.last() else { return out };
    let mut reach: Vec<Option<[Reach; 2]>> = vec![None; graph.values.len()];
    reach[from] = Some([Reach::IDENTITY; 2]);
    let mut next = 0;
    for i in a..last {
        let node = &graph.nodes[i];
        let Some(r) = node_reach(graph, position, &reach, from, a, node) else { break };
        reach[node.output] = Some(r);
        while next < ends.len() && ends[next] <= i + 1 {
            if ends[next] == i + 1 {
                out[next] = Some(r);
            }
            next += 1;
        }
    }
    out
}

/// How `node`'s output depends on `from` (the value at position `a`), given its inputs' `reach`.
fn node_reach(
    graph: &Graph,
    position: &[usize],
    reach: &[Option<[Reach; 2]>],
    from: usize,
    a: usize,
    node: &crate::model::graph::Node,
) -> Option<[Reach; 2]> {
    if !is_local(node, graph) {
        return None;
    }
    let mut joined: Option<[Reach; 2]> = None;
    for &v in &node.inputs {
        if position[v] < a || (position[v] == a && v != from) {
            return None;
        }
        let r = reach[v]?;
        joined = Some(match joined {
            None => r,
            Some(j) => [j[0].join(r[0])?, j[1].join(r[1])?],
        });
    }
    let r = joined?;
    Some(match &node.op {
        Op::Linear(Linear::Conv(c)) => {
            let g = &c.geometry;
            [
                r[0].window(g.kernel_h, g.stride_h, g.dilation_h, g.pad_top),
                r[1].window(g.kernel_w, g.stride_w, g.dilation_w, g.pad_left),
            ]
        }
        Op::Linear(Linear::AvgPool(g)) | Op::MaxPool(g) => {
            if g.ceil_mode {
                return None;
            }
            [
                r[0].window(g.kernel_h, g.stride_h, g.dilation_h, g.pad_top),
                r[1].window(g.kernel_w, g.stride_w, g.dilation_w, g.pad_left),
            ]
        }
        Op::Pad(pads) => [r[0].window(1, 1, 1, pads[2].0), r[1].window(1, 1, 1, pads[3].0)],
        _ => r,
    })
}

#[cfg(test)]
mod tests {
    use super::Reach;

    /// One axis of a convolution: (kernel, stride, dilation, pad before).
    type Window = (usize, usize, usize, usize);

    /// The input elements each output element of a chain of windows reads, by brute force.
    fn reads(chain: &[Window], input: usize) -> Vec<Vec<usize>> {
        let mut sets: Vec<Vec<usize>> = (0..input).map(|i| vec![i]).collect();
        for &(k, s, d, p) in chain {
            let len = sets.len() as isize;
            let span = (d * (k - 1)) as isize;
            let out = ((len + 2 * p as isize - span - 1) / s as isize + 1).max(0) as usize;
            sets = (0..out)
                .map(|j| {
                    let mut v: Vec<usize> = (0..k)
                        .map(|t| (j * s) as isize - p as isize + (t * d) as isize)
                        .filter(|&i| i >= 0 && i < len)
                        .flat_map(|i| sets[i as usize].clone())
                        .collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                })
                .collect();
        }
        sets
    }

    /// `affected` and `needed` of a chain's reach hold every element the brute force says, and
    /// `needed` no element beyond the reads' span, for random chains and boxes.
    #[test]
    fn reach_of_a_chain_covers_exactly_what_it_reads() {
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for _ in 0..300 {
            let chain: Vec<Window> =
                (0..1 + next(4)).map(|_| (1 + next(5), 1 + next(2), 1 + next(2), next(3))).collect();
            let input = 20 + next(30);
            let sets = reads(&chain, input);
            if sets.is_empty() {
                continue;
            }
            let reach = chain.iter().fold(Reach::IDENTITY, |r, &(k, s, d, p)| r.window(k, s, d, p));
            let out = sets.len();
            let (lo, hi) = {
                let a = next(input);
                (a, (a + 1 + next(6)).min(input))
            };
            let (a0, a1) = reach.affected(lo, hi, out);
            for (j, set) in sets.iter().enumerate() {
                if set.iter().any(|&i| i >= lo && i < hi) {
                    assert!(j >= a0 && j < a1, "{chain:?}: output {j} reads {lo}..{hi} but {a0}..{a1}");
                }
            }
            let (j0, j1) = {
                let a = next(out);
                (a, (a + 1 + next(4)).min(out))
            };
            let (n0, n1) = reach.needed(j0, j1, input);
            let read: Vec<usize> = sets[j0..j1].iter().flatten().copied().collect();
            if let (Some(&min), Some(&max)) = (read.iter().min(), read.iter().max()) {
                assert!(n0 <= min && max < n1, "{chain:?}: {j0}..{j1} read {min}..={max}, needed {n0}..{n1}");
                // For a plain chain the reach is the reads' span, up to the padding at the ends.
                assert!(n0 == min || n0 == 0, "{chain:?}: needed from {n0}, read from {min}");
                assert!(n1 == max + 1 || n1 == input, "{chain:?}: needed to {n1}, read to {max}");
            }
        }
    }

    /// The wire form gives the spec back, negative reaches included; malformed forms give none.
    #[test]
    fn the_wire_form_gives_the_spec_back() {
        use super::{IncrementalSpec, Section};
        let reach = |stride, before, after| Reach { stride, before, after };
        let spec = IncrementalSpec {
            sections: vec![
                Section {
                    from: None,
                    to: "a".into(),
                    in_shape: vec![1, 3, 32, 32],
                    out_shape: vec![1, 8, 16, 16],
                    entry: [Reach::IDENTITY; 2],
                    reach: [reach(2, 1, 1), reach(2, -1, 3)],
                    window: [12, 14],
                },
                Section {
                    from: Some("a".into()),
                    to: "b".into(),
                    in_shape: vec![1, 8, 16, 16],
                    out_shape: vec![1, 8, 16, 16],
                    entry: [reach(2, 1, 1), reach(2, -1, 3)],
                    reach: [reach(1, 2, 2); 2],
                    window: [8, 8],
                },
            ],
        };
        let (names, numbers) = spec.to_wire();
        assert_eq!(IncrementalSpec::from_wire(&names, &numbers), Some(spec));
        assert_eq!(IncrementalSpec::from_wire(&names, &numbers[1..]), None);
        assert_eq!(IncrementalSpec::from_wire(&names[1..], &numbers), None);
        assert_eq!(IncrementalSpec::from_wire(&[], &[]), None);
    }

    /// Joined branches reach as far as the farthest.
    #[test]
    fn joined_branches_reach_the_farthest() {
        let a = Reach::IDENTITY.window(3, 1, 1, 1);
        let b = Reach::IDENTITY.window(5, 1, 1, 2);
        assert_eq!(a.join(b), Some(b));
        assert_eq!(a.join(Reach::IDENTITY.window(3, 2, 1, 1)), None);
    }
}
