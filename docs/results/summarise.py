#!/usr/bin/env python3
"""Builds the summary tables of docs/results from every <model>/summary.md that `rlrp eval` wrote,
and puts them between the `<!-- results-tables -->` markers of README.md and docs/results/README.md.
docs/results/run.sh runs it last; it can also be run alone:  python3 docs/results/summarise.py"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BEGIN, END = "<!-- results-tables -->", "<!-- /results-tables -->"

# Rows: (folder, label), in the order of the tables.
MODELS = [
    ("mnist_simple_cnn_fp32_opset13", "MNIST simple CNN, f32"),
    ("mnist_simple_cnn_int8_weightonly_dq", "MNIST simple CNN, int8"),
    ("mnist_vgg_mini_fp32_opset13", "MNIST VGG-style, f32"),
    ("mnist_vgg_mini_int8_weightonly_dq", "MNIST VGG-style, int8"),
    ("mnist_resnet_mini_fp32_opset13", "MNIST ResNet-style, f32"),
    ("mnist_resnet_mini_bn_fp32_opset13", "MNIST ResNet-style with BatchNorm nodes, f32"),
    ("mnist_resnet_mini_int8_weightonly_dq", "MNIST ResNet-style, int8"),
    ("efficientnet_lite0_fp32_opset13", "EfficientNet-Lite0, f32"),
    ("efficientnet_lite0_int8_weightonly_dq", "EfficientNet-Lite0, int8 weight-only"),
    ("efficientnet_lite0_int8_static_qdq", "EfficientNet-Lite0, int8 static QDQ"),
    ("photos113_efficientnet_lite0_int8_weightonly_dq", "EfficientNet-Lite0, int8 weight-only, 113 photos"),
    ("photos113_efficientnet_lite0_fp32_opset13", "EfficientNet-Lite0, f32, 113 photos"),
    ("photos113_efficientnet_lite0_int8_static_qdq", "EfficientNet-Lite0, int8 static QDQ, 113 photos"),
]
# Columns: the methods every model was evaluated with.
METHODS = [
    ("rlrp", "R-LRP"),
    ("rlrp-divfree", "R-LRP div-free"),
    ("lrp0", "LRP-0"),
    ("epsilon-plus-flat", "EpsilonPlusFlat"),
    ("epsilon-gamma-box", "EpsilonGammaBox"),
    ("zplus", "z⁺"),
    ("alphabeta", "αβ (2, 1)"),
    ("gradient", "gradient"),
]


def parse(path):
    """{method: {column title: cell text}} and the number of images, from one summary.md."""
    text = open(path, encoding="utf-8").read()
    images = int(re.search(r", (\d+) images\.", text).group(1))
    rows, header = {}, None
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["#", "method"]:
            header = cells
        elif header and len(cells) == len(header) and cells[0].isdigit():
            rows[cells[1]] = dict(zip(header, cells))
    return rows, images


def column(row, prefix):
    return next(v for k, v in row.items() if k.startswith(prefix))


NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def first_number(cell):
    """The value of a cell: `1.23`, `1.23 / 4.5` (mean / max) or `1.23 [1.1, 1.4] / 4.5` (with its
    95 % interval), and the interval as (low, high) when there is one."""
    value = float(re.match(r"\s*(" + NUMBER + ")", cell).group(1))
    ci = re.match(r"\s*" + NUMBER + r"\s*\[(" + NUMBER + r"),\s*(" + NUMBER + r")\]", cell)
    return value, (float(ci.group(1)), float(ci.group(2))) if ci else None


def table(results, title, prefix, best):
    """One Markdown table: a row per model, a column per method, the best value of a row in bold."""
    head = "| model | images | " + " | ".join(label for _, label in METHODS) + " |"
    out = [f"**{title}**", "", head, "|---|---:|" + "---:|" * len(METHODS)]
    for folder, label, rows, images in results:
        parsed = [first_number(column(rows[m], prefix)) if m in rows else None for m, _ in METHODS]
        values = [p[0] if p else None for p in parsed]
        known = [v for v in values if v is not None]
        top = best(known) if known else None
        cells = []
        for v, p in zip(values, parsed):
            text = "—" if v is None else f"{v:.3f}"
            if p and p[1]:
                text += f" [{p[1][0]:.3f}, {p[1][1]:.3f}]"
            cells.append(f"**{text}**" if v is not None and v == top else text)
        out.append(f"| [{label}](docs/results/{folder}/summary.md) | {images} | " + " | ".join(cells) + " |")
    return out


def rlrp_table(results):
    out = [
        "**R-LRP alone: MoRF against the random order, conservation, cost**",
        "",
        "| model | AOPC MoRF | AOPC random | mean κ | mean ‖R‖₁/abs(logit) | NaN | ms per explanation |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for folder, label, rows, _ in results:
        r = rows.get("rlrp")
        if r is None:
            continue
        cells = [column(r, p) for p in ("AOPC-MoRF", "AOPC-random", "mean κ", "mean ‖R‖₁", "NaN", "ms")]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return out


def main():
    results = []
    for folder, label in MODELS:
        path = os.path.join(HERE, folder, "summary.md")
        if os.path.exists(path):
            rows, images = parse(path)
            results.append((folder, label, rows, images))
    if not results:
        sys.exit("summarise.py: no docs/results/*/summary.md yet (run docs/results/run.sh)")
    lines = table(results, "ABPC ↑ (faithfulness: the area between the least-relevant-first and the "
                  "most-relevant-first perturbation curves of the target logit)", "ABPC", max)
    lines += [""] + table(results, "Relative L2 change of the heatmap under input noise σ = 1e-2 of the input "
                          "range ↓ (robustness; mean over 5 draws; MNIST: on the first 100 digits; 113 photos: on the first 20)", "rel. L2 σ=1e-2", min)
    lines += [""] + rlrp_table(results)
    block = "\n".join(lines)
    for readme, link_prefix in ((os.path.join(REPO, "README.md"), "docs/results/"), (os.path.join(HERE, "README.md"), "")):
        text = open(readme, encoding="utf-8").read()
        if BEGIN not in text or END not in text:
            sys.exit(f"summarise.py: {readme} has no {BEGIN} ... {END} block")
        body = block.replace("](docs/results/", "](" + link_prefix)
        start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
        open(readme, "w", encoding="utf-8").write(text[:start] + "\n" + body + "\n" + text[stop:])
    print(block)


if __name__ == "__main__":
    main()
