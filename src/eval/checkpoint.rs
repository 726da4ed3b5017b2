//! Checkpoints of a long `rlrp eval`: every input's results, written as soon as the input is done,
//! so that a run that was stopped (a closed laptop, a killed job, a session's end) goes on from
//! where it was with `--resume` instead of starting again. (An evaluation of 113 photos with eight
//! methods is hours of CPU; see docs/results.)
//!
//! One file per input, `DIR/checkpoint/input_<index>.txt`, written to a temporary name and renamed,
//! so a file is whole or absent. It holds the run's settings fingerprint (the model's bytes, every
//! input's name and values, the whole [`EvalConfig`] and the perturbation plan: a checkpoint of
//! other settings is refused, never mixed in), the perturbation curves in full, and the input's
//! rows of `results.csv` (exact: Rust prints floats in their shortest round-trip form). The
//! relevance tensors of the grid's inputs are not kept; the caller recomputes them (deterministic).
//!
//! Format (text):
//! ```text
//! rlrp-eval-checkpoint 1
//! fingerprint <16 hex digits>
//! curve <method> morf|lerf|random <value> <value> …   (one line per curve of each method)
//! csv
//! <results.csv of this input's rows>
//! end
//! ```
use super::results_csv;
use super::run::{EvalConfig, ImageMethodResult, Resume};
use crate::error::{Error, Result};
use crate::method::Method;
use crate::tensor::Tensor;
use std::path::{Path, PathBuf};

const MAGIC: &str = "rlrp-eval-checkpoint 1";
/// A checkpoint file larger than this is refused before reading (one input's curves and rows are
/// kilobytes to a few megabytes).
const MAX_FILE_BYTES: u64 = 256 << 20;

/// FNV-1a, 64 bits: a fingerprint of the run's settings (not a defence against forgery: the
/// checkpoint is the user's own file; it tells a stale checkpoint from a current one).
#[derive(Clone, Copy)]
pub struct Fingerprint(u64);

impl Fingerprint {
    pub fn new() -> Fingerprint {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }

    pub fn bytes(mut self, bytes: &[u8]) -> Fingerprint {
        // the length first, so that consecutive fields cannot run into each other
        for &b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    /// The fingerprint of an evaluation: the model file, the inputs (names and values), every
    /// setting, and how the perturbation curves are computed (`plan`: a logits-only plan's batch,
    /// or None for the explaining pass).
    pub fn of_run(
        model_bytes: &[u8],
        inputs: &[Tensor],
        names: &[String],
        cfg: &EvalConfig,
        plan: Option<usize>,
    ) -> Fingerprint {
        let mut f = Fingerprint::new().bytes(env!("CARGO_PKG_VERSION").as_bytes()).bytes(model_bytes);
        for (x, name) in inputs.iter().zip(names) {
            let values: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
            f = f.bytes(name.as_bytes()).bytes(format!("{:?}", x.shape()).as_bytes()).bytes(&values);
        }
        f.bytes(format!("{cfg:?}").as_bytes()).bytes(format!("{plan:?}").as_bytes())
    }

    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint::new()
    }
}

/// The checkpoint directory of one run.
pub struct Checkpoint {
    dir: PathBuf,
    fingerprint: String,
    /// Evaluate at most this many inputs in this run (the rest after `--resume`).
    pub stop_after: Option<usize>,
}

impl Checkpoint {
    /// The checkpoint of a run writing its results to `out` (`out/checkpoint`).
    pub fn new(out: &Path, fingerprint: Fingerprint) -> Checkpoint {
        Checkpoint { dir: out.join("checkpoint"), fingerprint: fingerprint.hex(), stop_after: None }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, image: usize) -> PathBuf {
        self.dir.join(format!("input_{image:06}.txt"))
    }

