//! Writers of `rlrp eval` results: the Markdown summary, the perturbation-curve plot and the
//! heatmap grid (the CSV of every image × method: [`super::results_csv`]). Pure functions returning
//! Strings or PNG bytes.
//!
//! Aggregates are means over the values that are finite (a NaN or infinite metric of one image is
//! left out of the mean and counted in the NaN column of the summary through the conservation count).
use super::run::ImageMethodResult;
use super::stats::{self, Interval};
use crate::error::Result;
use crate::heatmap::{self, Colormap, ScaleMode};
use crate::relevance::Method;
use crate::sidecar::Layout;
use crate::tensor::Tensor;
use image::{Rgb, RgbImage};
use std::fmt::Write;

/// A mean over images with its 95 % bootstrap interval ([`stats::mean_ci`]); None without values.
pub type Stat = Option<Interval>;

/// Confidence level of every interval.
pub const LEVEL: f64 = 0.95;

/// Seed of the bootstrap resampling of the tables.
const SEED: u64 = 0x0B00_7577;

/// The mean metrics of one method over all images, with their intervals.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MethodSummary {
    pub method: Method,
    pub images: usize,
    /// Images with robustness or max-sensitivity results.
    pub robustness_images: usize,
    pub aopc_morf: Stat,
    pub aopc_lerf: Stat,
    pub aopc_random: Stat,
    pub abpc: Stat,
    /// (σ as a fraction of the input range, mean relative L2 change, mean of the per-image max).
    pub noise: Vec<(f32, Stat, f64)>,
    /// Mean max-sensitivity (Quantus' definition), if computed.
    pub max_sensitivity: Stat,
    pub kappa: f64,
    pub l1_over_logit: f64,
    /// Total NaN/±∞ values found in the explanations.
    pub non_finite: usize,
    pub ms_per_explanation: f64,
}

/// Mean of the finite values (NaN if there are none).
fn finite_mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for v in values {
        if v.is_finite() {
            s += v;
            n += 1;
        }
    }
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

fn stat(values: impl IntoIterator<Item = f64>) -> Stat {
    stats::mean_ci(&values.into_iter().collect::<Vec<_>>(), LEVEL, stats::RESAMPLES, SEED)
}

/// The methods in order of first appearance in `results`.
pub fn methods_of(results: &[ImageMethodResult]) -> Vec<Method> {
    let mut out: Vec<Method> = Vec::new();
    for r in results {
        if !out.contains(&r.method) {
            out.push(r.method);
        }
    }
    out
}

