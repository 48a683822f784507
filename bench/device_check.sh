#!/usr/bin/env bash
# One GPU session's checks for issue #12, prepared to run as a single command on a CUDA machine that has
# torch, Lightning and torchmetrics but not Hydra (carry Hydra, OmegaConf and antlr4 in .devsite/):
#   1. bench/gpu_check.py: vectorized == per-copy loop on the device (float64), float32/TF32 deviations;
#   2. bench/bench_step.py --device cuda: the interleaved timings, ratios, FLOPs, peak memory, bf16 autocast;
#   3. the default experiment (digits) end to end on the GPU, wall time;
#   4. ring_pacgan ML and SGHMC, 2,000 iterations each, side by side on the GPU, wall time.
# Each step is timed and limited on its own; logs go to $OUT (8 files at most come back). A dry run on a
# CPU machine: PYTHON=.venv/bin/python DEVICE=cpu TRAINER=cpu BENCH_EXTRA=--quick RING_ITERATIONS=40 bash bench/device_check.sh
set -u
PY=${PYTHON:-python3} DEVICE=${DEVICE:-cuda} TRAINER=${TRAINER:-gpu} BENCH_EXTRA=${BENCH_EXTRA:-} RING_ITERATIONS=${RING_ITERATIONS:-2000}
OUT=${OUT:-/tmp/device_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src:$PWD/.devsite PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
"$PY" -c "import torch, pytorch_lightning as pl; print('torch', torch.__version__, 'lightning', pl.__version__)"

step() {  # step NAME LIMIT_SECONDS COMMAND...: run, log to $OUT/NAME.log, print rc and wall time
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    echo "== $name: rc $? in $((SECONDS - start)) s"
}
TRAIN=("$PY" -m bayesgan.train "trainer=$TRAINER" logger=none trainer.enable_progress_bar=false)
RING=(experiment=ring_pacgan "iterations=$RING_ITERATIONS" "posterior.burn_in=$((RING_ITERATIONS / 2))"
      "posterior.thin=$((RING_ITERATIONS / 20))")
rm -rf /tmp/runs

step check 120 "$PY" bench/gpu_check.py --device "$DEVICE" $BENCH_EXTRA
step bench 240 "$PY" bench/bench_step.py --device "$DEVICE" --threads 4 --repeats 10 --autocast $BENCH_EXTRA \
    --json "$OUT/bench_cuda.json"
step digits 150 "${TRAIN[@]}" hydra.run.dir=/tmp/runs/digits
# The two ring runs side by side (each its own process on the one GPU), each timed on its own.
step ring_ml 150 "${TRAIN[@]}" "${RING[@]}" sampler=ml hydra.run.dir=/tmp/runs/ring_ml &
step ring_sghmc 150 "${TRAIN[@]}" "${RING[@]}" sampler=sghmc hydra.run.dir=/tmp/runs/ring_sghmc
wait
for f in /tmp/runs/*/results.json; do echo "$f"; "$PY" -c "import json,sys; m=json.load(open(sys.argv[1]))['metrics']; print({k: round(v, 4) for k, v in m.items() if k.startswith(('test/bma', 'coverage/modes', 'coverage/high'))})" "$f"; done
for name in check bench digits ring_ml ring_sghmc; do echo "---- $name"; tail -n 40 "$OUT/$name.log"; done
