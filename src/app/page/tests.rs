//! Native tests of the page's state machine: a fake worker answers the requests the state hands
//! out, with the real protocol's responses.
use super::*;
use crate::app::protocol::{f32_bytes, LayerMapInfo, Response, SidecarSource, Stage};
use crate::report::{ClassScore, ModelInfo, Report};
use crate::sidecar::Sidecar;

const W: usize = 4;
const H: usize = 3;

/// The state and a fake worker: every `Send` is accepted with the next id.
struct Page {
    s: PageState,
    next_id: u64,
    /// The id and job of the last request sent.
    last: Option<(u64, Job)>,
}

impl Page {
    fn new() -> Page {
        Page { s: PageState::new(), next_id: 1, last: None }
    }

    /// The effects since the last call; sends are accepted (with a new id).
    fn effects(&mut self) -> Vec<Effect> {
        let fx = self.s.take_effects();
        for e in &fx {
            if let Effect::Send(out) = e {
                let id = self.next_id;
                self.next_id += 1;
                self.s.sent(Ok(id));
                self.last = Some((id, out.job.clone()));
            }
        }
        fx
    }

    /// The jobs sent since the last call.
    fn sent_jobs(&mut self) -> Vec<Job> {
        self.effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::Send(o) => Some(o.job),
                _ => None,
            })
            .collect()
    }

    fn ready(&mut self) -> Vec<Job> {
        assert!(self.s.on_message(self.s.epoch(), 0, Response::Ready, Vec::new()));
        self.sent_jobs()
    }

    fn id(&self) -> u64 {
        self.last.as_ref().expect("something was sent").0
    }

    /// The worker answers the last request; returns the jobs sent next.
    fn answer(&mut self, response: Response, data: Vec<Vec<u8>>) -> Vec<Job> {
        let (epoch, id) = (self.s.epoch(), self.id());
        assert!(self.s.on_message(epoch, id, response, data));
        self.sent_jobs()
    }

    /// The worker does what was asked last (successfully); returns the jobs sent next.
    fn succeed(&mut self) -> Vec<Job> {
        let job = self.last.as_ref().expect("something was sent").1.clone();
        match job {
            Job::LoadModel(_) => self.answer(model_loaded(), Vec::new()),
            Job::SetImage(_) => self.answer(image_ready(), vec![vec![7; W * H * 3]]),
            Job::Explain(_, k) => self.answer(explained(&k), vec![f32_bytes(&[0.5; W * H]), vec![1, 2], vec![0; 8]]),
            Job::Faithfulness(k) => self.answer(faithfulness(&k), Vec::new()),
        }
    }

    fn model(&mut self, name: &str) -> ModelSource {
        ModelSource {
            generation: self.s.new_generation(),
            name: name.into(),
            bundle_id: Some(name.into()),
            onnx: Rc::new(vec![1, 2, 3]),
            external: Rc::default(),
            sidecar: None,
            sidecar_json: None,
            labels: None,
            samples: Vec::new(),
        }
    }

    /// A page whose worker is ready, with model `m1` and image `cat.png` loaded and R-LRP's map of
    /// the predicted class (3) shown.
    fn booted() -> Page {
        let mut p = Page::new();
        assert!(p.ready().is_empty(), "nothing to do without a model");
        let model = p.model("m1");
        p.s.set_sources(Some(model), Some(("cat.png".into(), vec![9, 9], None)));
        let (mg, ig) = (p.model_gen(), p.image_gen());
        assert_eq!(p.sent_jobs(), vec![Job::LoadModel(mg)]);
        assert_eq!(p.succeed(), vec![Job::SetImage(ig)]);
        assert_eq!(p.succeed(), vec![Job::Explain(Slot::Main, p.key(Method::Rlrp))]);
        assert!(p.succeed().is_empty());
        assert!(p.s.main_ready() && p.s.error().is_none() && !p.s.is_busy());
        p
    }

    fn model_gen(&self) -> u64 {
        self.s.desired_model().expect("a model").generation
    }

    fn image_gen(&self) -> u64 {
        self.s.desired_image().expect("an image").generation
    }

    fn key(&self, m: Method) -> ExplainKey {
        self.s.key_for(m).expect("a model and an image")
    }

    fn crash(&mut self, message: &str) -> Vec<Effect> {
        assert!(self.s.on_crash(self.s.epoch(), message.into()));
        self.effects()
    }
}

