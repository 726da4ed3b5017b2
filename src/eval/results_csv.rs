//! `results.csv`, the per-image × method table `rlrp eval` writes (every metric of every input
//! under every method), and its reading back. Reading it back lets `rlrp eval-summary` recompute
//! `summary.md` (means, bootstrap intervals, paired tests) from a kept run without re-running the
//! model: the statistics of the tables need nothing that the file does not hold.
//!
//! The file keeps only the ends of the perturbation curves (`morf_final`, `lerf_final`) and their
//! step count, not the curves themselves, so results read back have curves of `steps + 1` values
//! that are NaN except the last (and no random curve, no relevance): they are fit for
//! [`super::report::summary_markdown`], not for [`super::report::curves_png`] or the grid.
use super::run::{ImageMethodResult, NoiseResult};
use super::{Conservation, MaxSensitivity, PerturbationResult};
use crate::error::{Error, Result};
use crate::method::Method;
use std::fmt::Write;

/// The columns before the robustness ones, in the order they are written.
const LEADING: [&str; 13] = [
    "image",
    "name",
    "method",
    "target",
    "logit",
    "patches",
    "steps",
    "aopc_morf",
    "aopc_lerf",
    "aopc_random",
    "abpc",
    "morf_final",
    "lerf_final",
];
/// The columns after the robustness ones.
const TRAILING: [&str; 6] =
    ["max_sensitivity", "max_sensitivity_relative", "kappa", "l1_over_logit", "non_finite", "explain_ms"];

/// Read-back limits: a results file of more rows, or whose curves would hold more values in all
/// (the read-back curves are `steps + 1` values each, two per row), is refused before allocating.
const MAX_ROWS: usize = 10_000_000;
const MAX_CURVE_VALUES: usize = 1 << 24;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `results.csv`: a header and one row per image × method with every metric (empty = not computed).
pub fn write(results: &[ImageMethodResult]) -> String {
    let sigmas: Vec<f32> = results.first().map(|r| r.noise.iter().map(|n| n.sigma).collect()).unwrap_or_default();
    let mut out = LEADING.join(",");
    for s in &sigmas {
        write!(out, ",noise_{s:e}_mean,noise_{s:e}_max").ok();
    }
    writeln!(out, ",{}", TRAILING.join(",")).ok();
    let f = |v: f64| if v.is_nan() { "NaN".to_string() } else { format!("{v}") };
    for r in results {
        let p = &r.perturbation;
        write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.image,
            field(&r.name),
            r.method.name(),
            r.target,
            r.logit,
            p.patches,
            p.morf.len().saturating_sub(1),
            f(p.aopc_morf),
            f(p.aopc_lerf),
            f(p.aopc_random),
            f(p.abpc),
            p.morf.last().copied().unwrap_or(f32::NAN),
            p.lerf.last().copied().unwrap_or(f32::NAN),
        )
        .ok();
        for i in 0..sigmas.len() {
            match r.noise.get(i) {
                Some(n) => write!(out, ",{},{}", f(n.mean), f(n.max)).ok(),
                None => write!(out, ",,").ok(),
            };
        }
        match r.sensitivity {
            Some(s) => write!(out, ",{},{}", f(s.quantus), f(s.relative)).ok(),
            None => write!(out, ",,").ok(),
        };
        let k = r.conservation.kappa.map(f).unwrap_or_default();
        writeln!(out, ",{k},{},{},{}", f(r.conservation.l1_over_logit), r.conservation.non_finite, f(r.explain_ms))
            .ok();
    }
    out
}

/// The fields of one line, with `"…"` quoting (a doubled quote inside is one quote); None when a
/// quoted field is not closed or is followed by anything but a comma.
fn split_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut value = String::new();
    let mut chars = line.chars().peekable();
    loop {
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        value.push('"');
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
            fields.push(std::mem::take(&mut value));
            match chars.next() {
                None => return Some(fields),
                Some(',') => continue,
                Some(_) => return None,
            }
        }
        loop {
            match chars.next() {
                None => {
                    fields.push(value);
                    return Some(fields);
                }
                Some(',') => {
                    fields.push(std::mem::take(&mut value));
                    break;
                }
                Some(c) => value.push(c),
            }
        }
    }
}

