//! SVG charts: the colour bar, ‖R‖₁ after every layer, and the pixel-flipping curves.
use super::state::fmt_num;
use crate::app::page::Faith;
use crate::heatmap::{color, Colormap, Scale, ScaleMode};
use crate::report::LayerMass;
use yew::prelude::*;

fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn f(v: f64) -> String {
    format!("{v:.1}")
}

/// The value scale of a heatmap: the colormap from −clip (or 0) to +clip, labelled in HTML (so that
/// the labels keep their size in a small tile); when the scale is bent (contrast γ < 1) a second line
/// gives the value drawn at half colour (clip / 2 on a linear scale).
pub fn colorbar(cmap: Colormap, mode: ScaleMode, scale: Option<Scale>) -> Html {
    const N: usize = 64;
    let signed = mode == ScaleMode::Signed;
    let rects = (0..N).map(|i| {
        let u = (i as f32 + 0.5) / N as f32;
        let t = if signed { 2.0 * u - 1.0 } else { u };
        html! { <rect x={i.to_string()} y="0" width="1.05" height="1" fill={hex(color(cmap, t))} /> }
    });
    let num = |v: f32| fmt_num(v as f64, 2);
    let pm = if signed { "±" } else { "" };
    let (lo, hi) = match scale {
        Some(s) if signed => (format!("−{}", num(s.clip)), num(s.clip)),
        Some(s) => ("0".to_string(), num(s.clip)),
        None => (String::new(), String::new()),
    };
    let what = match mode {
        ScaleMode::Signed => "relevance",
        ScaleMode::Absolute => "|relevance|",
        ScaleMode::Positive => "positive relevance",
    };
    let bent = scale.filter(|s| s.gamma < 1.0);
    let label = match scale {
        Some(s) => format!(
            "Colour scale of the {what}: full colour at {pm}{}, half colour at {pm}{}; values beyond are saturated",
            num(s.clip),
            num(s.value_at(0.5)),
        ),
        None => "Colour scale (no heatmap yet)".to_string(),
    };
    html! {
        <div data-testid="colorbar" class="colorbar" role="img" aria-label={label.clone()} title={label}
             data-clip={scale.map(|s| s.clip.to_string()).unwrap_or_default()}
             data-gamma={scale.map(|s| s.gamma.to_string()).unwrap_or_default()}>
            <svg class="bar" viewBox={format!("0 0 {N} 1")} preserveAspectRatio="none" aria-hidden="true">
                { for rects }
            </svg>
            <div class="ticks" aria-hidden="true">
                <span>{ lo }</span>
                if signed && scale.is_some() {
                    <span>{ "0" }</span>
                }
                <span>{ hi }</span>
            </div>
            if let Some(s) = bent {
                <div class="bent" aria-hidden="true">
                    { format!("half colour at {pm}{} (contrast γ {:.2})", num(s.value_at(0.5)), s.gamma) }
                </div>
            }
        </div>
    }
}

/// Chart geometry: a plot area inside a view box.
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn x(&self, u: f64) -> f64 {
        self.left + u * (self.w - self.left - self.right)
    }
    fn y(&self, v: f64) -> f64 {
        self.h - self.bottom - v * (self.h - self.top - self.bottom)
    }
    fn axes(&self, x_label: &str, y_label: &str) -> Html {
        let (x0, x1, y0, y1) = (self.x(0.0), self.x(1.0), self.y(0.0), self.y(1.0));
        let ymid = (y0 + y1) / 2.0;
        html! {
            <g class="axes">
                <line x1={f(x0)} y1={f(y0)} x2={f(x1)} y2={f(y0)} />
                <line x1={f(x0)} y1={f(y0)} x2={f(x0)} y2={f(y1)} />
                <text class="axis-label" x={f((x0 + x1) / 2.0)} y={f(self.h - 4.0)} text-anchor="middle">{ x_label.to_string() }</text>
                <text class="axis-label" x="12" y={f(ymid)} text-anchor="middle"
                      transform={format!("rotate(-90 12 {})", f(ymid))}>{ y_label.to_string() }</text>
            </g>
        }
    }
}