/// One summary per method (in order of first appearance).
pub fn summarise(results: &[ImageMethodResult]) -> Vec<MethodSummary> {
    methods_of(results)
        .into_iter()
        .map(|m| {
            let rs: Vec<&ImageMethodResult> = results.iter().filter(|r| r.method == m).collect();
            let sigmas: Vec<f32> = rs.first().map(|r| r.noise.iter().map(|n| n.sigma).collect()).unwrap_or_default();
            let noise = sigmas
                .iter()
                .enumerate()
                .map(|(i, &s)| {
                    (
                        s,
                        stat(rs.iter().filter_map(|r| r.noise.get(i)).map(|n| n.mean)),
                        finite_mean(rs.iter().filter_map(|r| r.noise.get(i)).map(|n| n.max)),
                    )
                })
                .collect();
            MethodSummary {
                method: m,
                images: rs.len(),
                robustness_images: rs.iter().filter(|r| !r.noise.is_empty() || r.sensitivity.is_some()).count(),
                aopc_morf: stat(rs.iter().map(|r| r.perturbation.aopc_morf)),
                aopc_lerf: stat(rs.iter().map(|r| r.perturbation.aopc_lerf)),
                aopc_random: stat(rs.iter().map(|r| r.perturbation.aopc_random)),
                abpc: stat(rs.iter().map(|r| r.perturbation.abpc)),
                noise,
                max_sensitivity: stat(rs.iter().filter_map(|r| r.sensitivity).map(|s| s.quantus)),
                kappa: finite_mean(rs.iter().filter_map(|r| r.conservation.kappa)),
                l1_over_logit: finite_mean(rs.iter().map(|r| r.conservation.l1_over_logit)),
                non_finite: rs.iter().map(|r| r.conservation.non_finite).sum(),
                ms_per_explanation: finite_mean(rs.iter().map(|r| r.explain_ms)),
            }
        })
        .collect()
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// A difference with its sign always written.
fn signed(v: f64) -> String {
    if v > 0.0 {
        format!("+{}", num(v))
    } else {
        num(v)
    }
}

/// `mean [low, high]`, or "–".
fn with_ci(s: &Stat) -> String {
    match s {
        Some(i) => format!("{} [{}, {}]", num(i.mean), num(i.low), num(i.high)),
        None => "–".into(),
    }
}

/// One column of the paired comparison: a per-image metric, and whether higher is better.
struct PairedColumn {
    title: &'static str,
    higher_is_better: bool,
    value: fn(&ImageMethodResult) -> Option<f64>,
}

fn noise_at(r: &ImageMethodResult, sigma: f32) -> Option<f64> {
    r.noise.iter().find(|n| n.sigma == sigma).map(|n| n.mean)
}

const PAIRED_COLUMNS: [PairedColumn; 3] = [
    PairedColumn { title: "ABPC ↑", higher_is_better: true, value: |r| Some(r.perturbation.abpc) },
    PairedColumn { title: "AOPC-MoRF ↑", higher_is_better: true, value: |r| Some(r.perturbation.aopc_morf) },
    PairedColumn { title: "rel. L2 σ=1e-2 ↓", higher_is_better: false, value: |r| noise_at(r, 1e-2) },
];

/// The values of `metric` for `method`, indexed by image (NaN where missing).
fn per_image(
    results: &[ImageMethodResult],
    method: Method,
    metric: impl Fn(&ImageMethodResult) -> Option<f64>,
) -> Vec<f64> {
    let n = results.iter().map(|r| r.image + 1).max().unwrap_or(0);
    let mut v = vec![f64::NAN; n];
    for r in results.iter().filter(|r| r.method == method) {
        v[r.image] = metric(r).unwrap_or(f64::NAN);
    }
    v
}

/// Paired comparisons of every method with `reference` on one metric, Holm-adjusted over the methods.
fn compare_all(
    results: &[ImageMethodResult],
    methods: &[Method],
    reference: Method,
    metric: impl Fn(&ImageMethodResult) -> Option<f64> + Copy,
    against: impl Fn(Method) -> Vec<f64>,
) -> Vec<Option<stats::Paired>> {
    let mut out: Vec<Option<stats::Paired>> = methods
        .iter()
        .map(|&m| {
            if m == reference {
                return None;
            }
            stats::paired(&per_image(results, m, metric), &against(m), LEVEL, stats::RESAMPLES, SEED)
                .filter(|p| p.difference.n >= 2)
        })
        .collect();
    holm_in_place(&mut out);
    out
}

/// Replaces the p-values of a family of comparisons by their Holm-adjusted values.
fn holm_in_place(family: &mut [Option<stats::Paired>]) {
    let adjusted = stats::holm(&family.iter().map(|p| p.map_or(f64::NAN, |p| p.p_value)).collect::<Vec<_>>());
    for (p, a) in family.iter_mut().zip(adjusted) {
        if let Some(p) = p {
            p.p_value = a;
        }
    }
}

fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

fn paired_cell(p: &Option<stats::Paired>) -> String {
    match p {
        Some(p) => {
            let d = p.difference;
            format!("{} [{}, {}], {}", signed(d.mean), signed(d.low), signed(d.high), p_text(p.p_value))
        }
        None => "–".into(),
    }
}

/// Whether a Holm-adjusted comparison is real at the 5 % level (its interval then excludes 0 too,
/// up to the Monte Carlo error of both).
fn is_real(p: &stats::Paired) -> bool {
    p.p_value < 0.05 && p.difference.excludes(0.0)
}

/// "a (+1.2), b (+0.3)", or "none".
fn listing(items: &[(Method, f64)]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items.iter().map(|(m, d)| format!("{} ({})", m.label(), signed(*d))).collect::<Vec<_>>().join("; ")
}

/// The section of `summary.md` that says which differences are real: every method against the
/// reference (R-LRP when evaluated) per image, and every method's MoRF order against the random order.
pub fn paired_markdown(results: &[ImageMethodResult]) -> String {
    let methods = methods_of(results);
    let images = results.iter().map(|r| r.image + 1).max().unwrap_or(0);
    let mut out = String::new();
    if images < 2 || methods.is_empty() {
        return out;
    }
    let reference = if methods.contains(&Method::Rlrp) { Method::Rlrp } else { methods[0] };
    let columns: Vec<&PairedColumn> =
        PAIRED_COLUMNS.iter().filter(|c| results.iter().any(|r| (c.value)(r).is_some_and(f64::is_finite))).collect();
    writeln!(out, "\n## Which differences are real\n").ok();
    writeln!(
        out,
        "Per-image differences (method − {r}) on the same images: mean [{l} % bootstrap interval], and the \
         two-sided sign-flip test's p-value, Holm-adjusted over the methods of a column. A difference is \
         called real when p < 0.05 (its interval then also excludes 0). Last column: the method's \
         most-relevant-first order against the random order (AOPC-MoRF − AOPC-random, also Holm-adjusted).\n",
        r = reference.label(),
        l = (LEVEL * 100.0).round()
    )
    .ok();
    let mut head = String::from("| method |");
    for c in &columns {
        write!(head, " {} − {} |", c.title, reference.label()).ok();
    }
    head.push_str(" AOPC-MoRF − random |");
    writeln!(out, "{head}\n|{}", "---|".repeat(columns.len() + 2)).ok();
    let by_column: Vec<Vec<Option<stats::Paired>>> = columns
        .iter()
        .map(|c| compare_all(results, &methods, reference, c.value, |_| per_image(results, reference, c.value)))
        .collect();
    // Every method (the reference included) against the random order on the same image.
    let mut vs_random: Vec<Option<stats::Paired>> = methods
        .iter()
        .map(|&m| {
            let morf = per_image(results, m, |r| Some(r.perturbation.aopc_morf));
            let random = per_image(results, m, |r| Some(r.perturbation.aopc_random));
            stats::paired(&morf, &random, LEVEL, stats::RESAMPLES, SEED).filter(|p| p.difference.n >= 2)
        })
        .collect();
    holm_in_place(&mut vs_random);
    for (k, m) in methods.iter().enumerate() {
        let mut row = format!("| {} |", m.label());
        for col in &by_column {
            write!(row, " {} |", if *m == reference { "(reference)".to_string() } else { paired_cell(&col[k]) }).ok();
        }
        write!(row, " {} |", paired_cell(&vs_random[k])).ok();
        writeln!(out, "{row}").ok();
    }
    writeln!(out).ok();
    for (c, col) in columns.iter().zip(&by_column) {
        let (mut better, mut worse, mut same) = (Vec::new(), Vec::new(), Vec::new());
        for (m, p) in methods.iter().zip(col) {
            let Some(p) = p else { continue };
            let d = p.difference.mean;
            if !is_real(p) {
                same.push(m.label());
            } else if (d > 0.0) == c.higher_is_better {
                better.push((*m, d));
            } else {
                worse.push((*m, d));
            }
        }
        writeln!(
            out,
            "- **{}**: better than {r}: {}; worse than {r}: {}; no real difference: {}.",
            c.title,
            listing(&better),
            listing(&worse),
            if same.is_empty() { "none".to_string() } else { same.join("; ") },
            r = reference.label()
        )
        .ok();
    }
    let (mut above, mut below, mut same) = (Vec::new(), Vec::new(), Vec::new());
    for (m, p) in methods.iter().zip(&vs_random) {
        let Some(p) = p else { continue };
        if !is_real(p) {
            same.push(m.label());
        } else if p.difference.mean > 0.0 {
            above.push((*m, p.difference.mean));
        } else {
            below.push((*m, p.difference.mean));
        }
    }
    writeln!(
        out,
        "- **Most-relevant-first against the random order** (AOPC-MoRF − AOPC-random): better than random: {}; \
         worse than random: {}; not distinguishable: {}.",
        listing(&above),
        listing(&below),
        if same.is_empty() { "none".to_string() } else { same.join("; ") }
    )
    .ok();
    writeln!(out, "\n{images} images; with few images only large differences can be told from chance.").ok();
    out
}

/// `summary.md`: a header (model, image count, command line), one table row per method (means with
/// their 95 % bootstrap intervals over images) and the paired comparisons ([`paired_markdown`]).
pub fn summary_markdown(model: &str, images: usize, command: &str, results: &[ImageMethodResult]) -> String {
    let sums = summarise(results);
    let mut out = String::new();
    writeln!(out, "# rlrp eval\n").ok();
    writeln!(out, "Model `{model}`, {images} images. Command: `{command}`\n").ok();
    let sigmas: Vec<f32> = sums.first().map(|s| s.noise.iter().map(|n| n.0).collect()).unwrap_or_default();
    let mut head = String::from("| # | method | AOPC-MoRF ↑ | AOPC-LeRF ↓ | AOPC-random | ABPC ↑ |");
    for s in &sigmas {
        write!(head, " rel. L2 σ={s:e} (mean / max) ↓ |").ok();
    }
    head.push_str(" max-sens. ↓ | mean κ | mean ‖R‖₁ / abs(logit) | NaN | ms / expl. |");
    writeln!(out, "{head}").ok();
    let cols = head.matches('|').count() - 1;
    writeln!(out, "|{}", "---|".repeat(cols)).ok();
    for (i, s) in sums.iter().enumerate() {
        let mut row = format!(
            "| {i} | {} | {} | {} | {} | {} |",
            s.method.name(),
            with_ci(&s.aopc_morf),
            with_ci(&s.aopc_lerf),
            with_ci(&s.aopc_random),
            with_ci(&s.abpc)
        );
        for n in &s.noise {
            write!(row, " {} / {} |", with_ci(&n.1), num(n.2)).ok();
        }
        write!(
            row,
            " {} | {} | {} | {} | {:.2} |",
            with_ci(&s.max_sensitivity),
            num(s.kappa),
            num(s.l1_over_logit),
            s.non_finite,
            s.ms_per_explanation
        )
        .ok();
        writeln!(out, "{row}").ok();
    }
    writeln!(
        out,
        "\nAOPC: mean logit drop over the perturbation curve (Samek et al. 2017); ABPC = AOPC-MoRF − AOPC-LeRF. \
         Robustness: relative L2 change of the heatmap under Gaussian noise (σ relative to the input range). \
         Max-sensitivity as Quantus defines it (divided by ‖x‖). Means over finite values, with their \
         {}% percentile bootstrap intervals over images in brackets ({} resamples).",
        (LEVEL * 100.0).round(),
        stats::RESAMPLES
    )
    .ok();
    if let Some(k) = sums.first().map(|s| s.robustness_images).filter(|&k| k > 0 && k < images) {
        writeln!(out, "\nRobustness and max-sensitivity: over the first {k} of the {images} images.").ok();
    }
    out.push_str(&paired_markdown(results));
    out
}

/// Distinct colours for up to 14 methods (then repeated): tab10 followed by four darker tones.
pub const PALETTE: [[u8; 3]; 14] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
    [0, 0, 0],
    [0, 0, 128],
    [128, 0, 0],
    [0, 100, 0],
];