fn model_loaded() -> Response {
    let info = ModelInfo {
        input_name: "input".into(),
        input_shape: vec![1, 3, H, W],
        output_name: "logits".into(),
        classes: 10,
        opset: 13,
        producer: "test".into(),
        operators: Default::default(),
        weighted_layers: 2,
    };
    Response::ModelLoaded {
        name: "m".into(),
        info,
        sidecar: Sidecar::default_for_input_shape(&[1, 3, H, W]),
        sidecar_source: SidecarSource::Given,
        load_ms: 1.0,
    }
}

fn image_ready() -> Response {
    let score = |class, logit| ClassScore { class, label: None, logit, probability: 0.5 };
    Response::ImageReady {
        name: "cat.png".into(),
        width: W,
        height: H,
        top: vec![score(3, 2.0), score(5, 1.0)],
        classes: 10,
        preprocess_ms: 1.0,
        forward_ms: 2.0,
    }
}

fn explained(k: &ExplainKey) -> Response {
    let report = Report {
        model: "m".into(),
        input_shape: vec![1, 3, H, W],
        method: k.method,
        method_label: k.method.label().into(),
        params: k.params.clone(),
        target: k.target,
        target_label: None,
        logit: 2.0,
        start: 2.0,
        kappa: Some(1.0),
        relevance_sum: 2.0,
        relevance_l1: 2.0,
        non_finite: 0,
        warning: None,
        top: Vec::new(),
        layers: Vec::new(),
        timings: Default::default(),
    };
    let layer = LayerMapInfo { node: "conv1".into(), label: "Conv 1".into(), height: 1, width: 2 };
    Response::Explained { report, width: W, height: H, layer_maps: vec![layer] }
}

fn faithfulness(k: &ExplainKey) -> Response {
    Response::Faithfulness {
        method: k.method,
        target: k.target,
        patch: 1,
        patches: W * H,
        steps: 2,
        points: vec![0, 1, 2],
        complete: true,
        morf: vec![2.0, 1.0, 0.0],
        random: vec![2.0, 1.5, 1.0],
        aopc_morf: 1.0,
        aopc_random: 0.5,
        helper_passes: 0,
    }
}

fn sends(fx: &[Effect]) -> usize {
    fx.iter().filter(|e| matches!(e, Effect::Send(_))).count()
}

#[test]
fn boots_and_shows_the_default_map() {
    let p = Page::booted();
    let main = p.s.main_shown().expect("shown");
    assert_eq!(main.key.target, 3);
    assert_eq!(main.values.len(), W * H);
    assert_eq!(p.s.class_text(), "3");
    assert_eq!(p.s.layer(), Some("conv1"));
    assert_eq!(p.s.image_info().map(|i| i.display.dimensions()), Some((W as u32, H as u32)));
}

