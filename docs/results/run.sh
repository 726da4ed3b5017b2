#!/usr/bin/env bash
# Regenerates docs/results/: `rlrp eval` on every model of ../shared/models.
#   docs/results/run.sh [MODEL_STEM ...]     (default: all models, in the order below)
# Settings (the same for every model of a kind, written into each summary.md):
# - MNIST models: the 500 test digits of ../shared/images/mnist_eval_500_x.npy; region perturbation
#   of 4×4 patches (all 49), 5 random orders; robustness (σ = 1e-3, 1e-2 of the input range, 5 draws)
#   and max-sensitivity (10 samples) on the first 100 digits (they cost ~20 explanations each).
# - EfficientNet-Lite0: the four ImageNet photos of ../shared/images; 8×8 patches, 100 steps.
# - photos113_<Lite0 model> (int8 weight-only, f32, static QDQ): that Lite0 on the 113 photos of
#   ../shared/images/photos with the eight methods of the README tables; one random order per photo
#   (the random baseline is averaged over the 113 photos instead of 5 orders each), robustness on
#   the first 20 (by file name), no max-sensitivity; a grid of 8 photos spread over the set (every
#   14th). About 19 minutes on 2 cores for the int8 weight-only model (stop 47, 1,134 s), or 27 on
#   a machine 1.45x slower (stops 42 and 44, 1,630-1,644 s).
# Each model takes minutes to hours on 2 cores; results go to docs/results/<model>/. A run that was
# stopped goes on with RESUME=1 (each finished input is in docs/results/<model>/checkpoint).
# The static-QDQ Lite0 on the 113 photos is the longest (its forward pass is the slowest).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --bin rlrp
RLRP=${RLRP:-target/release/rlrp}
SHARED=../shared
# The eight methods of the README tables (MNIST and the 113 photos).
TABLE_METHODS=rlrp,rlrp-divfree,lrp0,epsilon-plus-flat,epsilon-gamma-box,alphabeta,zplus,gradient
LITE0_METHODS=rlrp,rlrp-divfree,lrp0,epsilon,epsilon-plus-flat,epsilon-gamma-box,alphabeta,zplus,gamma,gradient,gradient-x-input
ALL=(
  mnist_simple_cnn_fp32_opset13 mnist_vgg_mini_fp32_opset13 mnist_resnet_mini_fp32_opset13
  efficientnet_lite0_int8_weightonly_dq
  mnist_resnet_mini_bn_fp32_opset13 mnist_simple_cnn_int8_weightonly_dq mnist_vgg_mini_int8_weightonly_dq
  mnist_resnet_mini_int8_weightonly_dq efficientnet_lite0_fp32_opset13 efficientnet_lite0_int8_static_qdq
  photos113_efficientnet_lite0_int8_weightonly_dq photos113_efficientnet_lite0_fp32_opset13
  photos113_efficientnet_lite0_int8_static_qdq
)
photos=target/eval-photos
mkdir -p "$photos" && cp "$SHARED"/images/{astronaut,chelsea,coffee,rocket}.png "$photos"/
for m in "${@:-${ALL[@]}}"; do
  out=docs/results/$m
  model=$m
  case $m in
    photos113_*) model=${m#photos113_}
      args=(--images "$SHARED/images/photos" --methods "$TABLE_METHODS" --random-orders 1 --robustness-limit 20 --sensitivity-samples 0 --grid-rows 8) ;;
    mnist_*) args=(--images "$SHARED/images/mnist_eval_500_x.npy" --methods "$TABLE_METHODS" --robustness-limit 100) ;;
    *) args=(--images "$photos" --methods "$LITE0_METHODS") ;;
  esac
  echo "== $m"
  if [ -n "${RESUME:-}" ] && [ -d "$out/checkpoint" ]; then
    args+=(--resume)
  else
    rm -rf "$out"
  fi
  "$RLRP" eval --model "$SHARED/models/$model.onnx" "${args[@]}" --out "$out"
done
# The summary tables of README.md and docs/results/README.md.
python3 docs/results/summarise.py >/dev/null
