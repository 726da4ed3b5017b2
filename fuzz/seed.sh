#!/usr/bin/env bash
# Builds the fuzz corpora in fuzz/corpus/<target> from ../shared (models, images, sidecars, .npy),
# the small seeds in fuzz/seeds/ and the regression inputs in tests/data/fuzz/. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
shared=${RLRP_SHARED:-$repo/../shared}
corpus=$here/corpus
mkdir -p "$corpus"/{onnx,onnx_structured,image,sidecar,npy}
copy() { local dest=$1; shift; for f in "$@"; do [ -f "$f" ] && cp -n "$f" "$corpus/$dest/" || true; done; }
for t in onnx onnx_structured; do
  copy $t "$here"/seeds/onnx/*.onnx "$shared"/models/mnist_*.onnx "$shared"/zoo/test_*.onnx "$repo"/tests/data/fuzz/onnx/*
done
copy image "$shared"/images/*.png "$repo"/tests/data/hostile/*.png "$repo"/tests/data/fuzz/image/*
# Three photos of different formats and sizes (the whole set makes every run slow).
copy image $(ls "$shared"/images/photos/* 2>/dev/null | head -n 3)
copy sidecar "$shared"/models/*.json "$repo"/models/*.json "$repo"/tests/data/fuzz/sidecar/*
copy npy $(find "$shared"/golden -name '*.npy' -size -200k | head -n 20) "$repo"/tests/data/fuzz/npy/*
for t in onnx onnx_structured image sidecar npy; do echo "$t: $(ls "$corpus/$t" | wc -l) seeds"; done
