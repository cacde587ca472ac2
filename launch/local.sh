#!/usr/bin/env bash
# Data-parallel `cartformer train` on this machine: N ranks started by Open MPI's mpirun.
#
#   launch/local.sh [-n N] [--dry-run] -- <cartformer train args...>
#   launch/local.sh -n 2 -- --config configs/pretrain/beauty.yaml --resume auto
#
# N defaults to the number of GPUs `nvidia-smi -L` lists, or 1 when there is none.
# Environment:
#   CARTFORMER_BIN          binary (default: build/release/bin/cartformer)
#   OMP_NUM_THREADS         OpenMP threads per rank (default: max(1, nproc / N))
#   OMP_WAIT_POLICY         default passive with several ranks (idle OpenMP threads yield their
#                           core); one rank keeps libgomp's default
#   CARTFORMER_MPIRUN_ARGS  extra mpirun arguments, split on spaces
# mpirun flags it adds: --oversubscribe when N > nproc, --allow-run-as-root when run as root,
# --bind-to none for CPU ranks (the default binding would pin a rank and all of its OpenMP threads
# to one core), --bind-to socket for GPU ranks (host threads stay on one socket).
# The exit code is the job's: 75 means "checkpointed on SIGUSR1/SIGTERM, resume with --resume auto".
# SIGTERM to this script reaches the ranks as SIGUSR1 (mpirun itself would kill them on SIGTERM).
set -euo pipefail

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
}

root=$(cd "$(dirname "$0")/.." && pwd)
ranks=""
dry_run=0
while [ $# -gt 0 ]; do
  case $1 in
    -n|--np)
      [ $# -ge 2 ] || { echo "local.sh: $1 needs a value" >&2; exit 2; }
      ranks=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "local.sh: unknown option '$1' (train arguments go after --; see --help)" >&2; exit 2 ;;
  esac
done
train_args=("$@")

if [ -n "$ranks" ] && ! [[ $ranks =~ ^[1-9][0-9]*$ ]]; then
  echo "local.sh: -n needs a positive integer, got '$ranks'" >&2; exit 2
fi

gpus=0
if command -v nvidia-smi >/dev/null 2>&1; then
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
fi
ranks=${ranks:-$(( gpus > 0 ? gpus : 1 ))}

command -v mpirun >/dev/null 2>&1 || { echo "local.sh: mpirun not found (apt-get install openmpi-bin)" >&2; exit 127; }
bin=${CARTFORMER_BIN:-$root/build/release/bin/cartformer}
[ -x "$bin" ] || command -v "$bin" >/dev/null 2>&1 \
  || { echo "local.sh: no binary at $bin (./tools/build.sh, or set CARTFORMER_BIN)" >&2; exit 127; }

cores=$(nproc)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores / ranks > 0 ? cores / ranks : 1 ))}
# Several ranks share the cores: passive keeps one rank's idle threads from spinning on a core
# another rank needs. One rank owns them: libgomp's default (spin briefly, then sleep) is faster
# for small models, whose steps are many short parallel regions (demo pretraining, 300 steps:
# 6.5-7.7 s against 8.1-9.2 s passive; twice that gap on a busy host).
if [ "$ranks" -gt 1 ]; then export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}; fi

cmd=(mpirun -np "$ranks")
[ "$ranks" -gt "$cores" ] && cmd+=(--oversubscribe)
[ "${EUID:-$(id -u)}" -eq 0 ] && cmd+=(--allow-run-as-root)
if [ "$gpus" -gt 0 ]; then cmd+=(--bind-to socket); else cmd+=(--bind-to none); fi
if [ -n "${CARTFORMER_MPIRUN_ARGS:-}" ]; then
  read -r -a extra <<<"$CARTFORMER_MPIRUN_ARGS"
  cmd+=("${extra[@]}")
fi
cmd+=("$bin" train "${train_args[@]}")

echo "local.sh: $ranks rank(s), $([ "$gpus" -gt 0 ] && echo "$gpus GPU(s)" || echo "CPU"), OMP_NUM_THREADS=$OMP_NUM_THREADS" >&2
echo "+ $(printf '%q ' "${cmd[@]}")" >&2
[ "$dry_run" -eq 1 ] && exit 0
# mpirun answers SIGTERM by killing the ranks a moment later, before they can checkpoint; pass
# it on as SIGUSR1, which mpirun forwards and cartformer turns into checkpoint + exit 75.
"${cmd[@]}" &
job=$!
trap 'kill -USR1 "$job" 2>/dev/null' TERM
trap 'kill -INT "$job" 2>/dev/null' INT
while :; do
  rc=0
  wait "$job" || rc=$?
  kill -0 "$job" 2>/dev/null || exit "$rc"  # wait returns early when a trapped signal arrives
done