#[test]
fn a_crash_replays_model_and_image_and_holds_the_explanation() {
    let mut p = Page::booted();
    let (mg, ig) = (p.model_gen(), p.image_gen());
    p.s.set_method(Method::Gradient);
    assert_eq!(p.sent_jobs(), vec![Job::Explain(Slot::Main, p.key(Method::Gradient))]);
    let epoch = p.s.epoch();
    let fx = p.crash("boom");
    assert!(fx.contains(&Effect::SpawnWorker));
    assert_eq!(sends(&fx), 0, "the new worker is not ready yet");
    assert_eq!(p.s.epoch(), epoch + 1);
    let error =
        "The engine crashed while explaining with Gradient: boom. It was restarted with the previous model and image.";
    assert_eq!(p.s.error(), Some(error));
    assert_eq!(p.s.busy().map(|b| b.stage.as_str()), Some("starting the engine"));
    // the new worker gets the committed model and image again; the error stays (a replay)
    assert_eq!(p.ready(), vec![Job::LoadModel(mg)]);
    assert_eq!(p.succeed(), vec![Job::SetImage(ig)]);
    assert!(p.succeed().is_empty(), "the crashed explanation is held");
    assert_eq!(p.s.error(), Some(error));
    assert!(p.s.held());
    assert_eq!(p.s.settings().method, Method::Gradient);
    p.s.retry();
    assert_eq!(p.sent_jobs(), vec![Job::Explain(Slot::Main, p.key(Method::Gradient))]);
    assert!(p.succeed().is_empty());
    assert_eq!(p.s.main_shown().map(|m| m.key.method), Some(Method::Gradient));
    assert_eq!(p.s.error(), None, "a new result clears the error");
}

#[test]
fn a_restart_for_a_new_choice_replays_then_explains() {
    let mut p = Page::booted();
    let (mg, ig) = (p.model_gen(), p.image_gen());
    p.s.set_method(Method::Gradient);
    assert_eq!(p.sent_jobs().len(), 1);
    p.s.set_method(Method::Epsilon);
    let fx = p.effects();
    assert_eq!(fx, vec![Effect::SpawnWorker], "the request in flight is no longer wanted");
    assert_eq!(p.ready(), vec![Job::LoadModel(mg)]);
    assert_eq!(p.succeed(), vec![Job::SetImage(ig)]);
    assert_eq!(p.succeed(), vec![Job::Explain(Slot::Main, p.key(Method::Epsilon))]);
}

#[test]
fn crashing_more_than_max_crashes_times_in_a_row_stops_restarting() {
    let mut p = Page::booted();
    for _ in 0..MAX_CRASHES {
        let fx = p.crash("oom");
        assert!(fx.contains(&Effect::SpawnWorker));
        assert!(!fx.contains(&Effect::TerminateWorker));
    }
    let fx = p.crash("oom");
    assert!(fx.contains(&Effect::TerminateWorker));
    assert!(!fx.contains(&Effect::SpawnWorker));
    assert_eq!(
        p.s.error(),
        Some("The engine crashed: oom. It keeps crashing, so it was not restarted: reload the page.")
    );
    assert!(p.s.busy().is_none());
    // the terminated worker's start timeout is no new crash
    assert!(!p.s.on_start_timeout(p.s.epoch(), "late".into()));
    assert!(p.effects().is_empty());
}

#[test]
fn a_successful_answer_resets_the_crash_count() {
    let mut p = Page::booted();
    for _ in 0..MAX_CRASHES {
        p.crash("oom");
    }
    assert_eq!(p.ready().len(), 1);
    p.succeed();
    let fx = p.crash("oom");
    assert!(fx.contains(&Effect::SpawnWorker));
}

#[test]
fn a_panic_message_names_the_crash() {
    let mut p = Page::booted();
    let (epoch, id) = (p.s.epoch(), p.id());
    assert!(!p.s.on_message(epoch, id, Response::Panicked { message: "panicked at x.rs:1".into() }, Vec::new()));
    p.crash("unreachable");
    assert!(p.s.error().unwrap().starts_with("The engine crashed: the engine panicked at x.rs:1."));
}

#[test]
fn a_start_timeout_counts_as_a_crash() {
    let mut p = Page::new();
    assert!(p.s.on_start_timeout(1, "the engine's worker did not start within 90 s".into()));
    assert_eq!(p.effects()[1], Effect::SpawnWorker);
    assert!(!p.s.on_start_timeout(1, "old worker".into()), "of an older worker: ignored");
    assert_eq!(p.ready(), Vec::new());
    assert!(!p.s.on_start_timeout(p.s.epoch(), "ready already".into()));
}

