#!/usr/bin/env bash
# Builds and serves the app on http://127.0.0.1:${PORT:-8080}. Installs what is missing first.
# Until the browser app lands this serves a static page of heatmaps made by the rlrp CLI from the
# bundled default model (www/models) and sample photos (www/samples).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --bin rlrp
rm -rf dist && mkdir -p dist
model=www/models/efficientnet_lite0_int8_weightonly_dq.onnx
for sample in chelsea coffee; do
  for method in rlrp epsilon-plus-flat; do
    ./target/release/rlrp explain --model "$model" --image "www/samples/$sample.png" --method "$method" \
      --overlay --out "dist/${sample}_${method}.png" > "dist/${sample}_${method}.txt"
  done
done
# The page shows the numbers behind the first heatmap (top-5, logit, kappa, mass per layer).
python3 - <<'PY'
import html
page = open("www/placeholder.html").read()
report = html.escape(open("dist/chelsea_rlrp.txt").read())
open("dist/index.html", "w").write(page.replace("see chelsea_rlrp.txt", report))
PY
echo "serving dist/ on http://127.0.0.1:${PORT:-8080} (Ctrl-C to stop)"
exec python3 -m http.server "${PORT:-8080}" --bind 127.0.0.1 --directory dist
