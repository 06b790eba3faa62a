#!/usr/bin/env bash
# Train the shipped CPU ("lite") codecs of one architecture into plugins/weights/.
# Usage: benchmarks/train_lite.sh ARCH   (bmshj2018-hyperprior | mbt2018-mean | cheng2020-anchor)
# Quality 4: 12,000 steps from scratch (seed 0) into BASE_DIR, then 16,000 more steps continuing
# from it (seed 1, fresh optimiser). Qualities 6 and 2 warm-start from the final quality 4
# (13,000 steps, ÷10 at 5,600; 7,000 steps, ÷10 at 3,000; seed 1). Every stage resumes from
# its .train.pt checkpoint if killed, and is skipped once its .pth.tar exists.
# Data: BSDS500 train+val from $LICBENCH_DATA (never Kodak); validation on 8 BSDS500 test images.
set -euo pipefail
ARCH=$1
N=${N:-64}
M=${M:-96}
BASE_STEPS=${BASE_STEPS:-12000}
LONG_STEPS=${LONG_STEPS:-16000}
TUNE_STEPS=${TUNE_STEPS:-7000}
TUNE_DROP=${TUNE_DROP:-3000}
HIGH_STEPS=${HIGH_STEPS:-13000}  # quality 6 needs longer to leave quality 4's operating point
HIGH_DROP=${HIGH_DROP:-5600}
OUT=${OUT:-plugins/weights}
BASE_DIR=${BASE_DIR:-build/lite-base}
D=${LICBENCH_DATA:?set LICBENCH_DATA to the shared data folder}
common=(--arch "$ARCH" --N "$N" --M "$M" --data "$D/bsds500/train" --data "$D/bsds500/val"
        --val "$D/bsds500/test" --batch-size 8 --patch-size 128 --lr 5e-4
        --val-every 500 --ckpt-every 500 --no-progress)

stage() {  # out quality steps lr-drop seed [init]
  local out=$1 q=$2 steps=$3 drop=$4 seed=$5 init=${6:-} extra=()
  [[ -f $out ]] && { echo "$out exists; skipped"; return; }
  mkdir -p "$(dirname "$out")"
  [[ -n $init ]] && extra+=(--init "$init")
  [[ -f $out.train.pt ]] && extra+=(--resume)
  licbench train-codec "${common[@]}" --quality "$q" --steps "$steps" --lr-drop "$drop" \
    --seed "$seed" --out "$out" "${extra[@]}"
}

q4="$OUT/$ARCH-lite-q4.pth.tar"
base="$BASE_DIR/$ARCH-lite-q4-base.pth.tar"
stage "$base" 4 "$BASE_STEPS" $((BASE_STEPS * 5 / 6)) 0
stage "$q4" 4 "$LONG_STEPS" $((LONG_STEPS * 5 / 6)) 1 "$base"
stage "$OUT/$ARCH-lite-q6.pth.tar" 6 "$HIGH_STEPS" "$HIGH_DROP" 1 "$q4"
stage "$OUT/$ARCH-lite-q2.pth.tar" 2 "$TUNE_STEPS" "$TUNE_DROP" 1 "$q4"
