#!/usr/bin/env bash
# Two "hosts" on one machine: network namespaces A and B joined by a veth pair. mpirun runs in A;
# its rsh agent starts the remote daemon inside B, so rank 1 really talks to rank 0 over TCP on
# the veth, as between two machines. First the mechanics (where each rank runs), then a 2-rank
# `cartformer train`. Needs root, `ip netns` and mpirun; otherwise prints SKIP and passes.
# shellcheck source=support/common.bash
source "$(dirname "$0")/support/common.bash"

skip() { echo "SKIP: $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v mpirun >/dev/null 2>&1 || skip "mpirun not installed"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) not installed"

nsA=cfA$$ nsB=cfB$$ vethA=cfa$$ vethB=cfb$$
net=10.$(( ($$ / 250) % 250 + 1 )).$(( $$ % 250 + 1 ))
ipA=$net.1 ipB=$net.2

cleanup() {
  local ns pid
  for ns in "$nsA" "$nsB"; do
    # Only processes this test started can live in its namespaces.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true   # takes its end of the veth pair with it
  done
  ip link del "$vethA" 2>/dev/null || true     # if it never reached a namespace
}
on_exit cleanup

ip netns add "$nsA" 2>/dev/null || skip "ip netns add failed (no CAP_SYS_ADMIN or no netns support)"
ip netns add "$nsB" || fail "ip netns add $nsB"
ip link add "$vethA" type veth peer name "$vethB" || skip "cannot create a veth pair"
ip link set "$vethA" netns "$nsA"
ip link set "$vethB" netns "$nsB"
for side in "A $nsA $vethA $ipA" "B $nsB $vethB $ipB"; do
  read -r _ ns dev addr <<<"$side"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/24" dev "$dev"
  ip -n "$ns" link set "$dev" up
done

# mpirun starts the daemon of a non-local host as `<agent> [ssh options] <host> <command...>`;
# like ssh, the agent runs the command line with a shell, here inside that host's namespace.
agent=$WORK/netns_rsh
cat > "$agent" <<EOF
#!/usr/bin/env bash
set -euo pipefail
while [ \$# -gt 0 ]; do
  case \$1 in
    -[BbcDEeFIiJLlmOoPpQRSWw]) shift 2 ;;  # ssh options that take a value
    --) shift; break ;;
    -*) shift ;;                             # flags (-x, -T, -q...) and -oKey=value
    *) break ;;
  esac
done
host=\$1; shift
case \$host in
  $ipA) ns=$nsA ;;
  $ipB) ns=$nsB ;;
  *) echo "netns_rsh: unknown host '\$host'" >&2; exit 255 ;;
esac
echo "\$host -> \$ns" >> "$WORK/agent.log"
exec ip netns exec "\$ns" sh -c "\$*"
EOF
chmod +x "$agent"
printf '%s slots=1\n%s slots=1\n' "$ipA" "$ipB" > "$WORK/hosts"

# The corpus first: building it measures this machine's PACE, which scales the hang guard below.
make_tiny_corpus
# A rank that cannot reach its peer makes mpirun hang rather than fail: end it after 60 s on the
# development machine, longer on a slower one.
# shellcheck disable=SC2054  # commas inside MCA values, not between array elements
mpi=(timeout -k 5 "$(scaled_seconds 60)" ip netns exec "$nsA" mpirun --allow-run-as-root -np 2 --hostfile "$WORK/hosts"
     --mca plm_rsh_agent "$agent" --mca plm_rsh_no_tree_spawn 1
     --mca pml ob1 --mca btl tcp,self
     --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24"
     --bind-to none -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY)

# 1. Mechanics: each rank reports its rank and the IPv4 addresses it sees.
# shellcheck disable=SC2016  # expanded by the rank's shell, not here
"${mpi[@]}" sh -c 'echo "rank=$OMPI_COMM_WORLD_RANK addrs=$(ip -o -4 addr show | awk "{print \$4}" | tr "\n" " ")"' \
  > "$WORK/where.txt" 2> "$WORK/where.err" || { cat "$WORK/where.err" >&2; fail "2-rank mpirun across namespaces failed"; }
cat "$WORK/where.txt"
r0=$(grep '^rank=0 ' "$WORK/where.txt") || fail "no output from rank 0"
r1=$(grep '^rank=1 ' "$WORK/where.txt") || fail "no output from rank 1"
[[ $r0 == *" $ipA/24 "* && $r0 != *" $ipB/24 "* ]] || fail "rank 0 did not run in namespace A: $r0"
[[ $r1 == *" $ipB/24 "* && $r1 != *" $ipA/24 "* ]] || fail "rank 1 did not run in namespace B: $r1"
grep -qx "$ipB -> $nsB" "$WORK/agent.log" || fail "the rsh agent was not used to start host B"
echo "ok: rank 0 in $nsA ($ipA), rank 1 in $nsB ($ipB), daemon started through the rsh agent"

# 2. Data-parallel training across the two namespaces.
"${mpi[@]}" "$BIN" train --config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5" \
  "${TINY[@]}" --set train.steps=6 --set checkpoint.every=100 --set "run.out_dir=$WORK/run" --quiet \
  > "$WORK/train.out" 2> "$WORK/train.err" \
  || { cat "$WORK/train.err" >&2; fail "2-rank training across namespaces exited non-zero"; }
compgen -G "$WORK/run/checkpoints/step_*" >/dev/null || { cat "$WORK/train.err" >&2; fail "no checkpoint written"; }
grep -qx 'train: world size 2 (mpi)' "$WORK/train.err" \
  || { cat "$WORK/train.err" >&2; fail "stderr lacks 'train: world size 2 (mpi)': the ranks did not train as one job"; }
# The two "hosts" trained as one: the same weights as one process accumulating both halves.
"$BIN" train --config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5" \
  "${TINY[@]}" --set train.steps=6 --set checkpoint.every=100 --set train.grad_accum=2 \
  --set "run.out_dir=$WORK/one" --quiet >/dev/null 2>&1 || fail "1-rank reference run failed"
"$BIN" inspect "$WORK/run/checkpoints/step_6" --compare "$WORK/one/checkpoints/step_6" \
  --tolerance 1e-6 >/dev/null || fail "the cross-namespace run differs from the 1-rank reference"
echo "ok: 2-rank training across two network namespaces over TCP matches 1 rank x 2 accumulation"
