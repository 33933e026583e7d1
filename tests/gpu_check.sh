#!/usr/bin/env bash
# The GPU check, in one call on a machine with a CUDA GPU (about 5 minutes on one H100):
#   pip install -e ".[test]" && bash tests/gpu_check.sh
# 1. the tests marked gpu (CUDA fp32 and bf16 training, a compiled step, a batched sweep of 8 seeds,
#    every registered model forward and backward); 2. the [AF] paper configuration's training speed
#    on the GPU and on the CPU (200 steps each, seconds per step from the runs' own wall times).
set -uo pipefail
cd "$(dirname "$0")/.."
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
python -m pytest -m gpu tests/test_gpu.py -q -p no:cacheprovider 2>&1 | tail -15
out=$(mktemp -d)
for device in cuda cpu; do
  anchorbench run af-paper --seed-list 0 --set train.steps=200 --set train.eval_every=200 --set "train.device=$device" \
    --quiet --out "$out/$device" >/dev/null 2>&1 || echo "af-paper on $device failed"
done
python - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for device in ("cuda", "cpu"):
    runs = [json.loads(p.read_text()) for p in (out / device).rglob("result.json")]
    for r in runs:
        print(f"[AF] af-paper {r['name']} on {device}: {r['wall_time_s'] / r['steps_completed']:.3f} s/step "
              f"({r['env'].get('gpu_name') or r['env'].get('cpu_model')})")
PY
