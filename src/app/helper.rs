//! The helper worker's state: a logits-only plan of the engine worker's model and the pixel-flipping
//! passes it was asked for, computed one at a time (the glue in [`super::worker`] posts each pass's
//! claim and logits and yields between passes, so that a `Stop`, a new job or the engine's `Done`
//! gets in: passes the engine's worker has are skipped). Plain Rust, tested natively. RLRP.md has
//! no section here: this only shares the page's faithfulness measurement ([`super::flipping`])
//! between two workers.
use super::protocol::{f32_bytes, f32_values, HelperPass, HelperReply, HelperRequest};
use crate::budget;
use crate::error::{Error, Result};
use crate::eval::perturbation::perturbed;
use crate::forward::incremental::{spec::IncrementalSpec, IncrementalLogits};
use crate::model::incremental_logits_from_bytes;
use crate::tensor::Tensor;

/// A message to post and its byte payloads.
pub type Post = (HelperReply, Vec<Vec<u8>>);

/// A job's passes, worked through in order.
struct Job {
    id: u64,
    input: Tensor,
    fill: Tensor,
    patch: usize,
    orders: Vec<Vec<usize>>,
    passes: Vec<HelperPass>,
    next: usize,
    /// Passes the engine's worker has (its `Done` messages), skipped here.
    done: std::collections::HashSet<usize>,
}

impl Job {
    /// Moves `next` past the passes the engine's worker has.
    fn skip_done(&mut self) {
        while self.passes.get(self.next).is_some_and(|p| self.done.contains(&p.index)) {
            self.next += 1;
        }
    }
}

/// The helper's state: the model it was last sent, and the job in hand.
#[derive(Default)]
pub struct Helper {
    model: Option<(u64, IncrementalLogits)>,
    job: Option<Job>,
}

impl Helper {
    pub fn new() -> Helper {
        Helper::default()
    }

    /// Takes a request from the engine's worker; returns what to post at once (a job it cannot
    /// take), if anything.
    pub fn take(&mut self, request: HelperRequest, data: Vec<Vec<u8>>) -> Option<Post> {
        match request {
            HelperRequest::Done { job, index } => {
                if let Some(j) = self.job.as_mut().filter(|j| j.id == job) {
                    // only the job's own passes: a confused engine cannot grow the set
                    if j.passes.iter().any(|p| p.index == index) {
                        j.done.insert(index);
                    }
                }
                None
            }
            HelperRequest::Stop { job } => {
                if self.job.as_ref().is_some_and(|j| j.id == job) {
                    self.job = None;
                }
                None
            }
            HelperRequest::Job { job, .. } => {
                self.job = None;
                match self.start(request, data) {
                    Ok(()) => None,
                    Err(e) => Some((HelperReply::Failed { job, message: e.to_string() }, Vec::new())),
                }
            }
        }
    }

    fn start(&mut self, request: HelperRequest, mut data: Vec<Vec<u8>>) -> Result<()> {
        let HelperRequest::Job {
            job,
            model,
            input_shape,
            output,
            classes,
            patch,
            orders,
            passes,
            crop_names,
            crop_numbers,
        } = request
        else {
            return Ok(());
        };
        let elements =
            budget::tensor_elements("pixel flipping's input", &input_shape).map_err(budget::budget_error)? as usize;
        if data.len() < 2 {
            return Err(Error::Request("a helper job needs the input and the fill".into()));
        }
        let tensor = |bytes: &[u8], what: &str| -> Result<Tensor> {
            let values = f32_values(bytes);
            if values.len() != elements || bytes.len() != 4 * elements {
                return Err(Error::Request(format!("{what} has {} bytes for shape {input_shape:?}", bytes.len())));
            }
            Tensor::from_shape_vec(input_shape.clone(), values).map_err(|e| Error::Request(format!("{what}: {e}")))
        };
        let input = tensor(&data[0], "the input")?;
        let fill = tensor(&data[1], "the fill")?;
        if let Some(bytes) = data.get_mut(2) {
            self.model = None; // the old plan's memory first
            let spec = IncrementalSpec::from_wire(&crop_names, &crop_numbers);
            let plan = incremental_logits_from_bytes(bytes, &input_shape, &output, classes, spec)?;
            self.model = Some((model, plan));
        }
        match &self.model {
            Some((held, _)) if *held == model => {}
            _ => return Err(Error::Request(format!("the helper was not sent model {model}"))),
        }
        if let Some(bad) = passes.iter().find(|p| orders.get(p.order).is_none_or(|o| p.k > o.len())) {
            return Err(Error::Request(format!("pass {} asks for step {} of order {}", bad.index, bad.k, bad.order)));
        }
        self.job = Some(Job { id: job, input, fill, patch, orders, passes, next: 0, done: Default::default() });
        Ok(())
    }

    /// How many passes of the model it holds were cropped around their change so far.
    pub fn cropped_passes(&self) -> usize {
        self.model.as_ref().map_or(0, |(_, plan)| plan.cropped_passes())
    }

    /// Whether a pass is waiting to be computed.
    pub fn busy(&self) -> bool {
        self.job.as_ref().is_some_and(|j| j.passes[j.next..].iter().any(|p| !j.done.contains(&p.index)))
    }

    /// The claim on the pass [`Helper::step`] computes next (to post before computing it), if any.
    pub fn claim(&mut self) -> Option<Post> {
        let job = self.job.as_mut()?;
        job.skip_done();
        let pass = job.passes.get(job.next)?;
        Some((HelperReply::Taking { job: job.id, index: pass.index }, Vec::new()))
    }

    /// Computes the job's next pass (skipping those the engine's worker has): its logits, or the
    /// job's failure (which ends it).
    pub fn step(&mut self) -> Option<Post> {
        let job = self.job.as_mut()?;
        job.skip_done();
        let pass = *job.passes.get(job.next)?;
        job.next += 1;
        let id = job.id;
        let logits = self.pass(pass);
        Some(match logits {
            Ok(logits) => (HelperReply::Logits { job: id, index: pass.index }, vec![f32_bytes(&logits)]),
            Err(e) => {
                self.job = None;
                (HelperReply::Failed { job: id, message: e.to_string() }, Vec::new())
            }
        })
    }

    fn pass(&self, pass: HelperPass) -> Result<Vec<f32>> {
        let (Some(job), Some((_, plan))) = (&self.job, &self.model) else {
            return Err(Error::Request("no job".into()));
        };
        let x = perturbed(&job.input, &job.fill, &job.orders[pass.order], job.patch, pass.k)?;
        plan.run(&x)
    }
}
