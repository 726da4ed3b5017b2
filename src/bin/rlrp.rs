//! `rlrp`: explain an ONNX image classifier's decision from the command line.
//!
//!     rlrp explain --model M.onnx --image I.png [--class N] [--method rlrp] [--out heat.png] [--npy R.npy] [--json]
//!     rlrp eval --model M.onnx --images DIR_OR_NPY [--methods rlrp,epsilon,...] [--out DIR]
//!     rlrp eval-summary DIR
//!     rlrp diagnose --model M.onnx --images DIR_OR_NPY [--methods rlrp,...] [--out FILE.md]
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(cli::main());
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use clap::{Args, Parser, Subcommand};
    use rlrp::explain;
    use rlrp::forward::LogitPasses;
    use rlrp::heatmap::{self, Colormap, HeatmapStyle, ScaleMode};
    use rlrp::model::{LoadOptions, Model};
    use rlrp::relevance::{Method, MethodParams};
    use rlrp::report::{Report, Timings};
    use rlrp::sidecar::{self, Sidecar};
    use rlrp::Error;
    use std::path::{Path, PathBuf};
    use std::time::Instant;

    #[derive(Parser)]
    #[command(
        name = "rlrp",
        version,
        about = "Relative LRP (R-LRP) and classical LRP heatmaps for ONNX image classifiers"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Explain one image (or preprocessed tensor): top-5, logit, κ, per-layer mass, heatmap.
        Explain(Box<ExplainArgs>),
        /// Show what the model is made of, after import and canonisation.
        Info {
            #[arg(long)]
            model: PathBuf,
        },
        /// List the explanation methods.
        Methods,
        /// Evaluate methods on many inputs: region perturbation (AOPC, ABPC), robustness,
        /// max-sensitivity, conservation and time; writes summary.md, results.csv and plots.
        Eval(Box<EvalArgs>),
        /// Recompute summary.md of an `eval` output directory from its results.csv (means, 95 %
        /// bootstrap intervals, paired tests) without running the model again.
        EvalSummary {
            /// The output directory of `rlrp eval` (it holds results.csv; summary.md is rewritten,
            /// keeping the model name and command line of the one there).
            dir: PathBuf,
        },
        /// Where the relevance concentrates, layer by layer: the top-1 % share and Gini of |R|
        /// after every node, per method (markdown).
        Diagnose(Box<DiagnoseArgs>),
    }

    /// Parameters of the classical rules (R-LRP has none).
    #[derive(Args)]
    struct RuleArgs {
        /// LRP-ε stabiliser.
        #[arg(long, default_value_t = 1e-6)]
        epsilon: f32,
        /// LRP-γ weight of the positive parts.
        #[arg(long, default_value_t = 0.25)]
        gamma: f32,
        /// LRP-αβ (α − β must be 1).
        #[arg(long, default_value_t = 2.0)]
        alpha: f32,
        #[arg(long, default_value_t = 1.0)]
        beta: f32,
    }

    impl RuleArgs {
        fn params(&self) -> MethodParams {
            MethodParams {
                epsilon: self.epsilon,
                gamma: self.gamma,
                alpha: self.alpha,
                beta: self.beta,
                ..Default::default()
            }
        }
    }

    #[derive(Args)]
    struct ExplainArgs {
        /// The ONNX model.
        #[arg(long)]
        model: PathBuf,
        /// The image (PNG, JPEG, WebP, GIF, BMP), preprocessed as the model's sidecar says.
        #[arg(long, conflicts_with = "input_npy", required_unless_present = "input_npy")]
        image: Option<PathBuf>,
        /// An already-preprocessed input tensor (.npy, float32, the model's input shape).
        #[arg(long)]
        input_npy: Option<PathBuf>,
        /// The preprocessing sidecar (default: M.json next to M.onnx, or in this repository's models/).
        #[arg(long)]
        sidecar: Option<PathBuf>,
        /// Target class (default: the predicted class).
        #[arg(long = "class")]
        class: Option<usize>,
        /// rlrp, rlrp-divfree, lrp0, epsilon, gamma, alphabeta, zplus, flat, wsquare, zbox,
        /// epsilon-plus-flat, epsilon-gamma-box, gradient, gradient-x-input.
        #[arg(long, default_value = "rlrp")]
        method: String,
        #[command(flatten)]
        rule: RuleArgs,
        /// Write the heatmap as PNG.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Blend the heatmap over the (resized, cropped) image.
        #[arg(long)]
        overlay: bool,
        /// With --overlay: 0 shows the image, 1 the heatmap alone, in between a linear blend.
        #[arg(long, default_value_t = 0.7)]
        opacity: f32,
        /// How colour follows |R| below the clip: linear, auto (the page's default: the gamma closest
        /// to linear that colours at least a fifth of the pixels visibly) or a gamma in (0, 1].
        #[arg(long, default_value = "linear")]
        contrast: String,
        /// The colour scale saturates at this percentile of |R|.
        #[arg(long, default_value_t = 99.5)]
        clip_percentile: f64,
        /// bwr (signed, default) or heat (positive only).
        #[arg(long, default_value = "bwr")]
        colormap: String,
        /// Write the input relevance (float32, input shape) as .npy.
        #[arg(long)]
        npy: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Write the outputs and exit 0 even when the explanation is degenerate: non-finite values
        /// (NaN, ±∞; shown as zero) or a map that is zero everywhere. Without it such an explanation
        /// is an error (exit 1) that says where and why.
        #[arg(long)]
        allow_degenerate: bool,
    }

    fn ms(t: Instant) -> f64 {
        t.elapsed().as_secs_f64() * 1e3
    }

    fn read(path: &Path) -> Result<Vec<u8>, Error> {
        rlrp::fsread::read_regular(path, rlrp::fsread::MAX_FILE_BYTES)
            .map_err(|e| Error::Request(format!("cannot read {}: {e}", path.display())))
    }

    /// Sidecar: explicit, next to the model, or in this repository's models/ folder.
    fn find_sidecar(args: &ExplainArgs) -> Result<Option<Sidecar>, Error> {
        if let Some(p) = &args.sidecar {
            return Sidecar::load(p).map(Some);
        }
        let repo_models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        sidecar::find_sidecar(&args.model, &[Path::new("models"), &repo_models])
    }

    fn explain(args: &ExplainArgs) -> Result<(), Error> {
        let method = Method::parse(&args.method)?;
        let params = args.rule.params();
        params.validate()?;
        let contrast = heatmap::Contrast::parse(&args.contrast)?;
        let colormap = match args.colormap.as_str() {
            "bwr" => Colormap::Bwr,
            "heat" => Colormap::Heat,
            other => return Err(Error::Request(format!("unknown colormap '{other}' (bwr or heat)"))),
        };
        let mut timings = Timings::default();
        let t = Instant::now();
        let bytes = rlrp::model::external::read_model(&args.model)?;
        let sidecar = find_sidecar(args)?;
        let options = LoadOptions { input_shape: sidecar.as_ref().map(|s| s.input_shape()), ..Default::default() };
        let model = Model::from_onnx_bytes(&bytes, &options)?;
        timings.load_ms = ms(t);

        let t = Instant::now();
        let (input, display) = match (&args.image, &args.input_npy) {
            (_, Some(npy)) => (rlrp::npy::read_npy(&read(npy)?)?, None),
            (Some(img), None) => {
                let sc = sidecar.clone().unwrap_or_else(|| {
                    eprintln!(
                        "warning: no sidecar for {}: pixels scaled to [0, 1], image stretched",
                        args.model.display()
                    );
                    Sidecar::default_for_input_shape(model.input_shape())
                });
                let pre = rlrp::preprocess::preprocess_bytes(&read(img)?, &sc)?;
                (pre.tensor, Some(pre.display))
            }
            (None, None) => return Err(Error::Request("give --image or --input-npy".into())),
        };
        timings.preprocess_ms = ms(t);

        let t = Instant::now();
        let acts = model.forward(&input)?;
        timings.forward_ms = ms(t);
        let opts = explain::options_for(args.class, params.clone(), sidecar.as_ref());
        let t = Instant::now();
        let e = explain::explain(&model, &acts, method, &opts)?;
        timings.relevance_ms = ms(t);
        if let Some(origin) = &e.warning {
            if !args.allow_degenerate {
                return Err(Error::Degenerate(format!("{origin} (--allow-degenerate writes the outputs anyway)")));
            }
            eprintln!("warning: {origin}");
        }

        let name = args.model.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let mut report = Report::new(&name, &model, &acts, &e, sidecar.as_ref(), &opts.params)?;
        report.timings = timings;

        let layout = sidecar.as_ref().map(|s| s.input.layout).unwrap_or_default();
        if let Some(out) = &args.out {
            let style = HeatmapStyle {
                colormap,
                mode: if colormap == Colormap::Heat { ScaleMode::Positive } else { ScaleMode::Signed },
                clip_percentile: args.clip_percentile,
                contrast,
            };
            let (_, _, _, _, heat) = explain::heatmap(&e, layout, &style);
            let png = match (&display, args.overlay) {
                (Some(base), true) => heatmap::encode_png(&heatmap::overlay(base, &heat, args.opacity))?,
                (None, true) => {
                    return Err(Error::Request(
                        "--overlay needs --image (there is no picture under a preprocessed tensor)".into(),
                    ))
                }
                _ => heatmap::encode_png(&heat)?,
            };
            std::fs::write(out, png)?;
        }
        if let Some(path) = &args.npy {
            std::fs::write(path, rlrp::npy::write_npy(&e.relevance))?;
        }
        if args.json {
            emit(&(serde_json::to_string_pretty(&report).map_err(|e| Error::Request(e.to_string()))? + "\n"));
        } else {
            print_report(&report);
        }
        Ok(())
    }

    /// Writes to stdout, ignoring a closed pipe (e.g. `rlrp explain ... | head`).
    fn emit(text: &str) {
        use std::io::Write;
        let _ = std::io::stdout().write_all(text.as_bytes());
    }

    fn print_report(r: &Report) {
        emit(&format_report(r));
    }

    fn format_report(r: &Report) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        writeln!(out, "model    {}  input {:?}", r.model, r.input_shape).ok();
        writeln!(out, "top-5:").ok();
        for c in &r.top {
            writeln!(
                out,
                "  {:>5}  {:>6.2}%  logit {:>9.4}  {}",
                c.class,
                c.probability * 100.0,
                c.logit,
                c.label.as_deref().unwrap_or("")
            )
            .ok();
        }
        let label = r.target_label.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
        writeln!(out, "method   {} [{}]", r.method_label, r.method.name()).ok();
        writeln!(out, "target   {}{label}  logit {:.6}  start relevance {:.6}", r.target, r.logit, r.start).ok();
        match r.kappa {
            Some(k) => writeln!(out, "kappa    {k:.6}  (ΣR_input / logit)").ok(),
            None => writeln!(out, "kappa    undefined (logit is 0)").ok(),
        };
        writeln!(out, "input    ΣR {:.6}  ‖R‖₁ {:.6}  non-finite {}", r.relevance_sum, r.relevance_l1, r.non_finite)
            .ok();
        writeln!(out, "relevance mass ‖R‖₁ after each node (logits → input):").ok();
        for l in &r.layers {
            writeln!(out, "  {:>14.6}  {:<32} {:<28} {}", l.l1, l.label, l.op, l.node).ok();
        }
        let t = &r.timings;
        writeln!(
            out,
            "timings  load {:.1} ms  preprocess {:.1} ms  forward {:.1} ms  relevance {:.1} ms",
            t.load_ms, t.preprocess_ms, t.forward_ms, t.relevance_ms
        )
        .ok();
        out
    }

    /// The model and the inputs of `eval` and `diagnose`.
    #[derive(Args)]
    struct InputSetArgs {
        /// The ONNX model.
        #[arg(long)]
        model: PathBuf,
        /// A directory of images (preprocessed with the sidecar) or an .npy batch [N, C, H, W]
        /// (float: already preprocessed; integer: raw pixels, preprocessed with the sidecar).
        #[arg(long)]
        images: PathBuf,
        /// The preprocessing sidecar (default: M.json next to M.onnx, or in this repository's models/).
        #[arg(long)]
        sidecar: Option<PathBuf>,
        /// At most this many inputs (the first ones).
        #[arg(long)]
        limit: Option<usize>,
    }

    #[derive(Args)]
    struct EvalArgs {
        #[command(flatten)]
        set: InputSetArgs,
        /// Comma-separated methods (default: all).
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
        /// Output directory.
        #[arg(long, default_value = "eval-out")]
        out: PathBuf,
        /// Side of the perturbed square patches (default: 4 below 64 px, else 8).
        #[arg(long)]
        patch: Option<usize>,
        /// Perturbation steps.
        #[arg(long, default_value_t = 100)]
        steps: usize,
        /// What removed patches become: black, mean (of the evaluated inputs) or noise (uniform
        /// over the input range).
        #[arg(long, default_value = "black")]
        baseline: String,
        /// Random orders averaged into the random baseline curve.
        #[arg(long, default_value_t = 5)]
        random_orders: usize,
        /// Noise draws per σ of the robustness test.
        #[arg(long, default_value_t = 5)]
        robustness_seeds: usize,
        /// Skip the robustness test (it costs 2·seeds + 2 explanations per image and method).
        #[arg(long)]
        no_robustness: bool,
        /// Robustness and max-sensitivity only on the first N images (default: all).
        #[arg(long)]
        robustness_limit: Option<usize>,
        /// Max-sensitivity samples (0 = skip).
        #[arg(long, default_value_t = 10)]
        sensitivity_samples: usize,
        /// Max-sensitivity L∞ noise radius in model-input units (Quantus' default 0.2).
        #[arg(long, default_value_t = 0.2)]
        sensitivity_radius: f32,
        /// Seed of every random draw.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Rows (inputs) of grid.png, the heatmaps of every method side by side.
        #[arg(long, default_value_t = 6)]
        grid_rows: usize,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Perturbed inputs per forward pass of the perturbation curves (a logits-only plan, checked
        /// against the explaining pass; 0 = one explaining forward pass per input). With tract 0.23
        /// batches are slower than single inputs, hence the default 1.
        #[arg(long, default_value_t = rlrp::eval::run::DEFAULT_BATCH)]
        batch: usize,
        /// Go on with a run that was stopped: take the inputs its checkpoint (`OUT/checkpoint`,
        /// written as each input is done) holds, and evaluate only the rest. The settings must be
        /// the same (checked).
        #[arg(long)]
        resume: bool,
        /// Evaluate at most N inputs in this run, then stop, keeping them in the checkpoint
        /// (`--resume` goes on): a long evaluation in parts.
        #[arg(long, value_name = "N")]
        stop_after: Option<usize>,
        #[command(flatten)]
        rule: RuleArgs,
    }

    fn is_image_file(p: &Path) -> bool {
        let ext = p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "webp" | "gif" | "bmp")
    }

    /// Comma-separated method names (all methods when none are given).
    fn parse_methods(names: &[String]) -> Result<Vec<Method>, Error> {
        if names.is_empty() {
            return Ok(Method::ALL.to_vec());
        }
        names.iter().filter(|m| !m.trim().is_empty()).map(|m| Method::parse(m.trim())).collect()
    }

    /// What `eval` and `diagnose` work on: the model (and its bytes), its sidecar, and the inputs
    /// with their names.
    struct Inputs {
        bytes: Vec<u8>,
        model: Model,
        sidecar: Sidecar,
        tensors: Vec<rlrp::tensor::Tensor>,
        names: Vec<String>,
    }

    /// Loads `model` and the inputs of `images` (a directory of images, or an .npy batch), at most
    /// `limit` of them.
    fn load_inputs(set: &InputSetArgs) -> Result<Inputs, Error> {
        use rlrp::eval::run;
        let (model_path, images, limit) = (set.model.as_path(), set.images.as_path(), set.limit);
        let sidecar_path = set.sidecar.as_deref();
        let bytes = rlrp::model::external::read_model(model_path)?;
        let sidecar = match sidecar_path {
            Some(p) => Some(Sidecar::load(p)?),
            None => {
                let repo_models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
                sidecar::find_sidecar(model_path, &[Path::new("models"), &repo_models])?
            }
        };
        let options = LoadOptions { input_shape: sidecar.as_ref().map(|s| s.input_shape()), ..Default::default() };
        let model = Model::from_onnx_bytes(&bytes, &options)?;
        let sc = sidecar.clone().unwrap_or_else(|| {
            eprintln!("warning: no sidecar for {}: pixels scaled to [0, 1], image stretched", model_path.display());
            Sidecar::default_for_input_shape(model.input_shape())
        });

        let (inputs, names): (Vec<_>, Vec<String>) = if images.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(images)
                .map_err(|e| Error::Request(format!("cannot read {}: {e}", images.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_image_file(p))
                .collect();
            files.sort();
            if let Some(l) = limit {
                files.truncate(l);
            }
            let mut inputs = Vec::new();
            let mut names = Vec::new();
            for f in &files {
                let pre = rlrp::preprocess::preprocess_bytes(&read(f)?, &sc)
                    .map_err(|e| Error::Request(format!("{}: {e}", f.display())))?;
                inputs.push(pre.tensor);
                names.push(f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            }
            (inputs, names)
        } else {
            let xs = run::inputs_from_npy(&read(images)?, model.input_shape(), &sc, limit)?;
            let names = (0..xs.len()).map(|i| format!("npy[{i}]")).collect();
            (xs, names)
        };
        if inputs.is_empty() {
            return Err(Error::Request(format!("no inputs found in {}", images.display())));
        }
        Ok(Inputs { bytes, model, sidecar: sc, tensors: inputs, names })
    }

    fn eval(args: &EvalArgs) -> Result<(), Error> {
        use rlrp::eval::checkpoint::{Checkpoint, Fingerprint};
        use rlrp::eval::{report, run, Baseline};
        let methods = parse_methods(&args.methods)?;
        let Inputs { bytes, model, sidecar: sc, tensors: inputs, names } = load_inputs(&args.set)?;

        let params = args.rule.params();
        params.validate()?;
        let mut cfg = run::EvalConfig::new(&model, Some(&sc));
        cfg.methods = methods;
        cfg.params = explain::options_for(None, params, Some(&sc)).params;
        if let Some(p) = args.patch {
            cfg.perturbation.patch = p;
        }
        cfg.perturbation.steps = args.steps;
        cfg.perturbation.random_orders = args.random_orders;
        cfg.perturbation.seed = args.seed;
        cfg.perturbation.baseline = match args.baseline.as_str() {
            "black" => Baseline::black(&sc.mean(), &sc.std()),
            "mean" => Baseline::Mean(run::channel_means(&inputs, sc.input.layout)),
            "noise" => {
                let (low, high) = cfg.input_range;
                Baseline::UniformNoise { low, high, seed: args.seed }
            }
            other => return Err(Error::Request(format!("unknown baseline '{other}' (black, mean or noise)"))),
        };
        cfg.noise_seeds = if args.no_robustness { 0 } else { args.robustness_seeds };
        cfg.sensitivity_samples = args.sensitivity_samples;
        cfg.robustness_limit = args.robustness_limit;
        cfg.sensitivity_radius = args.sensitivity_radius;
        cfg.seed = args.seed;
        cfg.keep_relevance = args.grid_rows;
        let threads = args.threads.unwrap_or(0);

        let model_name = args.set.model.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        eprintln!(
            "eval {model_name}: {} inputs × {} methods, patch {}, {} steps",
            inputs.len(),
            cfg.methods.len(),
            cfg.perturbation.patch,
            cfg.perturbation.steps
        );
        let t = Instant::now();
        let (plan, note) = run::choose_logit_plan(&model, &bytes, args.batch, cfg.perturbation.patch, &inputs[0]);
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
        if let Some(p) = &plan {
            match p {
                LogitPasses::Batched(p) => {
                    eprintln!("perturbation curves: a logits-only forward pass of {} inputs at a time", p.batch())
                }
                LogitPasses::Cropped(p) => eprintln!(
                    "perturbation curves: logits-only forward passes{}",
                    if p.crops() { ", cropped around each changed patch" } else { "" }
                ),
            }
        }
        let fingerprint = Fingerprint::of_run(&bytes, &inputs, &names, &cfg, plan.as_ref().map(|p| p.batch()));
        let mut checkpoint = Checkpoint::new(&args.out, fingerprint);
        checkpoint.stop_after = args.stop_after;
        match (checkpoint.count(), args.resume) {
            (0, _) => {}
            (kept, false) => {
                return Err(Error::Request(format!(
                    "{} holds {kept} inputs of an unfinished run: add --resume to go on with it, or delete it \
                     to start again",
                    checkpoint.dir().display()
                )))
            }
            (kept, true) => {
                eprintln!("resuming: {kept} of {} inputs are in {}", inputs.len(), checkpoint.dir().display())
            }
        }
        let progress = |done: usize, total: usize| {
            eprintln!("  {done}/{total} inputs  ({:.1} s)", t.elapsed().as_secs_f64());
        };
        let results = match run::evaluate_resumable(
            &model,
            plan.as_ref(),
            &inputs,
            &names,
            &cfg,
            threads,
            &progress,
            &checkpoint,
        ) {
            Err(Error::Cancelled) => {
                eprintln!(
                    "stopped after {} new inputs (--stop-after): {} of {} inputs are in {}; run the same command \
                         with --resume to go on",
                    args.stop_after.unwrap_or(0),
                    checkpoint.count(),
                    inputs.len(),
                    checkpoint.dir().display()
                );
                return Ok(());
            }
            other => other?,
        };

        std::fs::create_dir_all(&args.out)
            .map_err(|e| Error::Request(format!("cannot create {}: {e}", args.out.display())))?;
        let command = std::env::args().collect::<Vec<_>>().join(" ");
        let stem = args.set.model.file_stem().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let write = |name: &str, data: &[u8]| -> Result<(), Error> {
            let p = args.out.join(name);
            std::fs::write(&p, data).map_err(|e| Error::Request(format!("cannot write {}: {e}", p.display())))
        };
        let summary = report::summary_markdown(&model_name, inputs.len(), &command, &results);
        write("summary.md", summary.as_bytes())?;
        write("results.csv", rlrp::eval::results_csv::write(&results).as_bytes())?;
        write(&format!("curves_{stem}.png"), &report::curves_png(&results)?)?;
        write("curves_legend.txt", report::curves_legend(&results).as_bytes())?;
        write("grid.png", &report::grid_png(&results, &inputs, sc.input.layout, args.grid_rows)?)?;
        checkpoint.remove()?;
        emit(&summary);
        eprintln!("wrote {} ({:.1} s)", args.out.display(), t.elapsed().as_secs_f64());
        Ok(())
    }

    /// The model name and command line in the header of an existing summary.md, if it has them.
    fn summary_header(text: &str) -> Option<(String, String)> {
        let line = text.lines().find(|l| l.starts_with("Model `"))?;
        let model = line.strip_prefix("Model `")?.split('`').next()?.to_string();
        let command = line.split_once("Command: `")?.1.strip_suffix('`')?.to_string();
        Some((model, command))
    }

    fn eval_summary(dir: &Path) -> Result<(), Error> {
        use rlrp::eval::{report, results_csv};
        let csv = dir.join("results.csv");
        let text =
            std::fs::read_to_string(&csv).map_err(|e| Error::Request(format!("cannot read {}: {e}", csv.display())))?;
        let results = results_csv::read(&text).map_err(|e| Error::Request(format!("{}: {e}", csv.display())))?;
        let summary_path = dir.join("summary.md");
        let old = std::fs::read_to_string(&summary_path).unwrap_or_default();
        let (model, command) = summary_header(&old).unwrap_or_else(|| ("?".into(), "?".into()));
        let images = results.iter().map(|r| r.image).collect::<std::collections::BTreeSet<_>>().len();
        let note = format!(
            "Tables recomputed from `results.csv` by `rlrp eval-summary` (rlrp {}).",
            env!("CARGO_PKG_VERSION")
        );
        let summary = report::summary_markdown(&model, images, &command, &results).replacen(
            "\n\n| # |",
            &format!("\n\n{note}\n\n| # |"),
            1,
        );
        std::fs::write(&summary_path, &summary)
            .map_err(|e| Error::Request(format!("cannot write {}: {e}", summary_path.display())))?;
        emit(&summary);
        Ok(())
    }

    #[derive(Args)]
    struct DiagnoseArgs {
        #[command(flatten)]
        set: InputSetArgs,
        /// Comma-separated methods. For gradient methods the intermediate layers show the gradient
        /// (their relevance exists only at the input).
        #[arg(long, value_delimiter = ',', default_value = "rlrp,rlrp-divfree,lrp0,epsilon-plus-flat")]
        methods: Vec<String>,
        /// Write the markdown here (default: standard output only).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        rule: RuleArgs,
    }

    fn diagnose(args: &DiagnoseArgs) -> Result<(), Error> {
        let methods = parse_methods(&args.methods)?;
        let inp = load_inputs(&args.set)?;
        let params = explain::options_for(None, args.rule.params(), Some(&inp.sidecar)).params;
        params.validate()?;
        let t = Instant::now();
        let mut progress = |done: usize, total: usize| {
            eprintln!("  {done}/{total} explanations  ({:.1} s)", t.elapsed().as_secs_f64());
        };
        let d = rlrp::eval::diagnosis::diagnose(
            &inp.model,
            &inp.tensors,
            &inp.names,
            &methods,
            &params,
            inp.sidecar.input.layout,
            &mut progress,
        )?;
        let name = args.set.model.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let text = d.markdown(&name);
        if let Some(out) = &args.out {
            std::fs::write(out, &text).map_err(|e| Error::Request(format!("cannot write {}: {e}", out.display())))?;
        }
        emit(&text);
        Ok(())
    }

    fn info(model_path: &Path) -> Result<(), Error> {
        let model = Model::from_onnx_bytes(&rlrp::model::external::read_model(model_path)?, &LoadOptions::default())?;
        println!("{}", serde_json::to_string_pretty(&model.info).map_err(|e| Error::Request(e.to_string()))?);
        println!("explainable graph ({} nodes):", model.graph.nodes.len());
        for n in &model.graph.nodes {
            println!(
                "  {:<14} {:<32} {:<40} -> {:?}",
                n.op.kind(),
                n.onnx_op,
                n.name,
                model.graph.values[n.output].shape
            );
        }
        Ok(())
    }

    pub fn main() -> i32 {
        let cli = Cli::parse();
        let result = match &cli.command {
            Command::Explain(args) => explain(args),
            Command::Info { model } => info(model),
            Command::Eval(args) => eval(args),
            Command::EvalSummary { dir } => eval_summary(dir),
            Command::Diagnose(args) => diagnose(args),
            Command::Methods => {
                for m in Method::ALL {
                    let uses = m.uses();
                    let p =
                        if uses.is_empty() { String::new() } else { format!("  (parameters: {})", uses.join(", ")) };
                    println!("{:<18} {}{p}", m.name(), m.label());
                }
                Ok(())
            }
        };
        match result {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        }
    }
}
