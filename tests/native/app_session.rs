//! The browser worker's logic ([`rlrp::app::session::Session`]), run natively: the replies the page
//! gets for real models and images, golden-checked, and the state kept across failed requests.
use crate::common;

use common::{npy, read, rel_l1};
use rlrp::app::protocol::{f32_values, Request, Response, SidecarSource, Stage};
use rlrp::app::session::{Reply, Session};
use rlrp::relevance::{Method, MethodParams};

const MODEL: &str = "mnist_resnet_mini_fp32_opset13";
const DIGIT: &str = "mnist_test_00000_label7";

fn sidecar_json(model: &str) -> String {
    std::fs::read_to_string(format!("{}/models/{model}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn send(s: &mut Session, request: Request, data: Vec<Vec<u8>>) -> (Reply, Vec<(Stage, usize, usize)>) {
    let mut seen = Vec::new();
    let clock = || 0.0;
    let reply = s.handle(request, data, &clock, &mut |stage, done, total| {
        seen.push((stage, done, total));
        true
    });
    (reply, seen)
}

/// Pixel flipping's request, with the interim answers it gave before its reply, each with the
/// number of progress reports before it.
#[allow(clippy::type_complexity)]
fn flip(
    s: &mut Session,
    method: Method,
    target: Option<usize>,
) -> (Reply, Vec<(Stage, usize, usize)>, Vec<(usize, Response)>) {
    let seen = std::cell::RefCell::new(Vec::new());
    let mut interim = Vec::new();
    let clock = || 0.0;
    let request = Request::Faithfulness { method, params: MethodParams::default(), target };
    let reply = s.handle_with_interim(
        request,
        vec![],
        &clock,
        &mut |stage, done, total| {
            seen.borrow_mut().push((stage, done, total));
            true
        },
        &mut |r| interim.push((seen.borrow().len(), r)),
    );
    (reply, seen.into_inner(), interim)
}

/// The (points, morf, random, complete) of a pixel-flipping answer.
fn curves(r: &Response) -> (Vec<usize>, Vec<f32>, Vec<f32>, bool) {
    let Response::Faithfulness { points, morf, random, complete, .. } = r else { panic!("{r:?}") };
    (points.clone(), morf.clone(), random.clone(), *complete)
}

fn load(s: &mut Session, model: &str) -> Reply {
    let request = Request::LoadModel {
        external: Vec::new(),
        name: model.into(),
        sidecar: None,
        sidecar_json: Some(sidecar_json(model)),
        labels: None,
    };
    send(s, request, vec![read(&format!("models/{model}.onnx"))]).0
}

fn set_image(s: &mut Session, file: &str) -> Reply {
    send(s, Request::SetImage { name: file.into() }, vec![read(&format!("images/{file}"))]).0
}

fn explain(s: &mut Session, method: Method, target: Option<usize>) -> (Reply, Vec<(Stage, usize, usize)>) {
    send(s, Request::Explain { method, params: MethodParams::default(), target }, vec![])
}

fn error_of(r: &Reply) -> String {
    match &r.response {
        Response::Error { message } => message.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn explains_a_digit_like_the_oracle() {
    let mut s = Session::new();
    match load(&mut s, MODEL).response {
        Response::ModelLoaded { sidecar_source, info, .. } => {
            assert_eq!(sidecar_source, SidecarSource::File);
            assert_eq!(info.classes, 10);
        }
        other => panic!("{other:?}"),
    }
    let r = set_image(&mut s, &format!("{DIGIT}.png"));
    match &r.response {
        Response::ImageReady { width, height, top, classes, .. } => {
            assert_eq!((*width, *height, *classes), (28, 28, 10));
            assert_eq!(top.len(), 5);
            assert_eq!(top[0].class, 7, "the digit is a 7");
            assert_eq!(top[0].label.as_deref(), Some("7"));
            assert_eq!(r.data[0].len(), 28 * 28 * 3, "RGB display image");
        }
        other => panic!("{other:?}"),
    }
    let (r, progress) = explain(&mut s, Method::Rlrp, None);
    let Response::Explained { report, width, height, layer_maps } = &r.response else { panic!("{:?}", r.response) };
    assert_eq!((*width, *height, report.target), (28, 28, 7));
    // data[1] is the input relevance as .npy: the oracle's map for this digit.
    let relevance = rlrp::npy::read_npy(&r.data[1]).unwrap();
    let golden = npy(&format!("golden/mnist_resnet_mini/{DIGIT}__rlrp.npy"));
    assert!(rel_l1(&relevance, &golden) < 1e-4, "rel L1 {}", rel_l1(&relevance, &golden));
    // data[0] is its channel sum (one channel here).
    let values = f32_values(&r.data[0]);
    assert_eq!(values.len(), 28 * 28);
    assert!(values.iter().zip(relevance.iter()).all(|(a, b)| (a - b).abs() <= 1e-6 * b.abs().max(1.0)));
    // One layer map per data payload after the first two, with its announced size.
    assert_eq!(r.data.len(), 2 + layer_maps.len());
    assert!(!layer_maps.is_empty());
    for (info, bytes) in layer_maps.iter().zip(&r.data[2..]) {
        assert_eq!(bytes.len(), 4 * info.height * info.width, "{}", info.node);
    }
    // Progress: relevance k of n, ending at n of n.
    let rel: Vec<_> = progress.iter().filter(|p| p.0 == Stage::Relevance).collect();
    assert!(!rel.is_empty());
    let (_, done, total) = rel.last().unwrap();
    assert_eq!(done, total);
    // κ = ΣR / f_c(x) (RLRP.md), as the oracle's map gives it.
    let kappa = golden.iter().map(|&v| v as f64).sum::<f64>() / report.logit as f64;
    assert!(report.kappa.is_some_and(|k| (k - kappa).abs() < 1e-4 * kappa.abs()), "κ {:?} vs {kappa}", report.kappa);
}

#[test]
fn another_class_and_pixel_flipping() {
    let mut s = Session::new();
    load(&mut s, MODEL);
    set_image(&mut s, &format!("{DIGIT}.png"));
    let (r, _) = explain(&mut s, Method::EpsilonPlusFlat, Some(3));
    let Response::Explained { report, .. } = &r.response else { panic!("{:?}", r.response) };
    assert_eq!(report.target, 3);
    let (r, progress, interim) = flip(&mut s, Method::Rlrp, None);
    let Response::Faithfulness { target, patch, patches, steps, points, complete, aopc_morf, aopc_random, .. } =
        r.response.clone()
    else {
        panic!("{:?}", r.response)
    };
    let (_, morf, random, _) = curves(&r.response);
    assert_eq!((target, patch, patches, steps), (7, 4, 49, 49));
    assert_eq!((morf.len(), random.len(), points, complete), (50, 50, (0..50).collect(), true));
    assert_eq!(morf[0], random[0], "both curves start at the clean logit");
    // R-LRP's most relevant patches first must hurt the logit more than a random order does.
    assert!(aopc_morf > aopc_random, "AOPC MoRF {aopc_morf} ≤ random {aopc_random}");
    let flips = progress.iter().filter(|p| p.0 == Stage::Faithfulness && p.2 > 1).count();
    assert_eq!(
        flips,
        3 * 49,
        "49 steps of MoRF and of 2 random orders (the clean input's logits are the explanation's)"
    );
    // First a coarse look: every 9th step (and the last) of the same curve, before the rest.
    assert_eq!(interim.len(), 1);
    let (points, coarse_morf, coarse_random, complete) = curves(&interim[0].1);
    assert_eq!(points, vec![0, 9, 18, 27, 36, 45, 49]);
    assert!(!complete);
    assert_eq!(coarse_morf, points.iter().map(|&k| morf[k]).collect::<Vec<_>>(), "the final curve at those steps");
    assert_eq!(coarse_random.len(), points.len());
    assert_eq!(coarse_random[0], random[0]);
    let passes_before = progress[..interim[0].0].iter().filter(|p| p.0 == Stage::Faithfulness && p.2 > 1).count();
    assert_eq!(passes_before, 12, "the coarse look after 12 passes: 6 steps of two curves");

    // Another method on the same image and class: the random-order curve (which does not depend on
    // the method) is reused, so only the 50 most-relevant-first passes run.
    let (r2, progress, interim) = flip(&mut s, Method::EpsilonPlusFlat, Some(7));
    let (_, morf2, random2, _) = curves(&r2.response);
    assert_eq!(random2, random, "the random curve is the cached one");
    let (points, coarse_morf, coarse_random, _) = curves(&interim[0].1);
    let passes_before = progress[..interim[0].0].iter().filter(|p| p.0 == Stage::Faithfulness && p.2 > 1).count();
    assert_eq!(passes_before, 6, "with the random curve cached, the coarse look after 6 passes");
    assert_eq!(coarse_random, points.iter().map(|&k| random[k]).collect::<Vec<_>>(), "the cached random curve");
    assert_eq!(coarse_morf, points.iter().map(|&k| morf2[k]).collect::<Vec<_>>());
    assert_eq!(morf2[0], morf[0], "the same clean logit");
    assert_ne!(morf2, morf, "another method, another order");
    let flips = progress.iter().filter(|p| p.0 == Stage::Faithfulness && p.2 > 1).count();
    assert_eq!(flips, 49, "only the most-relevant-first curve is computed");
    // Another class of the same image: the random orders' passes kept every class's logit, so
    // again only the most-relevant-first curve runs, and the random curve is the one a session
    // that never flipped class 7 computes for class 3.
    let (r3, progress, _) = flip(&mut s, Method::Rlrp, Some(3));
    let flips = progress.iter().filter(|p| p.0 == Stage::Faithfulness && p.2 > 1).count();
    assert_eq!(flips, 49, "another class: only its most-relevant-first curve is computed");
    let (_, morf3, random3, _) = curves(&r3.response);
    let mut fresh = Session::new();
    load(&mut fresh, MODEL);
    set_image(&mut fresh, &format!("{DIGIT}.png"));
    let (rf, progress, _) = flip(&mut fresh, Method::Rlrp, Some(3));
    assert_eq!(progress.iter().filter(|p| p.0 == Stage::Faithfulness && p.2 > 1).count(), 3 * 49);
    let (_, morf_fresh, random_fresh, _) = curves(&rf.response);
    assert_eq!(random3, random_fresh, "class 3's random curve, from the kept logits");
    assert_eq!(morf3, morf_fresh);
    assert_ne!(random3, random, "another class, another curve");
    assert_eq!(random3[0], morf3[0], "both start at class 3's clean logit");
    // A new image forgets it.
    set_image(&mut s, &format!("{DIGIT}.png"));
    let (_, progress) = send(
        &mut s,
        Request::Faithfulness { method: Method::Rlrp, params: MethodParams::default(), target: Some(7) },
        vec![],
    );
    assert_eq!(progress.iter().filter(|p| p.0 == Stage::Faithfulness && p.2 > 1).count(), 3 * 49);
}

#[test]
fn cancelling_pixel_flipping_stops_it() {
    let mut s = Session::new();
    load(&mut s, MODEL);
    set_image(&mut s, &format!("{DIGIT}.png"));
    let clock = || 0.0;
    let request = Request::Faithfulness { method: Method::Rlrp, params: MethodParams::default(), target: None };
    let mut calls = 0;
    let r = s.handle(request, vec![], &clock, &mut |stage, _, _| {
        calls += 1;
        stage != Stage::Faithfulness || calls < 10
    });
    assert!(error_of(&r).contains("cancel"), "{}", error_of(&r));
    // The session still works.
    assert!(matches!(explain(&mut s, Method::Rlrp, None).0.response, Response::Explained { .. }));
}

#[test]
fn failures_leave_the_state_usable() {
    let mut s = Session::new();
    // Nothing loaded yet.
    assert!(error_of(&set_image(&mut s, &format!("{DIGIT}.png"))).contains("no model"));
    assert!(error_of(&explain(&mut s, Method::Rlrp, None).0).contains("no model"));
    load(&mut s, MODEL);
    assert!(error_of(&explain(&mut s, Method::Rlrp, None).0).contains("no image"));
    set_image(&mut s, &format!("{DIGIT}.png"));

    // A truncated model: a clear error, and the old model and image stay.
    let bytes = read(&format!("models/{MODEL}.onnx"));
    let request = Request::LoadModel {
        external: Vec::new(),
        name: "broken.onnx".into(),
        sidecar: None,
        sidecar_json: None,
        labels: None,
    };
    let msg = error_of(&send(&mut s, request, vec![bytes[..bytes.len() / 3].to_vec()]).0);
    assert!(msg.to_lowercase().contains("onnx") || msg.contains("truncated"), "{msg}");
    // Not an image.
    let msg = error_of(&send(&mut s, Request::SetImage { name: "notes.txt".into() }, vec![b"hello".to_vec()]).0);
    assert!(!msg.is_empty());
    // A request without its payload, a bad class, bad parameters.
    assert!(error_of(&send(&mut s, Request::SetImage { name: "x.png".into() }, vec![]).0).contains("no image"));
    assert!(error_of(&explain(&mut s, Method::Rlrp, Some(10)).0).contains("class 10"));
    let bad = MethodParams { epsilon: f32::NAN, ..MethodParams::default() };
    let r = send(&mut s, Request::Explain { method: Method::Epsilon, params: bad, target: None }, vec![]).0;
    error_of(&r);

    let (r, _) = explain(&mut s, Method::Rlrp, None);
    let Response::Explained { report, .. } = &r.response else { panic!("{:?}", r.response) };
    assert_eq!((report.model.as_str(), report.target), (MODEL, 7));
}

#[test]
fn a_model_without_sidecar_gets_defaults_and_labels() {
    let mut s = Session::new();
    let request = Request::LoadModel {
        name: "mine.onnx".into(),
        external: Vec::new(),
        sidecar: None,
        sidecar_json: None,
        labels: Some("zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n".into()),
    };
    let r = send(&mut s, request, vec![read(&format!("models/{MODEL}.onnx"))]).0;
    let Response::ModelLoaded { sidecar, sidecar_source, .. } = r.response else { panic!("{:?}", r.response) };
    assert_eq!(sidecar_source, SidecarSource::Defaults);
    assert_eq!((sidecar.input.width, sidecar.input.height, sidecar.input.channels), (28, 28, 1));
    let r = set_image(&mut s, &format!("{DIGIT}.png"));
    let Response::ImageReady { top, .. } = r.response else { panic!("{:?}", r.response) };
    assert_eq!(top[0].label.as_deref(), Some("seven"));

    // The form's answer: a sidecar given by the page.
    let given: rlrp::sidecar::Sidecar = rlrp::sidecar::Sidecar::from_json(sidecar_json(MODEL).as_bytes()).unwrap();
    let request = Request::LoadModel {
        external: Vec::new(),
        name: "mine.onnx".into(),
        sidecar: Some(given),
        sidecar_json: None,
        labels: None,
    };
    let r = send(&mut s, request, vec![read(&format!("models/{MODEL}.onnx"))]).0;
    let Response::ModelLoaded { sidecar_source, .. } = r.response else { panic!("{:?}", r.response) };
    assert_eq!(sidecar_source, SidecarSource::Given);
}

#[test]
fn requests_and_responses_round_trip_as_json() {
    let request = Request::Explain { method: Method::RlrpDivfree, params: MethodParams::default(), target: Some(3) };
    let json = serde_json::to_string(&request).unwrap();
    assert!(json.contains(r#""type":"explain""#) && json.contains(r#""method":"rlrp-divfree""#), "{json}");
    assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), request);
    // Defaults for omitted fields, as the page may send them.
    let short: Request = serde_json::from_str(r#"{"type":"explain","method":"rlrp"}"#).unwrap();
    assert_eq!(short, Request::Explain { method: Method::Rlrp, params: MethodParams::default(), target: None });

    let mut s = Session::new();
    load(&mut s, MODEL);
    set_image(&mut s, &format!("{DIGIT}.png"));
    let (r, _) = explain(&mut s, Method::Rlrp, None);
    let json = serde_json::to_string(&r.response).unwrap();
    let back: Response = serde_json::from_str(&json).unwrap();
    assert!(matches!(back, Response::Explained { .. }));
}

/// Pixel flipping shared with a helper worker (the engine's worker from the front of the run's
/// passes, the helper from the back of the first look and then of the list, taking turns) gives the
/// same answer, bit for bit, as one worker alone, and its coarse first look after half the passes;
/// so does a later run that reuses the random curves the helper's passes gave.
#[test]
fn pixel_flipping_shared_with_a_helper_gives_the_same_curves() {
    use rlrp::app::helper::Helper;
    use rlrp::app::protocol::{HelperReply, HelperRequest};
    let mut alone = Session::new();
    let mut shared = Session::new();
    let mut helper = Helper::new();
    for s in [&mut alone, &mut shared] {
        load(s, MODEL);
        set_image(s, &format!("{DIGIT}.png"));
    }
    let mut helper_has = None;
    for (job_id, (method, target)) in
        [(Method::Rlrp, None), (Method::Rlrp, Some(3)), (Method::Zplus, Some(3))].into_iter().enumerate()
    {
        let (expected, _, _) = flip(&mut alone, method, target);
        // How many passes the engine's worker computes alone before the coarse first look.
        let alone_until_first_look = {
            let mut job = shared.flip_begin(method, MethodParams::default(), target, &mut |_, _, _| true).unwrap();
            let mut passes = 0;
            while job.take_first_look().is_none() {
                let index = job.next_front().unwrap();
                let logits = shared.flip_pass(&job, index).unwrap();
                job.record(index, logits, false);
                passes += 1;
            }
            passes
        };
        let mut job = shared.flip_begin(method, MethodParams::default(), target, &mut |_, _, _| true).unwrap();
        let cropped_before = helper.cropped_passes();
        let (request, data) =
            shared.flip_helper_request(job_id as u64, &job, helper_has).unwrap().expect("a logit plan");
        assert_eq!(data.len(), if helper_has.is_some() { 2 } else { 3 }, "the model's bytes once");
        let HelperRequest::Job { model, .. } = &request else { panic!("{request:?}") };
        helper_has = Some(*model);
        assert!(helper.take(request, data).is_none(), "the helper takes the job");
        let (mut by_main, mut by_helper, mut by_main_until_first_look) = (0, 0, None);
        let to_compute = job.total() - job.done();
        while !job.is_complete() {
            let index = job.next_front().unwrap();
            let logits = shared.flip_pass(&job, index).unwrap();
            job.record(index, logits, false);
            helper.take(HelperRequest::Done { job: job_id as u64, index }, vec![]);
            by_main += 1;
            if job.take_first_look().is_some() {
                by_main_until_first_look = Some(by_main);
            }
            if let Some((HelperReply::Taking { job: id, index }, _)) = helper.claim() {
                assert_eq!(id, job_id as u64);
                job.claim(index);
            }
            if let Some((reply, data)) = helper.step() {
                let HelperReply::Logits { job: id, index } = reply else { panic!("{reply:?}") };
                assert_eq!(id, job_id as u64);
                job.record(index, f32_values(&data[0]), true);
                by_helper += 1;
                if job.take_first_look().is_some() {
                    by_main_until_first_look = Some(by_main);
                }
            }
        }
        // Each says which passes it has or is computing: none is computed twice.
        assert_eq!(by_main + by_helper, to_compute, "{by_main} + {by_helper} passes");
        // The helper computes the first look's second half: taking turns, the coarse look comes
        // after half the passes.
        let until = by_main_until_first_look.expect("a first look");
        assert!(
            until * 2 <= alone_until_first_look + 1,
            "{until} of {alone_until_first_look} passes before the first look"
        );
        helper.take(HelperRequest::Stop { job: job_id as u64 }, vec![]);
        assert!(!helper.busy(), "stopped");
        // The engine's worker sends the job before its own logits-only pass is built; the helper
        // still crops its passes (one patch apart, last first) as that pass will.
        // (A digit's background patches change nothing; those passes are neither.)
        assert!(helper.cropped_passes() > cropped_before, "none of the helper's {by_helper} passes cropped");
        let got = shared.flip_end(job).unwrap().response;
        let Response::Faithfulness { helper_passes, .. } = &got else { panic!("{got:?}") };
        assert!(by_main > 0 && by_helper > 0 && *helper_passes > 0, "{by_main} + {by_helper} ({helper_passes})");
        assert!(*helper_passes <= by_helper, "a pass both computed counts once");
        let (e, g) = (curves(&expected.response), curves(&got));
        assert_eq!(e, g, "{method:?} {target:?}");
        let aopc = |r: &Response| match r {
            Response::Faithfulness { aopc_morf, aopc_random, target, .. } => (*aopc_morf, *aopc_random, *target),
            _ => panic!("{r:?}"),
        };
        assert_eq!(aopc(&expected.response), aopc(&got));
    }
    // a job for a model the helper was not sent fails, and says so
    let job = shared.flip_begin(Method::Rlrp, MethodParams::default(), None, &mut |_, _, _| true).unwrap();
    let (mut request, mut data) = shared.flip_helper_request(9, &job, helper_has).unwrap().unwrap();
    if let HelperRequest::Job { model, .. } = &mut request {
        *model += 1;
    }
    let failed = helper.take(request.clone(), data.clone());
    assert!(
        matches!(&failed, Some((HelperReply::Failed { job: 9, message }, _)) if message.contains("not sent model")),
        "{failed:?}"
    );
    data[1].pop();
    let failed = helper.take(request, data);
    assert!(
        matches!(&failed, Some((HelperReply::Failed { message, .. }, _)) if message.contains("the fill has")),
        "{failed:?}"
    );
}

/// A helper worker given a bad job says what is wrong (a `Failed` reply naming it) and stays usable:
/// an input shape over budget (refused before anything is allocated), data that does not fit the
/// shape, a pass beyond its order, a patch outside the input, an ONNX file that is not one. It
/// skips the passes the engine's worker says it has.
#[test]
fn a_helper_refuses_bad_jobs_without_crashing() {
    use rlrp::app::helper::Helper;
    use rlrp::app::protocol::{f32_bytes, HelperPass, HelperReply, HelperRequest};
    let onnx = read(&format!("models/{MODEL}.onnx"));
    let Response::ModelLoaded { info, .. } = load(&mut Session::new(), MODEL).response else { panic!() };
    let elements: usize = info.input_shape.iter().product();
    let job = |input_shape: Vec<usize>, orders: Vec<Vec<usize>>, passes: Vec<HelperPass>| HelperRequest::Job {
        job: 1,
        model: 7,
        input_shape,
        output: info.output_name.clone(),
        classes: info.classes,
        patch: 4,
        orders,
        passes,
        crop_names: Vec::new(),
        crop_numbers: Vec::new(),
    };
    let data = |onnx: &[u8]| vec![f32_bytes(&vec![0.5; elements]), f32_bytes(&vec![0.0; elements]), onnx.to_vec()];
    let pass = |order, k| HelperPass { index: 3, order, k };
    let failure = |post: Option<(HelperReply, Vec<Vec<u8>>)>| match post {
        Some((HelperReply::Failed { job: 1, message }, _)) => message,
        other => panic!("{other:?}"),
    };
    let mut helper = Helper::new();
    let message = failure(helper.take(job(vec![1, 3, 1 << 20, 1 << 20], vec![], vec![]), data(&onnx)));
    assert!(message.contains("pixel flipping's input"), "{message}");
    let mut short = data(&onnx);
    short[0].truncate(8);
    let message = failure(helper.take(job(info.input_shape.clone(), vec![vec![0]], vec![pass(0, 1)]), short));
    assert!(message.contains("the input has 8 bytes"), "{message}");
    let message = failure(helper.take(job(info.input_shape.clone(), vec![vec![0]], vec![pass(0, 2)]), data(&onnx)));
    assert!(message.contains("step 2 of order 0"), "{message}");
    let message = failure(helper.take(job(info.input_shape.clone(), vec![vec![0]], vec![pass(1, 0)]), data(&onnx)));
    assert!(message.contains("order 1"), "{message}");
    let message = failure(helper.take(job(info.input_shape.clone(), vec![vec![0]], vec![]), data(b"not an onnx file")));
    assert!(!message.is_empty());
    // a patch the input does not have fails at its pass, and ends the job
    assert!(helper.take(job(info.input_shape.clone(), vec![vec![999]], vec![pass(0, 1)]), data(&onnx)).is_none());
    assert!(helper.busy());
    let message = failure(helper.step());
    assert!(message.contains("step 1 of an order of 1 patches"), "{message}");
    assert!(!helper.busy() && helper.step().is_none());
    // and a good job still runs, on the model it holds (no bytes sent again)
    let mut good = data(&onnx);
    good.pop();
    assert!(helper.take(job(info.input_shape.clone(), vec![vec![0, 1]], vec![pass(0, 2)]), good).is_none());
    let Some((HelperReply::Logits { job: 1, index: 3 }, logits)) = helper.step() else { panic!() };
    assert_eq!(f32_values(&logits[0]).len(), info.classes);
    // passes the engine's worker has are skipped; `Done` for another job or another pass is ignored
    let passes = (1..=4).rev().map(|k| HelperPass { index: 10 + k, order: 0, k }).collect();
    let mut good = data(&onnx);
    good.pop();
    assert!(helper.take(job(info.input_shape.clone(), vec![vec![0, 1, 2, 3]], passes), good).is_none());
    for (job, index) in [(1, 14), (1, 12), (2, 13), (1, 99)] {
        assert!(helper.take(HelperRequest::Done { job, index }, vec![]).is_none());
    }
    let mut computed = Vec::new();
    while let Some((HelperReply::Taking { job: 1, index }, _)) = helper.claim() {
        let Some((HelperReply::Logits { job: 1, index: got }, _)) = helper.step() else { panic!() };
        assert_eq!(got, index, "the pass claimed is the pass computed");
        computed.push(index);
    }
    assert_eq!(computed, vec![13, 11]);
    assert!(!helper.busy() && helper.step().is_none());
    helper.take(HelperRequest::Done { job: 1, index: 13 }, vec![]);
    assert!(!helper.busy());
}

/// The page's session plans a model for R-LRP alone at load; the first other method plans it again
/// for every method (reported as a planning and a forward stage, outside the relevance time)
/// and gives the map a session that computed it first would give; later images use that plan.
#[test]
fn the_first_method_beyond_rlrp_widens_the_forward_plan() {
    let digit = format!("{DIGIT}.png");
    let relevance = |r: &Reply| rlrp::npy::read_npy(&r.data[1]).unwrap();
    let mut fresh = Session::new();
    load(&mut fresh, MODEL);
    set_image(&mut fresh, &digit);
    let (gradient_first, _) = explain(&mut fresh, Method::Gradient, None);
    let (epsilon_first, _) = explain(&mut fresh, Method::Epsilon, None);

    let mut s = Session::new();
    load(&mut s, MODEL);
    set_image(&mut s, &digit);
    let (r, progress) = explain(&mut s, Method::Rlrp, None);
    assert!(matches!(r.response, Response::Explained { .. }), "{:?}", r.response);
    assert!(!progress.iter().any(|p| p.0 == Stage::Planning), "R-LRP needs no second plan");
    // cancelled while planning: says so, and the next request plans again
    let clock = || 0.0;
    let request = Request::Explain { method: Method::Gradient, params: MethodParams::default(), target: None };
    let r = s.handle(request, vec![], &clock, &mut |stage, _, _| stage != Stage::Planning);
    assert!(error_of(&r).to_lowercase().contains("cancel"), "{}", error_of(&r));
    let (r, progress) = explain(&mut s, Method::Gradient, None);
    assert!(matches!(r.response, Response::Explained { .. }), "{:?}", r.response);
    assert!(progress.iter().any(|p| p.0 == Stage::Planning) && progress.iter().any(|p| p.0 == Stage::Forward));
    assert_eq!(relevance(&r), relevance(&gradient_first));
    let (r, progress) = explain(&mut s, Method::Epsilon, None);
    assert!(!progress.iter().any(|p| p.0 == Stage::Planning || p.0 == Stage::Forward), "planned once");
    assert_eq!(relevance(&r), relevance(&epsilon_first));
    // another image: the wider plan from the start
    set_image(&mut s, &digit);
    let (r, progress) = explain(&mut s, Method::Gradient, None);
    assert!(!progress.iter().any(|p| p.0 == Stage::Planning || p.0 == Stage::Forward));
    assert_eq!(relevance(&r), relevance(&gradient_first));
}