/// One row of the file, with errors that name the line and the column.
struct Row<'a> {
    line: usize,
    header: &'a [String],
    cells: Vec<String>,
}

impl Row<'_> {
    fn error(&self, column: usize, what: &str) -> Error {
        Error::Request(format!("results.csv line {}, column '{}': {what}", self.line, self.header[column]))
    }

    fn text(&self, column: usize) -> &str {
        self.cells[column].trim()
    }

    fn parse<T: std::str::FromStr>(&self, column: usize) -> Result<T> {
        self.text(column).parse().map_err(|_| self.error(column, &format!("'{}' is not a number", self.text(column))))
    }

    /// An empty cell is None (not computed).
    fn optional(&self, column: usize) -> Result<Option<f64>> {
        if self.text(column).is_empty() {
            Ok(None)
        } else {
            self.parse(column).map(Some)
        }
    }
}

/// Where the robustness columns of σ are: (σ, column of the mean, column of the max).
fn noise_columns(header: &[String]) -> Result<Vec<(f32, usize, usize)>> {
    let middle = &header[LEADING.len()..header.len() - TRAILING.len()];
    if !middle.len().is_multiple_of(2) {
        return Err(Error::Request("results.csv: the robustness columns do not come in mean/max pairs".into()));
    }
    middle
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let sigma = pair[0].strip_prefix("noise_").and_then(|s| s.strip_suffix("_mean"));
            let max = sigma.map(|s| format!("noise_{s}_max"));
            match (sigma.and_then(|s| s.parse::<f32>().ok()), max) {
                (Some(s), Some(m)) if m == pair[1] && s.is_finite() && s > 0.0 => {
                    let c = LEADING.len() + 2 * i;
                    Ok((s, c, c + 1))
                }
                _ => Err(Error::Request(format!(
                    "results.csv: expected a noise_<σ>_mean, noise_<σ>_max column pair, found '{}', '{}'",
                    pair[0], pair[1]
                ))),
            }
        })
        .collect()
}