/// ‖R‖₁ after every node, from the output (left) to the input (right), on a log scale. The points
/// of the nodes in `pickable` (those with a layer map) select that layer on a click or tap.
pub fn layer_chart(
    layers: &[LayerMass],
    highlight: Option<&str>,
    pickable: &[String],
    on_pick: &Callback<String>,
) -> Html {
    let fr = Frame { w: 640.0, h: 250.0, left: 64.0, right: 14.0, top: 12.0, bottom: 42.0 };
    let label = "‖R‖₁ after every layer, from the output to the input (log scale)";
    if layers.is_empty() {
        return html! {
            <svg data-testid="layer-chart" class="chart" viewBox="0 0 640 250" role="img" aria-label={label} data-state="empty">
                { fr.axes("layer (output → input)", "‖R‖₁") }
                <text x="320" y="120" text-anchor="middle" class="placeholder">{ "no explanation yet" }</text>
            </svg>
        };
    }
    let logs: Vec<Option<f64>> =
        layers.iter().map(|l| (l.l1.is_finite() && l.l1 > 0.0).then(|| l.l1.log10())).collect();
    let finite: Vec<f64> = logs.iter().flatten().copied().collect();
    let (mut lo, mut hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 0.2 {
        let mid = (hi + lo) / 2.0;
        (lo, hi) = (mid - 0.5, mid + 0.5);
    } else {
        let pad = (hi - lo) * 0.06;
        (lo, hi) = (lo - pad, hi + pad);
    }
    let n = layers.len();
    let ux = |i: usize| if n > 1 { i as f64 / (n - 1) as f64 } else { 0.5 };
    let uy = |v: f64| (v - lo) / (hi - lo);
    let points: Vec<String> = logs
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{},{}", f(fr.x(ux(i))), f(fr.y(uy(v))))))
        .collect();
    // y ticks: powers of ten inside the range (at most 6), else the two ends
    let mut ticks: Vec<f64> = ((lo.ceil() as i64)..=(hi.floor() as i64)).map(|e| e as f64).collect();
    if ticks.len() > 6 {
        let step = ticks.len().div_ceil(6);
        ticks = ticks.into_iter().step_by(step).collect();
    }
    if ticks.len() < 2 {
        let span = hi - lo;
        ticks = vec![lo + span * 0.15, lo + span * 0.5, hi - span * 0.15];
    }
    let tick_html = ticks.iter().map(|&t| {
        let y = fr.y(uy(t));
        html! {
            <g class="tick">
                <line class="grid" x1={f(fr.x(0.0))} y1={f(y)} x2={f(fr.x(1.0))} y2={f(y)} />
                <text x={f(fr.left - 6.0)} y={f(y + 4.0)} text-anchor="end">{ fmt_num(10f64.powf(t), 2) }</text>
            </g>
        }
    });
    let dots = layers.iter().zip(&logs).enumerate().map(|(i, (l, v))| {
        let y = v.map(|v| fr.y(uy(v))).unwrap_or(fr.y(0.0));
        let selected = highlight == Some(l.node.as_str());
        let pick = pickable.contains(&l.node);
        let class = classes!("dot", selected.then_some("selected"), v.is_none().then_some("zero"), pick.then_some("pick"));
        let (cx, cy) = (f(fr.x(ux(i))), f(y));
        let title = format!("{}: {} ({})\n‖R‖₁ = {}\nΣR = {}", l.label, l.op, l.node, fmt_num(l.l1, 5), fmt_num(l.sum, 5));
        if pick {
            let node = l.node.clone();
            let onclick = on_pick.reform(move |_: MouseEvent| node.clone());
            // a larger transparent target for fingers; the keyboard uses the layer picker
            html! {
                <g class="pick-target" onclick={onclick}>
                    <circle class="hit" cx={cx.clone()} cy={cy.clone()} r="9" />
                    <circle class={class} cx={cx} cy={cy} r={if selected { "4.5" } else { "3" }}><title>{ title }</title></circle>
                </g>
            }
        } else {
            html! {
                <circle class={class} cx={cx} cy={cy} r={if selected { "4.5" } else { "2.5" }}><title>{ title }</title></circle>
            }
        }
    });
    // keyboard: ← / → move the selection along the layers that have a map (Home / End: the ends)
    let keys = {
        let (pickable, on_pick) = (pickable.to_vec(), on_pick.clone());
        let at = highlight.and_then(|h| pickable.iter().position(|p| p == h));
        Callback::from(move |e: KeyboardEvent| {
            let last = pickable.len().saturating_sub(1);
            let next = match (e.key().as_str(), at) {
                ("ArrowRight" | "ArrowDown", Some(i)) => Some((i + 1).min(last)),
                ("ArrowLeft" | "ArrowUp", Some(i)) => Some(i.saturating_sub(1)),
                ("ArrowRight" | "ArrowDown" | "ArrowLeft" | "ArrowUp", None) | ("Home", _) => Some(0),
                ("End", _) => Some(last),
                _ => None,
            };
            if let Some(node) = next.and_then(|i| pickable.get(i)) {
                e.prevent_default();
                on_pick.emit(node.clone());
            }
        })
    };
    html! {
        <svg data-testid="layer-chart" class="chart" viewBox="0 0 640 250" role="group" data-state="ready"
             aria-label={format!("{label}; with the chart focused, ← and → pick the previous or next layer with a map")}
             tabindex={(!pickable.is_empty()).then_some("0")} onkeydown={keys}
             data-layers={n.to_string()}>
            { for tick_html }
            { fr.axes("layer (output → input)", "‖R‖₁ (log)") }
            <text x={f(fr.x(0.0))} y={f(fr.h - fr.bottom + 16.0)} text-anchor="start">{ "output" }</text>
            <text x={f(fr.x(1.0))} y={f(fr.h - fr.bottom + 16.0)} text-anchor="end">{ "input" }</text>
            <polyline class="line" points={points.join(" ")} />
            { for dots }
        </svg>
    }
}

/// Pixel flipping: the target logit as the most relevant patches are removed first, one curve per
/// method (the maps on show), and in random order (the first run's, the same for every method).
pub fn faithfulness_chart(runs: &[Faith]) -> Html {
    let fr = Frame { w: 640.0, h: 250.0, left: 64.0, right: 14.0, top: 12.0, bottom: 42.0 };
    let label = "Pixel flipping: target logit as patches are removed, most relevant first (one line per method) and in random order";
    let Some(first) = runs.first() else {
        return html! {
            <svg data-testid="faithfulness-chart" class="chart" viewBox="0 0 640 250" role="img" aria-label={label} data-state="empty">
                { fr.axes("patches removed", "target logit") }
                <text x="320" y="120" text-anchor="middle" class="placeholder">{ "not run yet" }</text>
            </svg>
        };
    };
    let all = runs.iter().flat_map(|r| r.morf.iter().chain(&r.random)).copied().filter(|v| v.is_finite());
    let (mut lo, mut hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v as f64), b.max(v as f64)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.06;
    let (lo, hi) = (lo - pad, hi + pad);
    let steps = first.steps.max(1) as f64;
    // (x, y) of a run's values at its points (a coarse run has every few steps only)
    let xy = |points: &[usize], vals: &[f32]| -> Vec<(f64, f64)> {
        points
            .iter()
            .zip(vals)
            .filter(|(_, v)| v.is_finite())
            .map(|(&k, &v)| (fr.x(k as f64 / steps), fr.y((v as f64 - lo) / (hi - lo))))
            .collect()
    };
    let line = |points: &[usize], vals: &[f32]| -> String {
        xy(points, vals).iter().map(|&(x, y)| format!("{},{}", f(x), f(y))).collect::<Vec<_>>().join(" ")
    };
    // a coarse run marks the steps it measured, so that the straight lines between read as such
    let marks = |r: &Faith, class: Classes| -> Html {
        if r.complete {
            return Html::default();
        }
        xy(&r.points, &r.morf)
            .into_iter()
            .map(|(x, y)| html! { <circle class={class.clone()} cx={f(x)} cy={f(y)} r="2.5" /> })
            .collect()
    };
    let yt = [lo + pad, (lo + hi) / 2.0, hi - pad];
    let ytick = yt.iter().map(|&t| {
        let y = fr.y((t - lo) / (hi - lo));
        html! {
            <g class="tick">
                <line class="grid" x1={f(fr.x(0.0))} y1={f(y)} x2={f(fr.x(1.0))} y2={f(y)} />
                <text x={f(fr.left - 6.0)} y={f(y + 4.0)} text-anchor="end">{ fmt_num(t, 3) }</text>
            </g>
        }
    });
    let x_label =
        format!("patches removed ({} × {} px, {} of {})", first.patch, first.patch, first.steps, first.patches);
    let curves = runs.iter().enumerate().map(|(i, r)| {
        let coarse = (!r.complete).then_some("coarse");
        html! {
            <>
                <polyline class={classes!("line", "morf", format!("m{i}"), coarse)} points={line(&r.points, &r.morf)}
                          data-method={r.key.method.name()} data-points={r.points.len().to_string()}
                          data-helper-passes={r.helper_passes.to_string()} />
                { marks(r, classes!("mark", "line", "morf", format!("m{i}"))) }
            </>
        }
    });
    // a coarse run's AOPC is the mean over the steps it has: an estimate until the rest arrives
    let aopc = |r: &Faith, value: f64| {
        if r.complete {
            format!("AOPC {}", fmt_num(value, 3))
        } else {
            format!("AOPC ≈ {}, {} of {} steps", fmt_num(value, 3), r.points.len(), r.steps + 1)
        }
    };
    let state = if runs.iter().all(|r| r.complete) { "ready" } else { "coarse" };
    // the legend sits at the lower left, where curves that start high and fall leave room
    let rows = runs.len() as f64 + 1.0;
    let y0 = fr.y(0.0) - 10.0 - 16.0 * rows;
    let legend = runs.iter().enumerate().map(|(i, r)| {
        let y = y0 + 16.0 * i as f64;
        html! {
            <>
                <line class={classes!("line", "morf", format!("m{i}"))} x1={f(fr.x(0.03))} y1={f(y)} x2={f(fr.x(0.09))} y2={f(y)} />
                <text x={f(fr.x(0.1))} y={f(y + 4.0)}>{ format!("{} ({})", r.key.method.label(), aopc(r, r.aopc_morf)) }</text>
            </>
        }
    });
    let ry = y0 + 16.0 * runs.len() as f64;
    html! {
        <svg data-testid="faithfulness-chart" class="chart" viewBox="0 0 640 250" role="img" aria-label={label} data-state={state}
             data-points={first.points.len().to_string()} data-aopc-morf={first.aopc_morf.to_string()} data-aopc-random={first.aopc_random.to_string()}
             data-curves={runs.len().to_string()}>
            { for ytick }
            { fr.axes(&x_label, "target logit") }
            <text x={f(fr.x(0.0))} y={f(fr.h - fr.bottom + 16.0)} text-anchor="start">{ "0" }</text>
            <text x={f(fr.x(1.0))} y={f(fr.h - fr.bottom + 16.0)} text-anchor="end">{ first.steps.to_string() }</text>
            <polyline class={classes!("line", "random", (!first.complete).then_some("coarse"))} points={line(&first.points, &first.random)} />
            { for curves }
            <g class="legend">
                { for legend }
                <line class="line random" x1={f(fr.x(0.03))} y1={f(ry)} x2={f(fr.x(0.09))} y2={f(ry)} />
                <text x={f(fr.x(0.1))} y={f(ry + 4.0)}>{ format!("random order ({})", aopc(first, first.aopc_random)) }</text>
            </g>
        </svg>
    }
}
