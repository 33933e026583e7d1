#!/usr/bin/env bash
# The leaderboard's baseline rows: run the standard suite (3 seeds, one torch thread each, so
# that `anchorbench leaderboard verify` reproduces them exactly) and write each submission to
# leaderboard/submissions/. Usage: [WORKERS=2] baselines/run.sh [NAME ...]   (default: all eleven)
# WORKERS=2 trains two seeds at a time on 2 cores (one torch thread each either way, so the scores
# are the same). Suite v3 with WORKERS=2: about 1.5-2 minutes per transformer row, 2-6 per zoo row.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A TITLE ARGS
TITLE[transformer-post-small]="Transformer, post-LN, small init (gamma 0.8)"
ARGS[transformer-post-small]="--model transformer --set model.norm=post --set model.init_rate=0.8"
TITLE[transformer-post-large]="Transformer, post-LN, large init (gamma 0.3)"
ARGS[transformer-post-large]="--model transformer --set model.norm=post --set model.init_rate=0.3"
TITLE[transformer-pre-small]="Transformer, pre-LN, small init (gamma 0.8)"
ARGS[transformer-pre-small]="--model transformer --set model.norm=pre --set model.init_rate=0.8"
TITLE[transformer-pre-large]="Transformer, pre-LN, large init (gamma 0.3)"
ARGS[transformer-pre-large]="--model transformer --set model.norm=pre --set model.init_rate=0.3"
TITLE[lstm]="LSTM"
ARGS[lstm]="--model lstm"
TITLE[mlp]="MLP"
ARGS[mlp]="--model mlp"
# the architecture zoo (docs/models.md): each from its own defaults
TITLE[gru]="GRU"
ARGS[gru]="--model gru"
TITLE[linear-attention]="Linear attention (elu+1)"
ARGS[linear-attention]="--model linear-attention"
TITLE[selective-ssm]="Selective SSM (Mamba-style)"
ARGS[selective-ssm]="--model selective-ssm"
TITLE[rwkv]="RWKV-4-style time mixing"
ARGS[rwkv]="--model rwkv"
TITLE[hyena]="Hyena-style long convolution"
ARGS[hyena]="--model hyena"

names=("$@")
[ ${#names[@]} -eq 0 ] && names=(transformer-post-small transformer-post-large transformer-pre-small transformer-pre-large lstm mlp
  gru linear-attention selective-ssm rwkv hyena)
workers="${WORKERS:-1}"
for name in "${names[@]}"; do
  # shellcheck disable=SC2086
  anchorbench run standard ${ARGS[$name]} --set train.threads=1 --seeds 3 --workers "$workers" --quiet \
    --out "results/baseline-$name" --resume \
    || anchorbench run standard ${ARGS[$name]} --set train.threads=1 --seeds 3 --workers "$workers" --quiet \
      --out "results/baseline-$name"
  # submit never overwrites a file: write beside it, then replace the previous row (a re-run).
  new="$(mktemp -d)"
  anchorbench submit "results/baseline-$name" --name "${TITLE[$name]}" \
    --description "anchorbench baseline (baselines/run.sh $name)" --out "$new/$name.json"
  mv "$new/$name.json" "leaderboard/submissions/$name.json" && rmdir "$new"
done
