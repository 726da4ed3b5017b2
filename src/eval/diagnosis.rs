//! `rlrp diagnose`: the concentration profiles ([`super::concentration`]) of several methods over
//! several inputs, summarised as markdown: how concentrated each heatmap is (with 95 % bootstrap
//! intervals over the inputs), which kinds of layer concentrate the relevance, and the profile
//! layer by layer. Issue 12's diagnosis of R-LRP's sparse EfficientNet maps; RLRP.md, "The R-LRP
//! linear rule".
use super::concentration::{profile, Concentration, Profile};
use super::stats::{mean_ci, Interval};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::relevance::{argmax, ExplainOptions, Method, MethodParams};
use crate::sidecar::Layout;
use crate::tensor::Tensor;
use std::fmt::Write;

/// Profiles of every method (outer) on every input (inner), all for the predicted class.
pub struct Diagnosis {
    pub methods: Vec<Method>,
    pub names: Vec<String>,
    pub profiles: Vec<Vec<Profile>>,
}

/// Explains every input with every method and measures where the relevance concentrates.
/// `progress(done, total)` follows each explanation.
pub fn diagnose(
    model: &Model,
    inputs: &[Tensor],
    names: &[String],
    methods: &[Method],
    params: &MethodParams,
    layout: Layout,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Diagnosis> {
    if inputs.is_empty() || methods.is_empty() || names.len() != inputs.len() {
        return Err(Error::Request("diagnose needs inputs (with one name each) and methods".into()));
    }
    let mut profiles = vec![Vec::with_capacity(inputs.len()); methods.len()];
    let total = inputs.len() * methods.len();
    for (i, input) in inputs.iter().enumerate() {
        let acts = model.forward(input)?;
        let target = argmax(model.logits(&acts)?);
        let options = ExplainOptions { target: Some(target), params: params.clone(), keep_layer_maps: false };
        for (m, &method) in methods.iter().enumerate() {
            let (_, p) = profile(model, &acts, method, &options, layout)?;
            profiles[m].push(p);
            progress(i * methods.len() + m + 1, total);
        }
    }
    Ok(Diagnosis { methods: methods.to_vec(), names: names.to_vec(), profiles })
}

fn ci(values: &[f64]) -> Option<Interval> {
    mean_ci(values, 0.95, 2000, 0)
}

/// `mean [low, high]` in percent (one decimal), or "–".
fn percent(i: Option<Interval>) -> String {
    match i {
        Some(i) => format!("{:.1} [{:.1}, {:.1}]", 100.0 * i.mean, 100.0 * i.low, 100.0 * i.high),
        None => "–".into(),
    }
}

fn two_decimals(i: Option<Interval>) -> String {
    match i {
        Some(i) => format!("{:.2} [{:.2}, {:.2}]", i.mean, i.low, i.high),
        None => "–".into(),
    }
}

fn values(ps: &[Profile], f: impl Fn(&Profile) -> Option<f64>) -> Vec<f64> {
    ps.iter().filter_map(f).collect()
}

/// Role → (steps per input, mean summed change of the top-1 % share per input) over `ps`.
fn by_role(ps: &[Profile]) -> Vec<(String, f64, f64)> {
    let mut roles: Vec<(String, f64, f64)> = Vec::new();
    for p in ps {
        for s in &p.steps {
            let i = match roles.iter().position(|r| r.0 == s.role) {
                Some(i) => i,
                None => {
                    roles.push((s.role.clone(), 0.0, 0.0));
                    roles.len() - 1
                }
            };
            roles[i].1 += 1.0;
            roles[i].2 += s.after.top1 - s.before.top1;
        }
    }
    let n = ps.len().max(1) as f64;
    roles.into_iter().map(|(r, c, d)| (r, c / n, d / n)).collect()
}

impl Diagnosis {
    /// The three tables, for `model_name`, as markdown.
    pub fn markdown(&self, model_name: &str) -> String {
        let mut s = String::new();
        let heads: Vec<String> = self.methods.iter().map(|m| m.label().to_string()).collect();
        let _ = writeln!(
            s,
            "# Where the relevance concentrates: {model_name}\n\n{} inputs ({}); the predicted class; \
             means with 95 % bootstrap intervals over the inputs.\n",
            self.names.len(),
            if self.names.len() <= 12 {
                self.names.join(", ")
            } else {
                format!("{}, … {}", self.names[..6].join(", "), self.names[self.names.len() - 1])
            }
        );
        let _ = writeln!(s, "## The heatmap (|Σ_c R| per pixel)\n");
        let _ = writeln!(
            s,
            "| method | top 1 % of pixels hold (% of Σ\\|R\\|) | Gini of pixels | top 1 % of input elements hold (%) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|");
        for (m, ps) in self.profiles.iter().enumerate() {
            let top = ci(&values(ps, |p| p.pixels.map(|c| c.top1)));
            let gini = ci(&values(ps, |p| p.pixels.map(|c| c.gini)));
            let el = ci(&values(ps, |p| p.input_elements.map(|c| c.top1)));
            let _ = writeln!(s, "| {} | {} | {} | {} |", heads[m], percent(top), two_decimals(gini), percent(el));
        }
        let _ = writeln!(
            s,
            "\n## What each kind of layer does to the concentration\n\nThe change of the top-1 % share of \
             |R| (over all elements, percentage points) from a node's output to its input, summed over the \
             nodes of each kind and averaged over the inputs. Only nodes whose input no other node reads \
             count (there the relevance is the rule's output alone); a skip Add counts for its branch.\n"
        );
        let mut roles: Vec<String> = Vec::new();
        let tables: Vec<Vec<(String, f64, f64)>> = self.profiles.iter().map(|ps| by_role(ps)).collect();
        for t in &tables {
            for (r, _, _) in t {
                if !roles.contains(r) {
                    roles.push(r.clone());
                }
            }
        }
        let _ = writeln!(s, "| kind of node | nodes | {} |", heads.join(" | "));
        let _ = writeln!(s, "|---|---:|{}", "---:|".repeat(heads.len()));
        for r in &roles {
            let count = tables.iter().find_map(|t| t.iter().find(|x| &x.0 == r).map(|x| x.1)).unwrap_or(0.0);
            let cells: Vec<String> = tables
                .iter()
                .map(|t| match t.iter().find(|x| &x.0 == r) {
                    Some(x) => format!("{:+.1}", 100.0 * x.2),
                    None => "–".into(),
                })
                .collect();
            let _ = writeln!(s, "| {r} | {count:.0} | {} |", cells.join(" | "));
        }
        let _ = writeln!(
            s,
            "\n## Layer by layer\n\nThe top-1 % share of |R| at each node's output (all elements / spatial \
             positions of |Σ_c R|), from the logits down; mean over the inputs.\n"
        );
        let _ = writeln!(s, "| node | kind | shape | {} |", heads.join(" | "));
        let _ = writeln!(s, "|---|---|---|{}", "---:|".repeat(heads.len()));
        let first = &self.profiles[0];
        for (k, l) in first[0].layers.iter().enumerate() {
            let cells: Vec<String> = self
                .profiles
                .iter()
                .map(|ps| {
                    let at = |f: fn(&super::concentration::LayerConcentration) -> Option<Concentration>| {
                        let v =
                            values(ps, |p| p.layers.get(k).filter(|x| x.node == l.node).and_then(f).map(|c| c.top1));
                        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
                    };
                    match (at(|x| x.elements), at(|x| x.positions)) {
                        (Some(e), Some(p)) => format!("{:.1} / {:.1}", 100.0 * e, 100.0 * p),
                        (Some(e), None) => format!("{:.1}", 100.0 * e),
                        _ => "–".into(),
                    }
                })
                .collect();
            let _ = writeln!(s, "| {} | {} | {:?} | {} |", l.label, l.role, l.shape, cells.join(" | "));
        }
        let _ = writeln!(s, "| input | | | {} |", {
            let cells: Vec<String> = self
                .profiles
                .iter()
                .map(|ps| {
                    let e = values(ps, |p| p.input_elements.map(|c| c.top1));
                    let px = values(ps, |p| p.pixels.map(|c| c.top1));
                    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
                    format!("{:.1} / {:.1}", 100.0 * mean(&e), 100.0 * mean(&px))
                })
                .collect();
            cells.join(" | ")
        });
        s
    }
}