#[test]
fn a_failed_new_model_reverts_to_the_committed_model_image_and_method() {
    let mut p = Page::booted();
    let (mg, ig) = (p.model_gen(), p.image_gen());
    p.s.set_method(Method::Gradient);
    assert_eq!(p.sent_jobs().len(), 1);
    let m2 = p.model("m2");
    let g2 = m2.generation;
    p.s.set_sources(Some(m2), None);
    assert_eq!(p.effects(), vec![Effect::SpawnWorker]);
    assert_eq!(p.ready(), vec![Job::LoadModel(g2)]);
    let next = p.answer(Response::Error { message: "unsupported operator Foo".into() }, Vec::new());
    assert_eq!(p.s.error(), Some("unsupported operator Foo"));
    assert_eq!(p.model_gen(), mg);
    assert_eq!(p.image_gen(), ig);
    assert_eq!(p.s.settings().method, Method::Rlrp, "the method of the map on show");
    assert_eq!(p.s.settings().target, Some(3));
    // the worker lost the old model with the restart: it is replayed, and the map is shown as it was
    assert_eq!(next, vec![Job::LoadModel(mg)]);
    assert_eq!(p.succeed(), vec![Job::SetImage(ig)]);
    assert!(p.succeed().is_empty());
    assert!(p.s.main_ready() && !p.s.held());
    assert_eq!(p.s.error(), Some("unsupported operator Foo"), "replays keep the error");
}

/// A class chosen for one model (or pinned by the revert after a failed load) is not carried to
/// the next model, whose classes differ: it explains its own prediction.
#[test]
fn a_new_model_forgets_the_class_chosen_for_the_last_one() {
    let mut p = Page::booted();
    p.s.set_target(7);
    assert_eq!(p.s.settings().target, Some(7));
    let m2 = p.model("m2");
    p.s.set_sources(Some(m2), None);
    assert_eq!(p.s.settings().target, None, "after a bundled model is chosen");
    let mut p = Page::booted();
    p.s.set_target(7);
    p.s.take_files(Some(("mine.onnx".into(), vec![1, 2, 3])), Vec::new(), None, None, None, Vec::new());
    assert_eq!(p.s.settings().target, None, "after a model is dropped");
    // a sidecar alone reloads the same model: its class stays
    let mut p = Page::booted();
    p.s.set_target(7);
    p.s.take_files(None, Vec::new(), Some("{}".into()), None, None, Vec::new());
    assert_eq!(p.s.settings().target, Some(7), "after a sidecar alone");
}

#[test]
fn a_failed_explanation_is_held_until_retry() {
    let mut p = Page::booted();
    p.s.set_method(Method::Gradient);
    let key = p.key(Method::Gradient);
    assert_eq!(p.sent_jobs(), vec![Job::Explain(Slot::Main, key.clone())]);
    assert!(p.answer(Response::Error { message: "no gradient".into() }, Vec::new()).is_empty());
    assert_eq!(p.s.error(), Some("no gradient"));
    assert!(p.s.held());
    assert_eq!(p.s.next_job(), None);
    assert!(!p.s.is_busy());
    p.s.set_class_text("7".into());
    p.s.dismiss_notice();
    assert!(p.sent_jobs().is_empty());
    p.s.retry();
    assert_eq!(p.sent_jobs(), vec![Job::Explain(Slot::Main, key)]);
}