fn colour(i: usize) -> Rgb<u8> {
    Rgb(PALETTE[i % PALETTE.len()])
}

/// Element-wise mean of the curves of `method`, each divided by its initial logit (curves whose
/// initial logit is 0 or non-finite, or of a different length, are skipped).
pub fn mean_curve(results: &[ImageMethodResult], method: Method, lerf: bool) -> Vec<f64> {
    let mut sum: Vec<f64> = Vec::new();
    let mut n = 0usize;
    for r in results.iter().filter(|r| r.method == method) {
        let c = if lerf { &r.perturbation.lerf } else { &r.perturbation.morf };
        let Some(&c0) = c.first() else { continue };
        if c0 == 0.0 || !c0.is_finite() {
            continue;
        }
        if sum.is_empty() {
            sum = vec![0.0; c.len()];
        }
        if c.len() != sum.len() {
            continue;
        }
        for (s, &v) in sum.iter_mut().zip(c) {
            *s += v as f64 / c0 as f64;
        }
        n += 1;
    }
    sum.iter().map(|s| s / n.max(1) as f64).collect()
}

/// 3×5 pixel digits 0–9 (rows top to bottom, 3 bits each, most significant = left).
const DIGITS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, c: Rgb<u8>) {
    for yy in y..y + h {
        for xx in x..x + w {
            put(img, xx, yy, c);
        }
    }
}

