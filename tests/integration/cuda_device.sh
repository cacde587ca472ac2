#!/usr/bin/env bash
# run.device and the cuda section from the command line. Everywhere: auto says which device it
# took, a bad cuda.* value is one clear error. Without a GPU: run.device=cuda is a clear error.
# With a GPU: 20 steps of the demo model on the GPU follow the CPU run's losses (fp32 and bf16),
# and so does a private (DP-SGD) run.
# With two or more GPUs and mpirun: each rank takes GPU local_rank, 2 ranks (NCCL) follow 1 rank
# with 2-fold accumulation, and ZeRO-1 on the GPUs follows the unsharded run.
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus
cfg=(--config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5"
     --set model.d_model=64 --set model.n_head=2 --set model.d_ff=128 --set model.max_len=20
     --set train.micro_batch=8 --set train.log_every=5 --set train.eval_every=0
     --set train.eval_batches=2 --set train.warmup_steps=3 --set train.steps=20
     --set checkpoint.every=20 --quiet)

expect_error "cuda.precision" "$BIN" train "${cfg[@]}" --set cuda.precision=fp16 \
  --set "run.out_dir=$WORK/bad1"
expect_error "cuda.attention" "$BIN" train "${cfg[@]}" --set cuda.attention=sdpa \
  --set "run.out_dir=$WORK/bad2"
expect_error "run.device" "$BIN" train "${cfg[@]}" --device gpu --set "run.out_dir=$WORK/bad3"

has_gpu() { command -v nvidia-smi >/dev/null && [[ $(nvidia-smi -L 2>/dev/null) == GPU* ]]; }

"$BIN" train "${cfg[@]}" --set run.device=cpu --set "run.out_dir=$WORK/cpu" 2>"$WORK/cpu.err"
grep -q "train: device: cpu$" "$WORK/cpu.err" || { cat "$WORK/cpu.err"; fail "run.device=cpu not reported"; }

if ! has_gpu; then
  expect_error "run.device is 'cuda' but" "$BIN" train "${cfg[@]}" --device cuda \
    --set "run.out_dir=$WORK/gpu"
  [ ! -e "$WORK/gpu/checkpoints/step_20" ] || fail "a refused cuda run wrote a checkpoint"
  "$BIN" train "${cfg[@]}" --set run.device=auto --set "run.out_dir=$WORK/auto" 2>"$WORK/auto.err"
  grep -q "train: device: cpu (auto: " "$WORK/auto.err" || { cat "$WORK/auto.err"; fail "auto did not say why it chose the CPU"; }
  echo "ok: no GPU here; the GPU half of this test runs in tools/gpu_check.sh"
  exit 0
fi

# run.precision: bf16 is the CPU backend's; on the GPU with cuda.precision: fp32 it contradicts.
expect_error "run.precision: bf16 applies to the CPU backend" "$BIN" train "${cfg[@]}" \
  --set run.device=cuda --set cuda.precision=fp32 --set run.precision=bf16 --set "run.out_dir=$WORK/bad4"

# fp32 on the GPU: the same computation in another summation order; the logged losses (means
# over 5 steps) stay within 2e-4 relative of the CPU's over 20 AdamW steps.
"$BIN" train "${cfg[@]}" --set run.device=cuda --set cuda.precision=fp32 \
  --set "run.out_dir=$WORK/gpu32" 2>"$WORK/gpu32.err"
grep -q "train: device: cuda (GPU 0" "$WORK/gpu32.err" || { cat "$WORK/gpu32.err"; fail "device not reported"; }
same_losses "$WORK/gpu32/metrics.jsonl" "$WORK/cpu/metrics.jsonl" 2e-4 || fail "fp32 GPU losses drift from the CPU's"
# bf16: rounding of activations to 8 mantissa bits; within 5e-2 relative.
"$BIN" train "${cfg[@]}" --set run.device=auto --set "run.out_dir=$WORK/gpu16" 2>"$WORK/gpu16.err"
same_losses "$WORK/gpu16/metrics.jsonl" "$WORK/cpu/metrics.jsonl" 5e-2 || fail "bf16 GPU losses drift from the CPU's"
# A GPU checkpoint resumes and evaluates like any other.
"$BIN" eval --checkpoint "$WORK/gpu16/checkpoints/step_20" --corpus "$WORK/corpus.h5" \
  --out-dir "$WORK/eval16" >/dev/null
