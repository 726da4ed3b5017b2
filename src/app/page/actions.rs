//! The user's actions: new sources, method settings, compared methods, pixel flipping, retry,
//! and the texts of the status region. Each one that changes what the page wants ends in
//! `after_change` ([`super::plan`]).
use super::{param_texts, ExplainKey, ImageSource, ModelSource, PageState, Param};
use crate::method::Method;
use crate::sidecar::Sidecar;
use std::rc::Rc;

impl PageState {
    /// Wants a new model and/or a new image (name, bytes, sample URL). A new image resets the
    /// target class to the predicted one.
    pub fn set_sources(&mut self, model: Option<ModelSource>, image: Option<(String, Vec<u8>, Option<String>)>) {
        if let Some(model) = model {
            self.set_new_model(model);
        }
        if let Some((name, bytes, url)) = image {
            self.set_desired_image(name, bytes, url);
        }
        self.after_change();
    }

    /// Another model: its classes are not the last one's, so the class chosen (or pinned by a
    /// revert) for that one goes; the new model's prediction is explained.
    fn set_new_model(&mut self, model: ModelSource) {
        self.desired_model = Some(Rc::new(model));
        self.settings.target = None;
    }

    fn set_desired_image(&mut self, name: String, bytes: Vec<u8>, url: Option<String>) {
        let generation = self.new_generation();
        self.desired_image = Some(Rc::new(ImageSource { generation, name, bytes: Rc::new(bytes), url }));
        self.settings.target = None;
    }

    /// Dropped, pasted or picked files: a model (name, bytes) with its sidecar, labels and
    /// `external` files (its external data), or a sidecar or labels alone (the current model is
    /// reloaded with them), and/or an image.
    #[allow(clippy::too_many_arguments)]
    pub fn take_files(
        &mut self,
        model: Option<(String, Vec<u8>)>,
        external: Vec<(String, Vec<u8>)>,
        sidecar_json: Option<String>,
        labels: Option<String>,
        image: Option<(String, Vec<u8>)>,
        errors: Vec<String>,
    ) {
        let errors = errors.join("; ");
        let mut changed = false;
        if let Some((name, bytes)) = model {
            let model = ModelSource {
                generation: self.new_generation(),
                name,
                bundle_id: None,
                onnx: Rc::new(bytes),
                external: Rc::new(external),
                sidecar: None,
                sidecar_json,
                labels,
                samples: Vec::new(),
            };
            self.set_new_model(model);
            changed = true;
        } else if sidecar_json.is_some() || labels.is_some() {
            // a sidecar or labels alone: reload the current model with them
            match self.desired_model.clone() {
                Some(m) => {
                    let sidecar_given = sidecar_json.is_some();
                    let model = ModelSource {
                        generation: self.new_generation(),
                        name: m.name.clone(),
                        bundle_id: m.bundle_id.clone(),
                        onnx: m.onnx.clone(),
                        external: m.external.clone(),
                        sidecar: if sidecar_given { None } else { m.sidecar.clone() },
                        sidecar_json: sidecar_json.or_else(|| m.sidecar_json.clone()),
                        labels: labels.or_else(|| m.labels.clone()),
                        samples: m.samples.clone(),
                    };
                    self.desired_model = Some(Rc::new(model));
                    changed = true;
                }
                None => {
                    self.error =
                        Some("a sidecar or labels file needs a model: drop it together with the .onnx file".into())
                }
            }
        }
        if let Some((name, bytes)) = image {
            self.set_desired_image(name, bytes, None);
            changed = true;
        }
        if !errors.is_empty() {
            self.error = Some(errors);
        }
        if changed {
            self.after_change();
        }
    }

    /// Reloads the current model with the preprocessing of the form.
    pub fn apply_sidecar(&mut self, sidecar: Sidecar) {
        if let Some(m) = self.desired_model.clone() {
            let model = ModelSource {
                generation: self.new_generation(),
                name: m.name.clone(),
                bundle_id: m.bundle_id.clone(),
                onnx: m.onnx.clone(),
                external: m.external.clone(),
                sidecar: Some(sidecar),
                sidecar_json: None,
                labels: None,
                samples: m.samples.clone(),
            };
            self.desired_model = Some(Rc::new(model));
            self.after_change();
        }
    }

    pub fn set_method(&mut self, m: Method) {
        self.settings.method = m;
        self.after_change();
    }

    pub fn set_param_text(&mut self, p: Param, text: String) {
        self.param_text[p.index()] = text;
    }

    /// Takes the text of a parameter input (α and β keep α − β = 1).
    pub fn commit_param(&mut self, p: Param) {
        let text = self.param_text[p.index()].trim().to_string();
        let Ok(v) = text.parse::<f32>() else {
            self.error = Some(format!("{}: '{text}' is not a number", p.name()));
            return;
        };
        if p.get(&self.settings.params) == v {
            return;
        }
        let mut params = self.settings.params.clone();
        p.set(&mut params, v);
        // keep α − β = 1 (the rule conserves relevance only then)
        match p {
            Param::Alpha => params.beta = v - 1.0,
            Param::Beta => params.alpha = v + 1.0,
            _ => {}
        }
        if let Err(e) = params.validate() {
            self.error = Some(e.to_string());
            return;
        }
        self.settings.params = params;
        self.param_text = param_texts(&self.settings.params);
        self.after_change();
    }

    /// Explains class `c` (a click on one of the top classes).
    pub fn set_target(&mut self, c: usize) {
        self.settings.target = Some(c);
        self.class_text = c.to_string();
        self.after_change();
    }

    pub fn set_class_text(&mut self, text: String) {
        self.class_text = text;
    }

    /// Explains the class typed in the class input, if the model has it.
    pub fn class_go(&mut self) {
        let classes = self.image_info.as_ref().map(|i| i.classes).unwrap_or(0);
        match self.class_text.trim().parse::<usize>() {
            Ok(c) if c < classes => {
                self.settings.target = Some(c);
                self.after_change();
            }
            Ok(c) => {
                self.error = Some(format!(
                    "class {c} does not exist: the model has {classes} classes (0–{})",
                    classes.saturating_sub(1)
                ))
            }
            Err(_) => self.error = Some(format!("'{}' is not a class index", self.class_text.trim())),
        }
    }

    /// Adds or removes a compared method; returns whether anything changed.
    pub fn toggle_compare(&mut self, m: Method) -> bool {
        if !self.settings.toggle_compare(m) {
            return false;
        }
        let wanted = &self.settings.compare;
        self.compare.retain(|c| wanted.contains(&c.key.method));
        self.effects.push(super::Effect::Repaint);
        self.after_change();
        true
    }

    /// Runs again the explanations that were cancelled or failed.
    pub fn retry(&mut self) {
        self.failed_main = None;
        self.failed_compare.clear();
        self.after_change();
    }

    /// Runs pixel flipping on every map on show.
    pub fn run_faithfulness(&mut self) {
        let keys: Vec<ExplainKey> = self.shown_keys();
        if !keys.is_empty() {
            self.faith_requested = keys;
            self.after_change();
        }
    }

    /// Shows the layer map of `node`.
    pub fn set_layer(&mut self, node: String) {
        self.layer = Some(node);
        self.effects.push(super::Effect::Repaint);
    }

    pub fn show_error(&mut self, message: String) {
        self.error = Some(message);
    }

    pub fn dismiss_error(&mut self) {
        self.error = None;
    }

    pub fn dismiss_notice(&mut self) {
        self.notice = None;
    }
}
