#!/usr/bin/env bash
# The README's stacked-digits table: experiment=stacked_digits for each sampler x seed, one run at a time,
# resumable (a finished run is skipped, an interrupted one resumes from its last checkpoint).
#   bash bench/stacked_digits.sh "ml sghmc" "0 1 2" [OVERRIDE ...]   then   bayesgan-report outputs/stacked_digits/readme
set -euo pipefail
SAMPLERS=${1:-"ml sghmc"}
SEEDS=${2:-"0 1 2"}
shift $(( $# < 2 ? $# : 2 ))   # the rest: bayesgan-train overrides (e.g. a smaller budget)
PYTHON=${PYTHON:-python}
OUT=${OUT:-outputs/stacked_digits/readme}
for seed in $SEEDS; do
  for sampler in $SAMPLERS; do
    dir="$OUT/${sampler}_s${seed}"
    [ -f "$dir/results.json" ] && { echo "done: $dir"; continue; }
    resume=()
    [ -f "$dir/checkpoints/last.ckpt" ] && resume=("ckpt_path=$dir/checkpoints/last.ckpt")
    echo "run: $dir ${resume[*]:-}"
    "$PYTHON" -m bayesgan.train experiment=stacked_digits "sampler=$sampler" "seed=$seed" logger=csv \
      trainer.enable_progress_bar=false "hydra.run.dir=$dir" "$@" "${resume[@]}"
  done
done
