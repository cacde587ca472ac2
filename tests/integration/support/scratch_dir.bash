# A test script's scratch dir ($WORK, prefix $SCRATCH_PREFIX) and the guarantee that nothing the
# script started outlives it. Sourced by common.bash and by the scripts that do not use it.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/${SCRATCH_PREFIX:-cartformer-it}.XXXXXX")
# Nothing a test started outlives it, whichever way it ends (pass, `fail`, `set -e`, or a signal
# such as ctest's timeout): on exit every process below this script is killed (mpirun and its
# ranks included, collected before any of them dies so none is missed by being re-parented), then
# anything still naming the scratch dir on its command line (every command here names a path in
# $WORK), then the scripts' own cleanup hooks run and the scratch dir is removed.
EXIT_HOOKS=()
on_exit() { EXIT_HOOKS+=("$1"); }
descendants_of() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do echo "$child"; descendants_of "$child"; done
}
end_started_processes() {
  local pids
  pids=$(descendants_of $$; pgrep -f -- "$WORK" 2>/dev/null || true)
  # shellcheck disable=SC2086  # a list of pids
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}
on_script_exit() {
  local rc=$? hook
  trap - EXIT
  end_started_processes
  for hook in "${EXIT_HOOKS[@]}"; do eval "$hook" || true; done
  rm -rf "$WORK"
  exit "$rc"
}
trap on_script_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