    /// How many inputs the directory holds (0 when there is none).
    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("input_"))
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".txt"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Keeps input `image`'s results.
    pub fn save(&self, image: usize, results: &[ImageMethodResult]) -> Result<()> {
        let text = encode(&self.fingerprint, results);
        let io =
            |e: std::io::Error, p: &Path| Error::Request(format!("cannot write the checkpoint {}: {e}", p.display()));
        std::fs::create_dir_all(&self.dir).map_err(|e| io(e, &self.dir))?;
        let (path, tmp) = (self.file(image), self.dir.join(format!(".input_{image:06}.tmp")));
        std::fs::write(&tmp, text).map_err(|e| io(e, &tmp))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(e, &path))
    }

    /// Input `image`'s results if the checkpoint has them (named `name`, evaluated with `methods`
    /// in that order); None if it has not. A file of other settings or a damaged one is an error
    /// naming the file.
    pub fn load(&self, image: usize, name: &str, methods: &[Method]) -> Result<Option<Vec<ImageMethodResult>>> {
        let path = self.file(image);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Request(format!("cannot read the checkpoint {}: {e}", path.display()))),
        };
        let named = |what: String| Error::Request(format!("checkpoint {}: {what}", path.display()));
        if size > MAX_FILE_BYTES {
            return Err(named(format!("{size} bytes, more than a checkpoint of one input can be ({MAX_FILE_BYTES})")));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| named(format!("cannot read it: {e}")))?;
        let results = decode(&self.fingerprint, &text).map_err(|e| named(e.to_string()))?;
        let fits = results.len() == methods.len()
            && results.iter().zip(methods).all(|(r, &m)| r.image == image && r.name == name && r.method == m);
        if !fits {
            return Err(named(format!("it is not input {image} ({name}) under the methods {methods:?}")));
        }
        Ok(Some(results))
    }

    /// Removes the checkpoint (after the run's results are written).
    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Request(format!("cannot remove the checkpoint {}: {e}", self.dir.display()))),
        }
    }
}

fn encode(fingerprint: &str, results: &[ImageMethodResult]) -> String {
    let mut out = format!("{MAGIC}\nfingerprint {fingerprint}\n");
    for r in results {
        let p = &r.perturbation;
        for (kind, curve) in [("morf", &p.morf), ("lerf", &p.lerf), ("random", &p.random)] {
            out.push_str(&format!("curve {} {kind}", r.method.name()));
            for v in curve {
                out.push_str(&format!(" {v}"));
            }
            out.push('\n');
        }
    }
    out.push_str("csv\n");
    out.push_str(&results_csv::write(results));
    out.push_str("end\n");
    out
}

fn decode(fingerprint: &str, text: &str) -> Result<Vec<ImageMethodResult>> {
    let bad = |what: String| Error::Request(what);
    let cut = || bad("the file is cut short (no 'csv' line, or no 'end' line)".into());
    let (head, csv) = text.split_once("\ncsv\n").ok_or_else(cut)?;
    let csv = csv.strip_suffix("end\n").ok_or_else(cut)?;
    let mut lines = head.lines();
    if lines.next() != Some(MAGIC) {
        return Err(bad(format!("not a checkpoint of `rlrp eval` (it does not start '{MAGIC}')")));
    }
    match lines.next().and_then(|l| l.strip_prefix("fingerprint ")) {
        Some(f) if f == fingerprint => {}
        Some(_) => {
            return Err(bad("it was written by a run of other settings (model, inputs, methods or options): \
                 delete the checkpoint directory or write to another --out"
                .into()))
        }
        None => return Err(bad("line 2 is not 'fingerprint …'".into())),
    }
    let mut results = results_csv::read(csv)?;
    for (n, line) in lines.enumerate() {
        let line_no = n + 3;
        let mut words = line.split(' ');
        let (Some("curve"), Some(method), Some(kind)) = (words.next(), words.next(), words.next()) else {
            return Err(bad(format!("line {line_no} is not 'curve <method> <kind> …'")));
        };
        let method = Method::parse(method).map_err(|e| bad(format!("line {line_no}: {e}")))?;
        let values: Vec<f32> = words
            .map(|w| w.parse::<f32>().map_err(|_| bad(format!("line {line_no}: '{w}' is not a number"))))
            .collect::<Result<_>>()?;
        let r = results
            .iter_mut()
            .find(|r| r.method == method)
            .ok_or_else(|| bad(format!("line {line_no}: a curve of {} that has no results row", method.name())))?;
        let p = &mut r.perturbation;
        let curve = match kind {
            "morf" => &mut p.morf,
            "lerf" => &mut p.lerf,
            "random" => &mut p.random,
            other => return Err(bad(format!("line {line_no}: no curve '{other}' (morf, lerf or random)"))),
        };
        // the rows' step count fixes the curves' length (random is empty in a read-back row)
        if kind != "random" && values.len() != curve.len() {
            return Err(bad(format!("line {line_no}: {} values for a curve of {} steps", values.len(), curve.len())));
        }
        *curve = values;
    }
    let whole = |p: &super::PerturbationResult| {
        p.morf.iter().chain(&p.lerf).all(|v| !v.is_nan()) && p.random.len() == p.morf.len()
    };
    if let Some(r) = results.iter().find(|r| !whole(&r.perturbation)) {
        return Err(bad(format!("the curves of {} are missing or incomplete", r.method.name())));
    }
    Ok(results)
}