#[test]
fn cancelling_an_explanation_keeps_the_choice_and_holds_it() {
    let mut p = Page::booted();
    let (mg, ig) = (p.model_gen(), p.image_gen());
    p.s.set_method(Method::Gradient);
    let key = p.key(Method::Gradient);
    assert_eq!(p.sent_jobs().len(), 1);
    p.s.cancel(None);
    assert_eq!(p.effects(), vec![Effect::SpawnWorker]);
    assert_eq!(p.s.settings().method, Method::Gradient);
    assert!(p.s.held());
    assert_eq!(
        p.s.notice(),
        Some("Cancelled: explaining with Gradient. Your choice stays selected: press “Explain again” to compute it.")
    );
    assert_eq!(p.ready(), vec![Job::LoadModel(mg)]);
    assert_eq!(p.succeed(), vec![Job::SetImage(ig)]);
    assert!(p.succeed().is_empty(), "next_job skips the held key");
    p.s.retry();
    assert_eq!(p.s.notice(), None);
    assert_eq!(p.sent_jobs(), vec![Job::Explain(Slot::Main, key)]);
}

#[test]
fn cancelling_a_model_load_drops_the_new_model() {
    let mut p = Page::booted();
    let mg = p.model_gen();
    let m2 = p.model("m2");
    p.s.set_sources(Some(m2), None);
    assert_eq!(p.sent_jobs().len(), 1);
    p.s.cancel(None);
    assert_eq!(p.s.notice(), Some("Cancelled: loading the model m2. The previous model and image stay."));
    assert_eq!(p.model_gen(), mg);
    assert_eq!(p.s.desired_model().unwrap().name, "m1");
    assert_eq!(p.effects(), vec![Effect::SpawnWorker]);
    assert_eq!(p.ready(), vec![Job::LoadModel(mg)]);
}

#[test]
fn cancelling_a_download_only_says_so() {
    let mut p = Page::booted();
    p.s.cancel(Some("downloading m2".into()));
    assert_eq!(p.s.notice(), Some("Cancelled: downloading m2."));
    assert!(p.effects().is_empty());
    p.s.cancel(None);
    assert_eq!(p.s.notice(), None);
}

#[test]
fn stale_answers_change_nothing() {
    let mut p = Page::booted();
    p.s.set_method(Method::Gradient);
    assert_eq!(p.sent_jobs().len(), 1);
    let (epoch, id) = (p.s.epoch(), p.id());
    let stale = explained(&p.key(Method::Gradient));
    // an answer to an older request
    assert!(!p.s.on_message(epoch, id - 1, stale.clone(), Vec::new()));
    // an answer of an older worker
    assert!(!p.s.on_message(epoch - 1, id, stale.clone(), Vec::new()));
    assert!(!p.s.on_crash(epoch - 1, "old".into()));
    assert!(p.effects().is_empty());
    assert_eq!(p.s.main_shown().map(|m| m.key.method), Some(Method::Rlrp));
    assert_eq!(p.s.in_flight_job(), Some(&Job::Explain(Slot::Main, p.key(Method::Gradient))));
    assert!(p.s.error().is_none());
}

#[test]
fn an_answer_no_longer_wanted_restarts_and_is_ignored() {
    let mut p = Page::booted();
    p.s.set_method(Method::Gradient);
    assert_eq!(p.sent_jobs().len(), 1);
    let (epoch, id) = (p.s.epoch(), p.id());
    let gradient = p.key(Method::Gradient);
    p.s.set_method(Method::Epsilon);
    assert_eq!(p.effects(), vec![Effect::SpawnWorker]);
    assert_eq!(p.s.busy().map(|b| b.stage.as_str()), Some("starting the engine"));
    // the Gradient map arrives from the stopped worker
    assert!(!p.s.on_message(epoch, id, explained(&gradient), vec![f32_bytes(&[1.0; W * H])]));
    assert_eq!(p.s.main_shown().map(|m| m.key.method), Some(Method::Rlrp));
}

