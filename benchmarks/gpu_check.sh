#!/usr/bin/env bash
# GPU check, under 5 minutes on a machine with a GPU: installs w2v, shows the devices TensorFlow sees,
# trains the embedded default corpus for a fixed number of steps with the embedding on the GPU
# (run.device=gpu refuses to run without one) and prints words/s.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv /tmp/w2v-gpu-venv
. /tmp/w2v-gpu-venv/bin/activate
pip install -q --upgrade pip
pip install -q -e . "tensorflow[and-cuda]"
python -c "import tensorflow as tf; print('GPUs:', tf.config.list_physical_devices('GPU'))"
run_dir=$(mktemp -d)/gpu
w2v train --config configs/base.yaml --run-dir "$run_dir" --quiet \
  --set run.device=gpu --set train.steps=3000 --set train.batch_size=4096 \
  --set model.loss=neg --set model.num_sampled=5 \
  --set checkpoint.every_n_steps=100000 --set summary.histograms_every_n_steps=100000
python - "$run_dir" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1] + "/meta.json"))
print(f"device {meta['device']}: {meta['words'] / meta['wall_time_s']:,.0f} words/s over {meta['step']} steps")
PY