/// A checkpoint is where [`super::run::evaluate_resumable`] keeps and finds each input's results.
impl Resume for Checkpoint {
    fn kept(&self, image: usize, name: &str, methods: &[Method]) -> Result<Option<Vec<ImageMethodResult>>> {
        self.load(image, name, methods)
    }
    fn keep(&self, image: usize, results: &[ImageMethodResult]) -> Result<()> {
        self.save(image, results)
    }
    fn may_evaluate(&self, evaluated: usize) -> bool {
        self.stop_after.is_none_or(|n| evaluated < n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::run::NoiseResult;
    use crate::eval::{Conservation, MaxSensitivity, PerturbationResult};

    fn result(image: usize, method: Method, noise: bool) -> ImageMethodResult {
        ImageMethodResult {
            image,
            name: format!("photo, \"{image}\".png"),
            method,
            target: 281,
            logit: 12.345_679,
            perturbation: PerturbationResult {
                patches: 784,
                morf: vec![12.345_679, 3.0, -1.0e-7, f32::INFINITY],
                lerf: vec![12.345_679, 12.0, 11.5, 0.1],
                random: vec![12.345_679, 9.0, 7.25, 1.0 / 3.0],
                aopc_morf: 1.0 / 3.0,
                aopc_lerf: 0.1,
                aopc_random: 2.0f64.sqrt(),
                abpc: -0.5,
            },
            noise: if noise { vec![NoiseResult { sigma: 1e-3, mean: 0.01, max: 0.02 }] } else { Vec::new() },
            sensitivity: noise.then_some(MaxSensitivity { quantus: 0.5, relative: f64::NAN }),
            conservation: Conservation { kappa: None, l1_over_logit: 1.5, non_finite: 2 },
            explain_ms: 123.456,
            relevance: None,
        }
    }

    fn same(a: &[ImageMethodResult], b: &[ImageMethodResult]) {
        assert_eq!(results_csv::write(a), results_csv::write(b));
        for (a, b) in a.iter().zip(b) {
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.perturbation.morf), bits(&b.perturbation.morf));
            assert_eq!(bits(&a.perturbation.lerf), bits(&b.perturbation.lerf));
            assert_eq!(bits(&a.perturbation.random), bits(&b.perturbation.random));
        }
    }