#[test]
fn progress_is_redrawn_in_steps() {
    let mut p = Page::booted();
    p.s.set_method(Method::Gradient);
    p.sent_jobs();
    let (epoch, id) = (p.s.epoch(), p.id());
    let progress = |done| Response::Progress { stage: Stage::Relevance, done, total: 100 };
    assert!(p.s.on_message(epoch, id, progress(0), Vec::new()), "a new stage label");
    assert!(!p.s.on_message(epoch, id, progress(1), Vec::new()), "within 2 %");
    assert!(p.s.on_message(epoch, id, progress(2), Vec::new()));
    assert_eq!(p.s.busy().map(|b| b.stage.as_str()), Some("relevance 2/100"));
    assert!(!p.s.on_message(epoch, id + 1, progress(50), Vec::new()), "of another request");
}

#[test]
fn compared_methods_are_explained_in_the_order_picked() {
    let mut p = Page::booted();
    assert!(!p.s.toggle_compare(Method::Rlrp), "the main method is not compared");
    assert!(p.s.toggle_compare(Method::Gradient));
    let fx = p.effects();
    assert_eq!(fx[0], Effect::Repaint);
    assert_eq!(sends(&fx), 1);
    assert!(p.s.toggle_compare(Method::Epsilon));
    assert!(p.s.toggle_compare(Method::Zplus));
    assert!(p.sent_jobs().is_empty(), "the first compared map is still being computed");
    assert!(!p.s.toggle_compare(Method::Flat), "at most MAX_COMPARE");
    assert_eq!(p.s.settings().compare, vec![Method::Gradient, Method::Epsilon, Method::Zplus]);
    assert_eq!(p.succeed(), vec![Job::Explain(Slot::Compare, p.key(Method::Epsilon))]);
    assert_eq!(p.succeed(), vec![Job::Explain(Slot::Compare, p.key(Method::Zplus))]);
    assert!(p.succeed().is_empty());
    for i in 0..MAX_COMPARE {
        assert_eq!(p.s.compare_shown(i).map(|c| c.key.method), Some(p.s.settings().compare[i]));
    }
    // removing one drops its map
    assert!(p.s.toggle_compare(Method::Epsilon));
    assert_eq!(p.effects(), vec![Effect::Repaint]);
    assert_eq!(p.s.compare_shown(1).map(|c| c.key.method), Some(Method::Zplus));
}

#[test]
fn faithfulness_runs_on_every_map_shown_and_stops_when_one_changes() {
    let mut p = Page::booted();
    p.s.toggle_compare(Method::Gradient);
    p.effects();
    assert!(p.succeed().is_empty());
    let (main, gradient) = (p.key(Method::Rlrp), p.key(Method::Gradient));
    p.s.run_faithfulness();
    assert_eq!(p.s.faith_requested(), &[main.clone(), gradient.clone()]);
    assert_eq!(p.sent_jobs(), vec![Job::Faithfulness(main.clone())]);
    assert_eq!(p.succeed(), vec![Job::Faithfulness(gradient.clone())]);
    assert_eq!(p.s.faith().len(), 1);
    // a shown method changes while the second run is in flight: it stops, and the page says so
    p.s.set_method(Method::Epsilon);
    assert_eq!(p.s.notice(), Some("Pixel flipping stopped: the maps it was measuring are no longer on show."));
    assert_eq!(p.s.faith_requested(), &[gradient]);
    assert_eq!(p.effects(), vec![Effect::SpawnWorker]);
    assert_eq!(p.ready().len(), 1);
    assert_eq!(p.succeed().len(), 1);
    assert_eq!(p.succeed(), vec![Job::Explain(Slot::Main, p.key(Method::Epsilon))]);
    // the Gradient map is still on show: its run, still asked for, goes on after the new map
    assert_eq!(p.succeed(), vec![Job::Faithfulness(p.key(Method::Gradient))]);
}

/// A coarse look at pixel flipping's curves (every other step).
fn coarse_faithfulness(k: &ExplainKey) -> Response {
    match faithfulness(k) {
        Response::Faithfulness { method, target, patch, patches, steps, .. } => Response::Faithfulness {
            method,
            target,
            patch,
            patches,
            steps,
            points: vec![0, 2],
            complete: false,
            morf: vec![2.0, 0.0],
            random: vec![2.0, 1.0],
            aopc_morf: 1.0,
            aopc_random: 0.5,
            helper_passes: 0,
        },
        other => other,
    }
}