[ -s "$WORK/eval16/eval.json" ] || fail "eval of the GPU checkpoint wrote nothing"
"$BIN" train "${cfg[@]}" --set train.steps=25 --set "run.out_dir=$WORK/gpu16" --resume auto >/dev/null 2>&1 \
  || fail "resuming the GPU run failed"
echo "ok: GPU runs follow the CPU run"

# DP-SGD on the GPU (fp32): the same users, clipping and noise (one named key) as the CPU's
# private run; the per-user sums differ only in summation order.
head -c 32 /dev/urandom > "$WORK/noise.key"
private=(--set privacy.enabled=true --set privacy.target_epsilon=8 --set train.global_batch=32
         --set "privacy.noise_key_file=$WORK/noise.key" --set validation.every=0
         --set checkpoint.keep_best=false)
"$BIN" train "${cfg[@]}" "${private[@]}" --set run.device=cpu --set "run.out_dir=$WORK/private_cpu" \
  >/dev/null 2>&1 || fail "private CPU run failed"
"$BIN" train "${cfg[@]}" "${private[@]}" --set run.device=cuda --set cuda.precision=fp32 \
  --set "run.out_dir=$WORK/private_gpu" >/dev/null 2>"$WORK/private_gpu.err" ||
  { cat "$WORK/private_gpu.err"; fail "private GPU run failed"; }
same_losses "$WORK/private_gpu/metrics.jsonl" "$WORK/private_cpu/metrics.jsonl" 2e-4 ||
  fail "private GPU losses drift from the CPU's"
echo "ok: DP-SGD on the GPU follows the CPU's private run"

gpus=$(nvidia-smi -L | grep -c '^GPU' || true)
if [ "$gpus" -lt 2 ] || ! command -v mpirun >/dev/null; then
  echo "ok: $gpus GPU(s) here (or no mpirun); the multi-GPU half needs 2 GPUs and mpirun"
  exit 0
fi
# fp32, so the only difference from one rank is the order NCCL sums the two halves in.
gpu=(--set run.device=cuda --set cuda.precision=fp32 --set comm.timeout_s=120 --set train.log_every=1)
"$BIN" train "${cfg[@]}" "${gpu[@]}" --set train.grad_accum=2 --set "run.out_dir=$WORK/g1" \
  >/dev/null 2>"$WORK/g1.err" || { cat "$WORK/g1.err"; fail "1-GPU accumulation run failed"; }
# NCCL refuses two ranks on one GPU ("duplicate GPU"), so a run that completes bound
# local_rank 0 and 1 to different devices.
"${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" "${gpu[@]}" --set "run.out_dir=$WORK/g2" \
  >/dev/null 2>"$WORK/g2.err" || { cat "$WORK/g2.err"; fail "2-GPU run failed"; }
grep -q "train: world size 2" "$WORK/g2.err" || { cat "$WORK/g2.err"; fail "2-GPU run did not see 2 ranks"; }
grep -q "all-reduced with NCCL" "$WORK/g2.err" || { cat "$WORK/g2.err"; fail "2-GPU run did not use NCCL"; }
same_losses "$WORK/g2/metrics.jsonl" "$WORK/g1/metrics.jsonl" 1e-5 || fail "2 GPUs differ from 1 GPU with accumulation"
"${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" "${gpu[@]}" --set comm.zero1=true \
  --set "run.out_dir=$WORK/gz" >/dev/null 2>"$WORK/gz.err" || { cat "$WORK/gz.err"; fail "ZeRO-1 on 2 GPUs failed"; }
grep -q "ZeRO-1 (optimizer state sharded over 2 GPUs" "$WORK/gz.err" || { cat "$WORK/gz.err"; fail "ZeRO-1 not reported"; }
same_losses "$WORK/gz/metrics.jsonl" "$WORK/g2/metrics.jsonl" 1e-5 || fail "ZeRO-1 on GPUs differs from unsharded"
"$BIN" inspect "$WORK/gz/checkpoints/step_20" --compare "$WORK/g2/checkpoints/step_20" \
  --tolerance 1e-4 >/dev/null || fail "ZeRO-1 on GPUs: weights or optimizer state differ"
echo "ok: 2 GPUs follow 1 GPU with accumulation; ZeRO-1 on GPUs follows the unsharded run"
