//! `rlrp diagnose` (issue 12): the walk shows its observer the relevance the explanation itself
//! computes, the concentration profile measures exactly that, and the steps compare a node's
//! output with the relevance its rule handed to its input.
use crate::common;

use rlrp::eval::concentration::{concentration, profile};
use rlrp::eval::diagnosis::diagnose;
use rlrp::heatmap::channel_sum;
use rlrp::relevance::{explain, explain_observed, ExplainOptions, Method};
use rlrp::sidecar::Layout;

const INPUT: &str = "golden/mnist_resnet_mini/mnist_test_00000_label7__input.npy";

#[test]
fn the_observer_sees_every_layer_the_walk_reports() {
    let model = common::model("mnist_resnet_mini_fp32_opset13.onnx");
    let x = common::npy(INPUT);
    let acts = model.forward(&x).unwrap();
    let options = ExplainOptions { keep_layer_maps: true, ..Default::default() };
    let mut seen = Vec::new();
    let observed = explain_observed(&model, &acts, Method::Rlrp, &options, &mut |_, _| true, &mut |ix, r| {
        seen.push((ix, r.clone()))
    })
    .unwrap();
    let plain = explain(&model, &acts, Method::Rlrp, &options, &mut |_, _| true).unwrap();
    assert_eq!(observed.relevance, plain.relevance);
    assert_eq!(observed.layer_maps.len(), plain.layer_maps.len());
    // One observation per layer of the report (the report's last entry is the input).
    assert_eq!(seen.len() + 1, plain.layers.len());
    for ((ix, r), mass) in seen.iter().zip(&plain.layers) {
        assert_eq!(model.graph.nodes[*ix].name, mass.node);
        let l1: f64 = r.iter().map(|v| (*v as f64).abs()).sum();
        assert!((l1 - mass.l1).abs() <= 1e-9 * mass.l1.max(1.0), "{} {l1} {}", mass.node, mass.l1);
    }
}

#[test]
fn profile_measures_the_explanation() {
    let model = common::model("mnist_resnet_mini_fp32_opset13.onnx");
    let x = common::npy(INPUT);
    let acts = model.forward(&x).unwrap();
    for method in [Method::Rlrp, Method::RlrpDivfree, Method::Lrp0, Method::EpsilonPlusFlat] {
        let (e, p) = profile(&model, &acts, method, &ExplainOptions::default(), Layout::Nchw).unwrap();
        // The walk starts from a one-hot relevance on the logits: everything on one element.
        let logits = &p.layers[0];
        assert_eq!(logits.elements.unwrap().top1, 1.0, "{method:?}");
        assert_eq!(p.pixels, concentration(channel_sum(&e.relevance, Layout::Nchw).2));
        assert_eq!(p.input_elements, concentration(e.relevance.iter().copied()));
        for l in &p.layers {
            if let Some(c) = l.elements {
                assert!(c.top1 > 0.0 && c.top1 <= 1.0 && (0.0..1.0).contains(&c.gini), "{method:?} {}: {c:?}", l.label);
            }
        }
        // Steps: the "after" of a step is the concentration at its input's producer (or the input).
        assert!(!p.steps.is_empty());
        for s in &p.steps {
            let node = &model.graph.nodes[s.node];
            let v = node.inputs[0];
            let want = match model.graph.producer(v) {
                Some(prod) => p.layers.iter().find(|l| l.node == prod).and_then(|l| l.elements),
                None => p.input_elements,
            };
            assert_eq!(Some(s.after), want, "{}", node.name);
        }
    }
}

#[test]
fn diagnosis_tables_name_every_method_and_layer() {
    let model = common::model("mnist_resnet_mini_fp32_opset13.onnx");
    let inputs = vec![common::npy(INPUT), common::npy("golden/mnist_resnet_mini/mnist_test_00001_label2__input.npy")];
    let names = vec!["seven".to_string(), "two".to_string()];
    let methods = [Method::Rlrp, Method::Lrp0];
    let mut calls = 0;
    let d =
        diagnose(&model, &inputs, &names, &methods, &Default::default(), Layout::Nchw, &mut |_, _| calls += 1).unwrap();
    assert_eq!(calls, 4);
    let md = d.markdown("resnet");
    for m in methods {
        assert!(md.contains(&format!("| {} |", m.label())), "{md}");
    }
    let layers = d.profiles[0][0].layers.len();
    let rows = md.lines().skip_while(|l| !l.starts_with("## Layer by layer")).filter(|l| l.starts_with("| ")).count();
    // Header + every layer + the input row.
    assert_eq!(rows, 1 + layers + 1, "{md}");
    assert!(
        diagnose(&model, &inputs, &names[..1], &methods, &Default::default(), Layout::Nchw, &mut |_, _| {}).is_err()
    );
}