#[test]
fn a_coarse_look_at_pixel_flipping_shows_while_the_run_goes_on() {
    let mut p = Page::booted();
    let main = p.key(Method::Rlrp);
    p.s.run_faithfulness();
    assert_eq!(p.sent_jobs(), vec![Job::Faithfulness(main.clone())]);
    let (epoch, id) = (p.s.epoch(), p.id());
    assert!(p.s.on_message(epoch, id, coarse_faithfulness(&main), Vec::new()), "redrawn");
    assert!(p.sent_jobs().is_empty(), "the run goes on: nothing else is sent, and nothing restarts");
    assert_eq!(p.s.in_flight_job(), Some(&Job::Faithfulness(main.clone())));
    assert_eq!(p.s.faith().len(), 1);
    assert!(!p.s.faith()[0].complete && p.s.faith()[0].points == vec![0, 2]);
    // the final answer replaces it
    assert!(p.succeed().is_empty());
    assert!(p.s.faith()[0].complete && p.s.faith()[0].points == vec![0, 1, 2]);
    assert!(p.s.in_flight_job().is_none());
    // a coarse look whose points do not fit its curves is ignored
    let mut q = Page::booted();
    q.s.run_faithfulness();
    q.sent_jobs();
    let bad = match coarse_faithfulness(&main) {
        Response::Faithfulness { method, target, patch, patches, steps, points, aopc_morf, aopc_random, .. } => {
            let (morf, random) = (vec![1.0; 3], vec![1.0; 2]);
            Response::Faithfulness {
                method,
                target,
                patch,
                patches,
                steps,
                points,
                complete: false,
                morf,
                random,
                aopc_morf,
                aopc_random,
                helper_passes: 0,
            }
        }
        other => other,
    };
    let (epoch, id) = (q.s.epoch(), q.id());
    assert!(!q.s.on_message(epoch, id, bad, Vec::new()));
    assert!(q.s.faith().is_empty() && q.s.in_flight_job().is_some());
    // cancelled after its coarse look: the unfinished run goes
    assert!(q.s.on_message(epoch, id, coarse_faithfulness(&main), Vec::new()));
    q.s.cancel(None);
    assert!(q.s.faith().is_empty(), "a coarse look that will not be refined is not kept");
    assert_eq!(q.s.notice(), Some("Cancelled: pixel flipping."));
}

#[test]
fn a_send_that_fails_says_why_and_is_not_in_flight() {
    let mut p = Page::new();
    p.ready();
    let model = p.model("m1");
    p.s.set_sources(Some(model), None);
    let fx = p.s.take_effects();
    assert_eq!(sends(&fx), 1);
    p.s.sent(Err("the engine is not running".into()));
    assert_eq!(p.s.error(), Some("the engine is not running"));
    assert!(p.s.in_flight_job().is_none() && !p.s.is_busy());
}

#[test]
fn a_new_image_resets_the_class_and_repaints() {
    let mut p = Page::booted();
    p.s.set_target(5);
    assert_eq!(p.sent_jobs(), vec![Job::Explain(Slot::Main, p.key(Method::Rlrp))]);
    assert_eq!(p.s.main_key().unwrap().target, 5);
    p.succeed();
    p.s.set_sources(None, Some(("dog.png".into(), vec![1], None)));
    assert_eq!(p.s.settings().target, None);
    assert_eq!(p.sent_jobs(), vec![Job::SetImage(p.image_gen())]);
    let next = p.succeed();
    assert!(p.last.is_some());
    assert_eq!(next, vec![Job::Explain(Slot::Main, p.key(Method::Rlrp))]);
    assert_eq!(p.s.main_key().unwrap().target, 3, "the predicted class");
}