/// Draws the decimal number `n` with the 3×5 font scaled by `s`, top-left at (x, y).
fn draw_number(img: &mut RgbImage, n: usize, x: i64, y: i64, s: i64, c: Rgb<u8>) {
    for (k, ch) in n.to_string().bytes().enumerate() {
        let glyph = DIGITS[(ch - b'0') as usize];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    fill_rect(img, x + k as i64 * 4 * s + col * s, y + row as i64 * s, s, s, c);
                }
            }
        }
    }
}

/// A line of width 2 from (x0, y0) to (x1, y1) (Bresenham); `dash` > 0 leaves gaps every `dash` px.
fn line(img: &mut RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: Rgb<u8>, dash: i64) {
    let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
    let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
    let (mut x, mut y, mut err) = (x0, y0, dx + dy);
    let mut k = 0i64;
    loop {
        if dash == 0 || (k / dash) % 2 == 0 {
            put(img, x, y, c);
            put(img, x + 1, y, c);
            put(img, x, y + 1, c);
        }
        k += 1;
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

/// `curves_<model>.png`: mean MoRF (solid) and LeRF (dashed) curves per method, normalised by the
/// initial logit, x = perturbation step, y from min(0, data) to max(1, data); dotted grey lines at
/// y = 0 and y = 1. The legend at the right shows each method's colour and index (see
/// [`curves_legend`]).
pub fn curves_png(results: &[ImageMethodResult]) -> Result<Vec<u8>> {
    let methods = methods_of(results);
    let (w, h) = (720i64, 420i64);
    let (left, right, top, bottom) = (40i64, 560i64, 20i64, 380i64);
    let white = Rgb([255, 255, 255]);
    let black = Rgb([0, 0, 0]);
    let grey = Rgb([200, 200, 200]);
    let mut img = RgbImage::from_pixel(w as u32, h as u32, white);
    let curves: Vec<(usize, Vec<f64>, Vec<f64>)> = methods
        .iter()
        .enumerate()
        .map(|(i, &m)| (i, mean_curve(results, m, false), mean_curve(results, m, true)))
        .collect();
    let all = curves.iter().flat_map(|(_, a, b)| a.iter().chain(b)).copied().filter(|v| v.is_finite());
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for v in all {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let steps = curves.iter().map(|(_, a, b)| a.len().max(b.len())).max().unwrap_or(1).max(2) - 1;
    let px = |k: usize| left + (k as i64 * (right - left)) / steps as i64;
    let py = |v: f64| bottom - (((v - lo) / (hi - lo)) * (bottom - top) as f64).round() as i64;
    for y in [py(0.0), py(1.0)] {
        for x in (left..right).step_by(4) {
            put(&mut img, x, y, grey);
        }
    }
    // Axes with ticks every 10 % of the steps.
    line(&mut img, (left, top), (left, bottom), black, 0);
    line(&mut img, (left, bottom), (right, bottom), black, 0);
    for t in 0..=10 {
        let x = left + t * (right - left) / 10;
        fill_rect(&mut img, x, bottom, 1, 6, black);
    }
    fill_rect(&mut img, left - 6, py(0.0), 6, 1, black);
    fill_rect(&mut img, left - 6, py(1.0), 6, 1, black);
    draw_number(&mut img, 0, left - 14, py(0.0) - 2, 1, black);
    draw_number(&mut img, 1, left - 14, py(1.0) - 2, 1, black);
    draw_number(&mut img, 0, left - 1, bottom + 9, 2, black);
    draw_number(&mut img, steps, right - 8 * steps.to_string().len() as i64, bottom + 9, 2, black);
    for (i, morf, lerf) in &curves {
        for (c, dash) in [(morf, 0), (lerf, 6)] {
            for k in 1..c.len() {
                if c[k - 1].is_finite() && c[k].is_finite() {
                    line(&mut img, (px(k - 1), py(c[k - 1])), (px(k), py(c[k])), colour(*i), dash);
                }
            }
        }
    }
    // Legend: coloured square + method index.
    for (i, _) in methods.iter().enumerate() {
        let y = top + i as i64 * 24;
        fill_rect(&mut img, right + 30, y, 16, 16, colour(i));
        draw_number(&mut img, i, right + 54, y + 1, 3, black);
    }
    heatmap::encode_png(&img)
}

/// `curves_legend.txt`: method index, colour and name of each line of [`curves_png`].
pub fn curves_legend(results: &[ImageMethodResult]) -> String {
    let mut out = String::from(
        "# curves_<model>.png: mean target logit / initial logit vs. perturbation step\n\
         # solid = MoRF (most relevant first), dashed = LeRF (least relevant first)\n\
         # index  colour   method\n",
    );
    for (i, m) in methods_of(results).iter().enumerate() {
        let [r, g, b] = PALETTE[i % PALETTE.len()];
        writeln!(out, "{i:>7}  #{r:02x}{g:02x}{b:02x}  {}", m.name()).ok();
    }
    out
}

/// `grid.png`: one row per input (at most `max_rows`, those whose relevance was kept), the input
/// (grey, min–max scaled channel mean) in column 0 and then the bwr heatmap (clip at the 99.5th
/// percentile of |R|) of each method in the order of [`methods_of`]. Cells are upscaled to at
/// least 64 px; 2 px white gaps.
pub fn grid_png(results: &[ImageMethodResult], inputs: &[Tensor], layout: Layout, max_rows: usize) -> Result<Vec<u8>> {
    let methods = methods_of(results);
    let mut rows: Vec<usize> = Vec::new();
    for r in results.iter().filter(|r| r.relevance.is_some()) {
        if !rows.contains(&r.image) && rows.len() < max_rows {
            rows.push(r.image);
        }
    }
    let (h, w) = inputs
        .first()
        .map(|x| {
            let (h, w, _) = heatmap::channel_sum(x, layout);
            (h, w)
        })
        .unwrap_or((1, 1));
    let f = (64usize.div_ceil(h.max(w).max(1))).max(1);
    let (cw, ch, gap) = (w * f, h * f, 2usize);
    let cols = methods.len() + 1;
    let mut img = RgbImage::from_pixel(
        (cols * (cw + gap) + gap) as u32,
        (rows.len().max(1) * (ch + gap) + gap) as u32,
        Rgb([255, 255, 255]),
    );
    let blit = |img: &mut RgbImage, row: usize, col: usize, cell: &RgbImage| {
        let (x0, y0) = (gap + col * (cw + gap), gap + row * (ch + gap));
        for y in 0..ch.min(cell.height() as usize * f) {
            for x in 0..cw.min(cell.width() as usize * f) {
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, *cell.get_pixel((x / f) as u32, (y / f) as u32));
            }
        }
    };
    for (row, &i) in rows.iter().enumerate() {
        if let Some(x) = inputs.get(i) {
            let (hh, ww, v) = heatmap::channel_sum(x, layout);
            let (mn, mx) = v
                .iter()
                .filter(|v| v.is_finite())
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            let span = if mx > mn { mx - mn } else { 1.0 };
            let grey = RgbImage::from_fn(ww as u32, hh as u32, |xx, yy| {
                let t = v[yy as usize * ww + xx as usize];
                let g = if t.is_finite() { (((t - mn) / span) * 255.0).round() as u8 } else { 0 };
                Rgb([g, g, g])
            });
            blit(&mut img, row, 0, &grey);
        }
        for (col, &m) in methods.iter().enumerate() {
            let Some(rel) = results.iter().find(|r| r.image == i && r.method == m).and_then(|r| r.relevance.as_ref())
            else {
                continue;
            };
            let (hh, ww, v) = heatmap::channel_sum(rel, layout);
            let clip = heatmap::percentile_abs(&v, 99.5);
            let heat = heatmap::render(hh, ww, &v, Colormap::Bwr, ScaleMode::Signed, clip);
            let rgb = RgbImage::from_fn(ww as u32, hh as u32, |x, y| {
                let p = heat.get_pixel(x, y);
                Rgb([p[0], p[1], p[2]])
            });
            blit(&mut img, row, col + 1, &rgb);
        }
    }
    heatmap::encode_png(&img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::run::NoiseResult;
    use crate::eval::{Conservation, PerturbationResult};
    use crate::tensor::ndarray::IxDyn;

    fn fake(image: usize, method: Method, morf: Vec<f32>) -> ImageMethodResult {
        ImageMethodResult {
            image,
            name: format!("img,{image}"),
            method,
            target: 1,
            logit: morf[0],
            perturbation: PerturbationResult {
                patches: 4,
                lerf: morf.iter().map(|v| v + 1.0).collect(),
                random: morf.clone(),
                aopc_morf: 1.0,
                aopc_lerf: 0.5,
                aopc_random: f64::NAN,
                abpc: 0.5,
                morf,
            },
            noise: vec![NoiseResult { sigma: 1e-3, mean: 0.1, max: 0.2 }],
            sensitivity: None,
            conservation: Conservation { kappa: Some(1.0), l1_over_logit: 1.0, non_finite: 1 },
            explain_ms: 2.0,
            relevance: Some(Tensor::from_elem(IxDyn(&[1, 1, 4, 4]), image as f32 - 0.5)),
        }
    }

    #[test]
    fn writers() {
        let rs = vec![
            fake(0, Method::Rlrp, vec![2.0, 1.0, 0.0]),
            fake(0, Method::Epsilon, vec![4.0, 2.0, 0.0]),
            fake(1, Method::Rlrp, vec![4.0, 4.0, 0.0]),
            fake(1, Method::Epsilon, vec![1.0, 1.0, 1.0]),
        ];
        let s = summarise(&rs);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].non_finite, 2);
        assert!(s[0].aopc_random.is_none());
        assert_eq!(mean_curve(&rs, Method::Rlrp, false), vec![1.0, 0.75, 0.0]);
        let md = summary_markdown("m.onnx", 2, "rlrp eval", &rs);
        let (table, paired) = md.split_once("## Which differences are real").unwrap();
        assert_eq!(table.lines().filter(|l| l.starts_with("| ")).count(), 3);
        // The reference row and epsilon's row; 2 images give intervals but nothing "real".
        assert_eq!(paired.lines().filter(|l| l.starts_with("| ")).count(), 3, "{paired}");
        assert!(paired.contains("(reference)"), "{paired}");
        assert!(table.contains(" [") && table.contains("bootstrap"), "{table}");
        let csv = super::super::results_csv::write(&rs);
        assert_eq!(csv.lines().count(), 5);
        assert!(csv.contains("\"img,0\""));
        let inputs = vec![Tensor::zeros(IxDyn(&[1, 1, 4, 4])); 2];
        for png in [curves_png(&rs).unwrap(), grid_png(&rs, &inputs, Layout::Nchw, 6).unwrap()] {
            image::load_from_memory(&png).unwrap();
        }
        assert!(curves_legend(&rs).contains("epsilon"));
    }
}
