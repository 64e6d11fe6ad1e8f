#!/usr/bin/env bash
# GPU check, a few minutes on a machine with a GPU: installs w2v with CUDA TensorFlow, shows the devices
# TensorFlow sees, and trains the embedded default corpus with the tf kernel on the GPU (run.device=gpu
# refuses to run without one; the fused engine is CPU-only) for nce and neg at large batches, printing
# words/s for each. Compare with gensim's and the fused engine's words/s on the CPU (README): the tf
# step on a GPU is worth its own CUDA kernel only if it falls short of ten times gensim's 2-core speed.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv /tmp/w2v-gpu-venv
. /tmp/w2v-gpu-venv/bin/activate
pip install -q --upgrade pip
pip install -q -e . "tensorflow[and-cuda]"
python -c "import tensorflow as tf; print('GPUs:', tf.config.list_physical_devices('GPU'))"
for loss in nce neg; do
  for batch in 16384 65536; do
    run_dir=$(mktemp -d)/gpu-$loss-$batch
    w2v train --config configs/base.yaml --run-dir "$run_dir" --quiet \
      --set run.device=gpu --set train.kernel=tf --set model.loss=$loss --set train.batch_size=$batch \
      --set train.steps=$((200000000 / batch / 20)) --set checkpoint.dir=null \
      --set checkpoint.every_n_steps=1000000 --set summary.histograms_every_n_steps=1000000
    python - "$run_dir" "$loss" "$batch" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1] + "/meta.json"))
print(f"{meta['device']}, tf kernel, loss {sys.argv[2]}, batch {sys.argv[3]}: "
      f"{meta['words'] / meta['wall_time_s']:,.0f} words/s over {meta['step']} steps")
PY
  done
done
