//! `rlrp`: explain an ONNX image classifier's decision from the command line.
//!
//!     rlrp explain --model M.onnx --image I.png [--class N] [--method rlrp] [--out heat.png] [--npy R.npy] [--json]
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(cli::main());
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use clap::{Args, Parser, Subcommand};
    use rlrp::explain::{self, HeatmapStyle, Report, Timings};
    use rlrp::heatmap::{self, Colormap, ScaleMode};
    use rlrp::model::{LoadOptions, Model};
    use rlrp::relevance::{Method, MethodParams};
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
        #[arg(long, default_value_t = 1e-6)]
        epsilon: f32,
        #[arg(long, default_value_t = 0.25)]
        gamma: f32,
        #[arg(long, default_value_t = 2.0)]
        alpha: f32,
        #[arg(long, default_value_t = 1.0)]
        beta: f32,
        /// Write the heatmap as PNG.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overlay the heatmap on the (resized, cropped) image.
        #[arg(long)]
        overlay: bool,
        /// Heatmap opacity with --overlay.
        #[arg(long, default_value_t = 0.7)]
        opacity: f32,
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
    }

    fn ms(t: Instant) -> f64 {
        t.elapsed().as_secs_f64() * 1e3
    }

    fn read(path: &Path) -> Result<Vec<u8>, Error> {
        std::fs::read(path).map_err(|e| Error::Request(format!("cannot read {}: {e}", path.display())))
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
        let params = MethodParams {
            epsilon: args.epsilon,
            gamma: args.gamma,
            alpha: args.alpha,
            beta: args.beta,
            ..Default::default()
        };
        params.validate()?;
        let colormap = match args.colormap.as_str() {
            "bwr" => Colormap::Bwr,
            "heat" => Colormap::Heat,
            other => return Err(Error::Request(format!("unknown colormap '{other}' (bwr or heat)"))),
        };
        let mut timings = Timings::default();
        let t = Instant::now();
        let bytes = read(&args.model)?;
        let sidecar = find_sidecar(args)?;
        let options = LoadOptions { input_shape: sidecar.as_ref().map(|s| s.input_shape()) };
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

        let name = args.model.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let mut report = Report::new(&name, &model, &acts, &e, sidecar.as_ref(), &opts.params)?;
        report.timings = timings;

        let layout = sidecar.as_ref().map(|s| s.input.layout).unwrap_or_default();
        if let Some(out) = &args.out {
            let style = HeatmapStyle {
                colormap,
                mode: if colormap == Colormap::Heat { ScaleMode::Positive } else { ScaleMode::Signed },
                clip_percentile: args.clip_percentile,
            };
            let (_, _, values, clip, mut heat) = explain::heatmap(&e, layout, &style);
            let png = match (&display, args.overlay) {
                (Some(base), true) => {
                    // Colour where relevance is, the photo where it is not.
                    heatmap::alpha_by_magnitude(&mut heat, &values, style.mode, clip);
                    heatmap::encode_png(&heatmap::overlay(base, &heat, args.opacity))?
                }
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
            writeln!(out, "  {:>14.6}  {:<28} {:<36} {:?}", l.l1, l.op, l.node, l.shape).ok();
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

    fn info(model_path: &Path) -> Result<(), Error> {
        let model = Model::from_onnx_bytes(&read(model_path)?, &LoadOptions::default())?;
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
