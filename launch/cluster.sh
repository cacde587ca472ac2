#!/usr/bin/env bash
# Data-parallel `cartformer train` across several machines, started by Open MPI's mpirun.
#
#   launch/cluster.sh --hostfile FILE [--iface IFACE] [-n N] [--ppn P] [--dry-run] -- <train args...>
#   launch/cluster.sh --hostfile hosts --iface eth1 -- --config configs/pretrain/beauty.yaml --resume auto
#
# Requirements: passwordless ssh from this machine to every host in FILE, the same Open MPI
# version everywhere, and the binary, config, corpus and run.out_dir at the same paths on every
# host (a shared filesystem, or copies). Rank 0 writes the checkpoints; every rank reads the corpus.
#
# Hostfile: one host per line, `node1 slots=4`; '#' starts a comment.
#
# How many ranks, and where:
#   --ppn P   P ranks per node: `--map-by ppr:P:node`. Default: the GPUs `nvidia-smi -L` lists on
#             this machine (the nodes are assumed alike); with no GPU, one rank per hostfile slot.
#   -n N      total ranks (`-np N`); with --ppn, at most P per node.
#
# Network, the part that usually goes wrong. Machines often have several interfaces (docker0,
# virbr0, a management and a fast data network); MPI and NCCL must pick one that every node can
# reach. --iface IFACE pins all three to the same one:
#   --mca btl_tcp_if_include IFACE   Open MPI TCP data path (ob1 pml, btl tcp)
#   --mca oob_tcp_if_include IFACE   Open MPI out-of-band wire-up between mpirun and its daemons
#   NCCL_SOCKET_IFNAME=IFACE         NCCL bootstrap and its socket transport
# IFACE may be a name (eth1), a prefix (NCCL: `eth` matches eth0, eth1...) or, for the two
# Open MPI flags, a subnet (10.0.0.0/24). `ip -br addr` on each node shows which one carries the
# addresses the other nodes reach. When Open MPI picks the UCX pml (InfiniBand builds), its
# interface is chosen by UCX_NET_DEVICES instead (forwarded if set).
#
# Environment set here (kept when already set) and forwarded to every rank with `-x`:
#   NCCL_DEBUG=WARN    NCCL prints only problems; INFO shows the chosen transport and rings
#   OMP_NUM_THREADS    OpenMP threads per rank: nproc / ranks-per-node of this machine, at least 1
#   OMP_WAIT_POLICY    passive: idle OpenMP threads yield the core
# Forwarded as they are, when set: every NCCL_*, OMP_*, UCX_* and CARTFORMER_* variable, e.g.
#   NCCL_IB_DISABLE=1  NCCL skips InfiniBand/RoCE and uses sockets (the IB fabric is missing or
#                      misconfigured, or you want to compare against TCP)
#   NCCL_IB_HCA=mlx5_0,mlx5_1  which HCAs (ports: mlx5_0:1) NCCL uses; `ibv_devinfo` lists them.
#                      Set it when a node has an HCA that is not on the training fabric.
# CARTFORMER_BIN       binary (default: build/release/bin/cartformer under this checkout)
# CARTFORMER_MPIRUN_ARGS  extra mpirun arguments, split on spaces (e.g. `--prefix /opt/openmpi`)
#
# The command is printed before it runs. The exit code is the job's: 75 means the run checkpointed
# on SIGUSR1/SIGTERM (mpirun forwards SIGUSR1 to every rank); resume with --resume auto.
set -euo pipefail

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
}

root=$(cd "$(dirname "$0")/.." && pwd)
hostfile="" iface="" ranks="" ppn="" dry_run=0
need() { [ "$2" -ge 2 ] || { echo "cluster.sh: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case $1 in
    --hostfile) need "$1" $#; hostfile=$2; shift 2 ;;
    --iface) need "$1" $#; iface=$2; shift 2 ;;
    -n|--np) need "$1" $#; ranks=$2; shift 2 ;;
    --ppn) need "$1" $#; ppn=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "cluster.sh: unknown option '$1' (train arguments go after --; see --help)" >&2; exit 2 ;;
  esac
done
train_args=("$@")

[ -n "$hostfile" ] || { echo "cluster.sh: --hostfile FILE is required (see --help)" >&2; exit 2; }
[ -r "$hostfile" ] || { echo "cluster.sh: cannot read hostfile $hostfile" >&2; exit 2; }
for v in ranks ppn; do
  if [ -n "${!v}" ] && ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
    echo "cluster.sh: ${v/ranks/-n} needs a positive integer, got '${!v}'" >&2; exit 2
  fi
done
command -v mpirun >/dev/null 2>&1 || { echo "cluster.sh: mpirun not found (apt-get install openmpi-bin)" >&2; exit 127; }
bin=${CARTFORMER_BIN:-$root/build/release/bin/cartformer}
[ -x "$bin" ] || { echo "cluster.sh: no binary at $bin (./tools/build.sh, or set CARTFORMER_BIN)" >&2; exit 127; }

gpus=0
if command -v nvidia-smi >/dev/null 2>&1; then
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
fi
[ -z "$ppn" ] && [ "$gpus" -gt 0 ] && ppn=$gpus
# Ranks per node for the OpenMP default: --ppn, else the largest slot count in the hostfile.
per_node=$ppn
if [ -z "$per_node" ]; then
  per_node=$(awk '{sub(/#.*/, "")} NF { s = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { sub(/^slots=/, "", $i); s = $i }
                   if (s > m) m = s } END { print (m > 0 ? m : 1) }' "$hostfile")
fi
cores=$(nproc)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores / per_node > 0 ? cores / per_node : 1 ))}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}

cmd=(mpirun --hostfile "$hostfile")
[ -n "$ranks" ] && cmd+=(-np "$ranks")
[ -n "$ppn" ] && cmd+=(--map-by "ppr:$ppn:node")
[ "${EUID:-$(id -u)}" -eq 0 ] && cmd+=(--allow-run-as-root)
if [ "$gpus" -gt 0 ]; then cmd+=(--bind-to socket); else cmd+=(--bind-to none); fi
if [ -n "$iface" ]; then
  export NCCL_SOCKET_IFNAME=$iface
  cmd+=(--mca btl_tcp_if_include "$iface" --mca oob_tcp_if_include "$iface")
fi
while IFS= read -r var; do
  cmd+=(-x "$var")
done < <(compgen -e | grep -E '^(NCCL_|OMP_|UCX_|CARTFORMER_)' | sort)
[ -n "${LD_LIBRARY_PATH:-}" ] && cmd+=(-x LD_LIBRARY_PATH)
if [ -n "${CARTFORMER_MPIRUN_ARGS:-}" ]; then
  read -r -a extra <<<"$CARTFORMER_MPIRUN_ARGS"
  cmd+=("${extra[@]}")
fi
cmd+=("$bin" train "${train_args[@]}")

echo "+ $(printf '%q ' "${cmd[@]}")" >&2
[ "$dry_run" -eq 1 ] && exit 0
exec "${cmd[@]}"
