#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with ASan+UBSan and runs each for SECONDS.
#
#   tools/fuzz.sh SECONDS [TARGET...]     (default: every target)
#
# For each target it first replays tests/fuzz/regressions/<target>/ (every crash or hang found
# so far), then fuzzes from the seeds (tests/fixtures, configs/ and files made by fuzz_seeds)
# plus what earlier runs kept in build/fuzz/work/corpus/<target>/. Crashing inputs land in
# build/fuzz/work/findings/<target>/; the repository itself is never written to.
# Prints a table (target, executions, execs/s, new crashes) and exits non-zero on any crash,
# hang (-timeout), out-of-memory (-rss_limit_mb) or leak.
#
# Environment: CARTFORMER_FUZZ_BUILD_DIR (default build/fuzz), CARTFORMER_JOBS (build jobs),
# CARTFORMER_FUZZ_TIMEOUT (seconds per input, default 10), CARTFORMER_FUZZ_RSS_MB (default 2048).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

usage="usage: tools/fuzz.sh SECONDS [TARGET...]"
seconds=${1:?$usage}
shift
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
  echo "$usage" >&2
  exit 2
fi
all_targets=(fuzz_raw_log_readers fuzz_safetensors fuzz_checkpoint_manifest fuzz_corpus_reader
             fuzz_train_config fuzz_prep_config)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=("${all_targets[@]}"); fi
for target in "${targets[@]}"; do
  if [[ " ${all_targets[*]} " != *" $target "* ]]; then
    echo "fuzz: unknown target $target (targets: ${all_targets[*]})" >&2
    exit 2
  fi
done

# clang brings libFuzzer; the runtimes and clang's OpenMP are separate Debian packages. As in
# tools/setup.sh, apt runs only when something is missing.
packages=(clang libclang-rt-14-dev libomp-14-dev)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_dir=${CARTFORMER_FUZZ_BUILD_DIR:-$root/build/fuzz}
launcher=()
if command -v ccache >/dev/null; then
  # Relative paths under the checkouts' parent folder, so worktrees share cache entries.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$root")}
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
build_start=$SECONDS
# -O1 -g without NDEBUG: fast enough to fuzz, readable stacks, and assert()s stay armed.
cmake -S "$root" -B "$build_dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCARTFORMER_FUZZ=ON -DCARTFORMER_CUDA=OFF \
  -DCARTFORMER_MPI=OFF -DCARTFORMER_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
cmake --build "$build_dir" --target fuzz -j "${CARTFORMER_JOBS:-$(nproc)}"
echo "fuzz: build took $((SECONDS - build_start)) s"

bin=$build_dir/fuzz
work=$build_dir/work
scratch=$(mktemp -d "${TMPDIR:-/tmp}/cf_fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/tmp" "$work/corpus" "$work/findings" "$work/logs"
"$bin/fuzz_seeds" "$root" "$scratch/seeds"

# allocator_may_return_null: a request beyond ASan's 1 TiB ceiling fails as plain malloc fails
# in a normal build (libhdf5 then reports an error; operator new still throws bad_alloc, which
# no harness catches) instead of aborting. Any single allocation above -rss_limit_mb that does
# succeed is still reported by libFuzzer as out-of-memory.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
timeout_s=${CARTFORMER_FUZZ_TIMEOUT:-10}
rss_mb=${CARTFORMER_FUZZ_RSS_MB:-2048}
# libFuzzer's exit code: non-zero for a crash, a timeout, an out-of-memory or a leak.
libfuzzer_flags=(-timeout="$timeout_s" -rss_limit_mb="$rss_mb" -print_final_stats=1)

failed=0
rows=()
for target in "${targets[@]}"; do
  regressions=$root/tests/fuzz/regressions/$target
  findings=$work/findings/$target
  corpus=$work/corpus/$target
  log=$work/logs/$target.log
  mkdir -p "$findings" "$corpus"
  # The harnesses write their temporary files under TMPDIR: the scratch folder, removed on exit.
  export TMPDIR=$scratch/tmp

  replay="-"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    inputs=("$regressions"/*)
    count=${#inputs[@]}
    # Given files (not a folder), libFuzzer runs each once and writes nothing.
    if "$bin/$target" "${libfuzzer_flags[@]}" "${inputs[@]}" >"$log.replay" 2>&1; then
      replay="$count ok"
    else
      replay="FAILED"
      failed=1
      echo "fuzz: $target fails on a regression input; see $log.replay" >&2
      tail -n 30 "$log.replay" >&2
    fi
  fi

  cp -n "$scratch/seeds/$target"/* "$corpus"/ 2>/dev/null || true
  dict=()
  if [ -f "$root/tests/fuzz/dicts/$target.dict" ]; then
    dict=(-dict="$root/tests/fuzz/dicts/$target.dict")
  fi
  before=$(find "$findings" -type f ! -name 'slow-unit-*' | wc -l)
  status=0
  "$bin/$target" "${libfuzzer_flags[@]}" "${dict[@]}" -max_total_time="$seconds" \
    -artifact_prefix="$findings/" "$corpus" >"$log" 2>&1 || status=$?
  after=$(find "$findings" -type f ! -name 'slow-unit-*' | wc -l)
  new_crashes=$((after - before))
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  if [ "$status" -ne 0 ]; then
    failed=1
    if [ "$new_crashes" -eq 0 ]; then new_crashes="exit $status"; fi
    echo "fuzz: $target failed (exit $status); log $log, inputs in $findings/" >&2
    grep -m 3 -E "ERROR: |runtime error|SUMMARY|deadly signal|Test unit written" "$log" >&2 || true
  fi
  rows+=("$(printf '%-26s %8s %12s %10s %12s %10s' "$target" "$seconds" "${executions:-?}" \
    "${rate:-?}" "$new_crashes" "$replay")")
done

echo
printf '%-26s %8s %12s %10s %12s %10s\n' target seconds executions execs/s "new crashes" \
  regressions
printf '%s\n' "${rows[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED (reproduce: $bin/<target> <input>; keep the input in" \
       "tests/fuzz/regressions/<target>/ with a unit test once fixed)" >&2
  exit 1
fi
echo "fuzz: no crashes, hangs or leaks"