/// Reads back a file [`write`] wrote. Curves come back as `steps + 1` values, NaN but the last (see
/// the module's documentation); an error names the line and column of anything malformed.
pub fn read(text: &str) -> Result<Vec<ImageMethodResult>> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, head) = lines.next().ok_or_else(|| Error::Request("results.csv is empty".into()))?;
    let header: Vec<String> = split_line(head.trim_end_matches('\r'))
        .ok_or_else(|| Error::Request("results.csv: the header line is not valid CSV".into()))?;
    let fits = header.len() >= LEADING.len() + TRAILING.len()
        && header[..LEADING.len()].iter().zip(LEADING).all(|(h, e)| h == e)
        && header[header.len() - TRAILING.len()..].iter().zip(TRAILING).all(|(h, e)| h == e);
    if !fits {
        return Err(Error::Request(format!(
            "results.csv: not a results file of `rlrp eval` (its header starts '{}')",
            header.iter().take(4).cloned().collect::<Vec<_>>().join(",")
        )));
    }
    let noise = noise_columns(&header)?;
    let trailing = header.len() - TRAILING.len();
    let mut out = Vec::new();
    let mut curve_values = 0usize;
    for (index, line) in lines {
        if out.len() >= MAX_ROWS {
            return Err(Error::Request(format!("results.csv has more than {MAX_ROWS} rows")));
        }
        let line_no = index + 1;
        let cells = split_line(line.trim_end_matches('\r'))
            .ok_or_else(|| Error::Request(format!("results.csv line {line_no}: unbalanced quotes")))?;
        if cells.len() != header.len() {
            return Err(Error::Request(format!(
                "results.csv line {line_no}: {} fields where the header has {}",
                cells.len(),
                header.len()
            )));
        }
        let row = Row { line: line_no, header: &header, cells };
        let method = Method::parse(row.text(2)).map_err(|e| row.error(2, &e.to_string()))?;
        let steps: usize = row.parse(6)?;
        curve_values = curve_values.saturating_add(steps.saturating_add(1).saturating_mul(2));
        if curve_values > MAX_CURVE_VALUES {
            return Err(
                row.error(6, &format!("the curves up to here hold more than the {MAX_CURVE_VALUES} values allowed"))
            );
        }
        let curve = |last: f32| {
            let mut c = vec![f32::NAN; steps + 1];
            c[steps] = last;
            c
        };
        let mut noise_results = Vec::new();
        for &(sigma, mean, max) in &noise {
            match (row.optional(mean)?, row.optional(max)?) {
                (Some(mean), Some(max)) => noise_results.push(NoiseResult { sigma, mean, max }),
                (None, None) => {}
                _ => return Err(row.error(mean, "a robustness mean without its max, or the reverse")),
            }
        }
        if !noise_results.is_empty() && noise_results.len() != noise.len() {
            return Err(row.error(LEADING.len(), "robustness results for some σ but not all"));
        }
        let sensitivity = match (row.optional(trailing)?, row.optional(trailing + 1)?) {
            (Some(quantus), Some(relative)) => Some(MaxSensitivity { quantus, relative }),
            (None, None) => None,
            _ => return Err(row.error(trailing, "a max-sensitivity value without its relative one, or the reverse")),
        };
        let image: usize = row.parse(0)?;
        if image >= MAX_ROWS {
            // (the summary indexes images densely: a huge index would be a huge allocation)
            return Err(row.error(0, &format!("image index {image} is beyond the {MAX_ROWS} allowed")));
        }
        out.push(ImageMethodResult {
            image,
            name: row.cells[1].clone(),
            method,
            target: row.parse(3)?,
            logit: row.parse(4)?,
            perturbation: PerturbationResult {
                patches: row.parse(5)?,
                morf: curve(row.parse(11)?),
                lerf: curve(row.parse(12)?),
                random: Vec::new(),
                aopc_morf: row.parse(7)?,
                aopc_lerf: row.parse(8)?,
                aopc_random: row.parse(9)?,
                abpc: row.parse(10)?,
            },
            noise: noise_results,
            sensitivity,
            conservation: Conservation {
                kappa: row.optional(trailing + 2)?,
                l1_over_logit: row.parse(trailing + 3)?,
                non_finite: row.parse(trailing + 4)?,
            },
            explain_ms: row.parse(trailing + 5)?,
            relevance: None,
        });
    }
    if out.is_empty() {
        return Err(Error::Request("results.csv has a header but no rows".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(image: usize, method: Method, name: &str, noise: bool, sensitivity: bool) -> ImageMethodResult {
        let v = image as f64 + method as usize as f64 / 8.0;
        ImageMethodResult {
            image,
            name: name.into(),
            method,
            target: 7 + image,
            logit: 3.25 + image as f32,
            perturbation: PerturbationResult {
                patches: 49,
                morf: vec![3.0, 1.5, 0.1 + v as f32],
                lerf: vec![3.0, 2.5, -0.3],
                random: vec![3.0, 2.0, 0.0],
                aopc_morf: 1.0 / 3.0 + v,
                aopc_lerf: 0.2 * v,
                aopc_random: f64::NAN,
                abpc: 1e-7 - v,
            },
            noise: if noise {
                vec![
                    NoiseResult { sigma: 1e-3, mean: 0.01 * v, max: 0.02 },
                    NoiseResult { sigma: 1e-2, mean: 0.1 * v, max: f64::INFINITY },
                ]
            } else {
                Vec::new()
            },
            sensitivity: sensitivity.then_some(MaxSensitivity { quantus: 0.5 * v, relative: 0.25 }),
            conservation: Conservation {
                kappa: (image != 1).then_some(0.99),
                l1_over_logit: 1.5 + v,
                non_finite: image,
            },
            explain_ms: 12.5,
            relevance: None,
        }
    }

    fn sample() -> Vec<ImageMethodResult> {
        let names = ["a.png", "with,comma \"quoted\".jpg", "npy[2]"];
        let mut rs = Vec::new();
        for (i, name) in names.iter().enumerate() {
            for m in [Method::Rlrp, Method::EpsilonPlusFlat, Method::Gradient] {
                rs.push(result(i, m, name, i < 2, i == 0));
            }
        }
        rs
    }

    #[test]
    fn what_is_read_back_writes_the_same_file_and_the_same_summary() {
        let rs = sample();
        let csv = write(&rs);
        let back = read(&csv).unwrap();
        assert_eq!(back.len(), rs.len());
        assert_eq!(write(&back), csv);
        assert_eq!(back[3].name, "with,comma \"quoted\".jpg");
        assert_eq!(back[0].perturbation.morf.len(), 3);
        assert!(back[0].perturbation.morf[0].is_nan());
        assert_eq!(back[4].conservation.kappa, None);
        assert!(back[0].perturbation.aopc_random.is_nan());
        assert_eq!(back[0].noise[1].max, f64::INFINITY);
        let md = |r: &[ImageMethodResult]| super::super::report::summary_markdown("m.onnx", 3, "rlrp eval", r);
        assert_eq!(md(&back), md(&rs));
    }

    #[test]
    fn crlf_and_a_trailing_blank_line_are_accepted() {
        let csv = write(&sample()).replace('\n', "\r\n") + "\r\n";
        assert_eq!(read(&csv).unwrap().len(), 9);
    }

    /// Random damage (bytes flipped, cut, commas and quotes put in) gives a result or an error,
    /// never a panic or a runaway allocation.
    #[test]
    fn damaged_files_never_panic() {
        let csv = write(&sample());
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let alphabet = b",\"\n\r0123456789.-eE+NaninfINF x";
        for _ in 0..3000 {
            let mut bytes = csv.as_bytes().to_vec();
            for _ in 0..1 + next(4) {
                let at = next(bytes.len());
                match next(4) {
                    0 => bytes[at] = alphabet[next(alphabet.len())],
                    1 => bytes.insert(at, alphabet[next(alphabet.len())]),
                    2 => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let _ = read(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn split_line_handles_quotes_and_empty_fields() {
        let s = |l: &str| split_line(l).map(|v| v.join("|"));
        assert_eq!(s("a,,b,").as_deref(), Some("a||b|"));
        assert_eq!(s("\"x,\"\"y\"\"\",2").as_deref(), Some("x,\"y\"|2"));
        assert_eq!(s(",").as_deref(), Some("|"));
        assert_eq!(s("\"open"), None);
        assert_eq!(s("\"a\"b,c"), None);
    }

    #[test]
    fn malformed_files_are_refused_with_the_line_and_column() {
        let csv = write(&sample());
        let lines: Vec<&str> = csv.lines().collect();
        let with = |i: usize, new: &str| {
            let mut l = lines.clone();
            l[i] = new;
            l.join("\n")
        };
        let message = |text: &str| read(text).unwrap_err().to_string();
        assert!(message("").contains("empty"));
        assert!(message(lines[0]).contains("no rows"));
        assert!(message("a,b,c\n1,2,3").contains("not a results file"));
        let bad_number = lines[1].replacen("3.25", "x3", 1);
        assert!(
            message(&with(1, &bad_number)).contains("line 2, column 'logit'"),
            "{}",
            message(&with(1, &bad_number))
        );
        let bad_method = lines[1].replacen("rlrp", "no-such-method", 1);
        assert!(message(&with(1, &bad_method)).contains("column 'method'"));
        assert!(message(&with(2, "0,a.png,rlrp")).contains("line 3: 3 fields"));
        let huge = lines[1].replacen(",49,2,", ",49,99999999999,", 1);
        assert!(message(&with(1, &huge)).contains("values allowed"), "{}", message(&with(1, &huge)));
        let half_noise = with(0, &lines[0].replace("noise_1e-2_max", "noise_1e-1_max"));
        assert!(message(&half_noise).contains("column pair"));
        let far = lines[1].replacen("0,a.png", "99999999999,a.png", 1);
        assert!(message(&with(1, &far)).contains("column 'image'"), "{}", message(&with(1, &far)));
        let unbalanced = lines[1].replacen("a.png", "\"a.png", 1);
        assert!(message(&with(1, &unbalanced)).contains("unbalanced quotes"));
    }
}
