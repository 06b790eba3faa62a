#!/usr/bin/env bash
# Train the shipped CPU ("lite") codecs of one architecture into plugins/weights/.
# Usage: benchmarks/train_lite.sh ARCH   (bmshj2018-hyperprior | mbt2018-mean | cheng2020-anchor)
# Quality 4 trains from scratch (or continues from INIT, a quality-4 checkpoint of the same widths); qualities 2
# and 6 warm-start from it (4,000 and 7,000 steps). Every stage resumes from its .train.pt checkpoint if killed,
# and is skipped once its .pth.tar exists.
# Data: BSDS500 train+val from $LICBENCH_DATA (never Kodak); validation on 8 BSDS500 test images.
set -euo pipefail
ARCH=$1
N=${N:-64}
M=${M:-96}
BASE_STEPS=${BASE_STEPS:-12000}
TUNE_STEPS=${TUNE_STEPS:-4000}
HIGH_STEPS=${HIGH_STEPS:-7000}  # quality 6 needs longer to leave quality 4's operating point
OUT=${OUT:-plugins/weights}
INIT=${INIT:-}
SEED=${SEED:-0}
D=${LICBENCH_DATA:?set LICBENCH_DATA to the shared data folder}
common=(--arch "$ARCH" --N "$N" --M "$M" --data "$D/bsds500/train" --data "$D/bsds500/val"
        --val "$D/bsds500/test" --batch-size 8 --patch-size 128 --lr 5e-4 --seed "$SEED"
        --val-every 500 --ckpt-every 500 --no-progress)

stage() {  # quality steps lr-drop [init]
  local q=$1 steps=$2 drop=$3 init=${4:-} out="$OUT/$ARCH-lite-q$1.pth.tar" extra=()
  [[ -f $out ]] && { echo "$out exists; skipped"; return; }
  [[ -n $init ]] && extra+=(--init "$init")
  [[ -f $out.train.pt ]] && extra+=(--resume)
  licbench train-codec "${common[@]}" --quality "$q" --steps "$steps" --lr-drop "$drop" \
    --out "$out" "${extra[@]}"
}

stage 4 "$BASE_STEPS" $((BASE_STEPS * 5 / 6)) "$INIT"
stage 2 "$TUNE_STEPS" $((TUNE_STEPS * 3 / 4)) "$OUT/$ARCH-lite-q4.pth.tar"
stage 6 "$HIGH_STEPS" $((HIGH_STEPS * 4 / 5)) "$OUT/$ARCH-lite-q4.pth.tar"