    #[test]
    fn an_input_comes_back_exactly_and_only_under_its_settings() {
        let dir = std::env::temp_dir().join(format!("rlrp_checkpoint_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let methods = [Method::Rlrp, Method::Gradient];
        let f = Fingerprint::new().bytes(b"settings");
        let cp = Checkpoint::new(&dir, f);
        assert_eq!(cp.count(), 0);
        assert!(cp.load(3, "x", &methods).unwrap().is_none());
        for (image, noise) in [(3, true), (200, false)] {
            let rs: Vec<_> = methods.iter().map(|&m| result(image, m, noise)).collect();
            cp.save(image, &rs).unwrap();
            let back = cp.load(image, &rs[0].name, &methods).unwrap().unwrap();
            same(&rs, &back);
        }
        assert_eq!(cp.count(), 2);
        // another input's name, other methods, other settings: refused, naming the file
        let e = cp.load(3, "other.png", &methods).unwrap_err().to_string();
        assert!(e.contains("input_000003.txt") && e.contains("not input 3"), "{e}");
        assert!(cp.load(3, &result(3, Method::Rlrp, true).name, &[Method::Rlrp]).is_err());
        let other = Checkpoint::new(&dir, Fingerprint::new().bytes(b"settings2"));
        let e = other.load(3, &result(3, Method::Rlrp, true).name, &methods).unwrap_err().to_string();
        assert!(e.contains("other settings"), "{e}");
        cp.remove().unwrap();
        assert_eq!(cp.count(), 0);
        cp.remove().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damaged_files_are_errors_never_panics() {
        let fp = Fingerprint::new().bytes(b"x").hex();
        let rs: Vec<_> = [Method::Rlrp, Method::Zplus].iter().map(|&m| result(7, m, true)).collect();
        let good = encode(&fp, &rs);
        same(&decode(&fp, &good).unwrap(), &rs);
        for cut in [0, 10, good.len() / 3, good.len() / 2, good.len() - 5, good.len() - 9, good.len() - 1] {
            let mut end = cut;
            while !good.is_char_boundary(end) {
                end -= 1;
            }
            assert!(decode(&fp, &good[..end]).is_err(), "cut at {end}");
        }
        for (from, to) in [
            ("curve rlrp morf", "curve nope morf"),
            ("curve rlrp morf", "curve rlrp side"),
            ("curve zplus lerf 12.345679", "curve zplus lerf x"),
            ("curve zplus lerf 12.345679 ", "curve zplus lerf "),
            ("fingerprint", "fingerprin"),
            (MAGIC, "something else"),
        ] {
            assert!(decode(&fp, &good.replacen(from, to, 1)).is_err(), "{from} → {to}");
        }
        // a missing curve line
        let no_random: String =
            good.lines().filter(|l| !l.starts_with("curve zplus random")).map(|l| format!("{l}\n")).collect();
        assert!(decode(&fp, &no_random).unwrap_err().to_string().contains("zplus"));
        let mut rng = crate::eval::Rng::new(5);
        for _ in 0..2000 {
            let mut bytes = good.clone().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(bytes.len());
                bytes[i] = b" ,.-\n0123456789eNa\"x"[rng.below(20)];
            }
            let _ = decode(&fp, &String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn the_fingerprint_sees_every_part() {
        let x = Tensor::zeros(crate::tensor::ndarray::IxDyn(&[1, 1, 2, 2]));
        let mut y = x.clone();
        y[[0, 0, 1, 1]] = 1e-30;
        let cfg = EvalConfig {
            methods: vec![Method::Rlrp],
            params: Default::default(),
            perturbation: crate::eval::PerturbationConfig::for_input(&[1, 1, 2, 2]),
            noise_sigmas: vec![1e-3],
            noise_seeds: 5,
            sensitivity_samples: 0,
            sensitivity_radius: 0.2,
            input_range: (0.0, 1.0),
            seed: 0,
            keep_relevance: 0,
            robustness_limit: None,
        };
        let names = vec!["a".to_string()];
        let base = Fingerprint::of_run(b"model", std::slice::from_ref(&x), &names, &cfg, Some(1)).hex();
        assert_eq!(base, Fingerprint::of_run(b"model", std::slice::from_ref(&x), &names, &cfg, Some(1)).hex());
        let mut other_cfg = cfg.clone();
        other_cfg.perturbation.steps += 1;
        for other in [
            Fingerprint::of_run(b"model2", std::slice::from_ref(&x), &names, &cfg, Some(1)),
            Fingerprint::of_run(b"model", &[y], &names, &cfg, Some(1)),
            Fingerprint::of_run(b"model", std::slice::from_ref(&x), &["b".to_string()], &cfg, Some(1)),
            Fingerprint::of_run(b"model", std::slice::from_ref(&x), &names, &other_cfg, Some(1)),
            Fingerprint::of_run(b"model", std::slice::from_ref(&x), &names, &cfg, None),
        ] {
            assert_ne!(other.hex(), base);
        }
    }
}
