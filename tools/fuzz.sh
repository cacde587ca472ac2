#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with ASan+UBSan and runs each for SECONDS.
#
#   tools/fuzz.sh SECONDS [TARGET...]     (default: every target)
#
# For each target it first replays tests/fuzz/regressions/<target>/ (every bug found and fixed
# so far) and tests/fuzz/upstream/<target>/ (libhdf5 bugs, see its README), then fuzzes from the
# seeds (tests/fixtures, configs/ and files made by fuzz_seeds) plus what earlier runs kept in
# build/fuzz/work/corpus/<target>/. Crashing inputs land in build/fuzz/work/findings/<target>/;
# the repository itself is never written to. Prints a table (target, seconds, executions,
# execs/s, new crashes, crashes inside libhdf5) and exits non-zero on any crash, hang
# (-timeout), out-of-memory (-rss_limit_mb) or leak in Cartformer's code.
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

# clang brings libFuzzer; the runtimes and clang's OpenMP are separate Debian packages.
"$root/tools/setup.sh" clang libclang-rt-14-dev libomp-14-dev

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

# Whether the crash report in log $1 puts the fault inside libhdf5 rather than in Cartformer:
# the first frame of the crash stack that is not sanitizer, libFuzzer, libc or libstdc++
# machinery (libc frames named by their glibc source, "sysdeps/...", too) lies in libhdf5, and
# so does the first such frame of the stack that allocated the memory involved, when the
# report has one (a buffer Cartformer allocated and libhdf5 overran is Cartformer's fault).
# Such crashes are libhdf5 bugs on corrupt files that no check of ours before calling HDF5 can
# prevent; they are kept and counted, not failed on.
blamed_on_libhdf5() {
  awk '
    function culprit(line) {
      return line !~ /in (__interceptor_|__asan|__sanitizer|__lsan|__ubsan|fuzzer::|malloc|calloc|realloc|free|operator new|operator delete|__cxa_|std::terminate|raise|abort|__pthread_kill|__libc_)/ &&
             line !~ /(libc\.so|libstdc\+\+\.so|libgcc_s\.so|ld-linux|sysdeps\/)/
    }
    /ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|deadly signal/ { stack = "crash" }
    /allocated by thread/ { stack = "alloc" }
    /freed by thread/ { stack = "" }
    /^ *#[0-9]+ 0x/ && stack != "" && !(stack in first) && culprit($0) { first[stack] = $0 }
    END {
      if (!("crash" in first) || first["crash"] !~ /libhdf5/) exit 1
      if (("alloc" in first) && first["alloc"] !~ /libhdf5/) exit 1
      exit 0
    }' "$1"
}

failed=0
rows=()
for target in "${targets[@]}"; do
  regressions=$root/tests/fuzz/regressions/$target
  upstream_inputs=$root/tests/fuzz/upstream/$target
  findings=$work/findings/$target
  corpus=$work/corpus/$target
  mkdir -p "$findings/libhdf5" "$corpus"
  rm -f "$work/logs/$target".*
  # The harnesses write their temporary files under TMPDIR: the scratch folder, removed on exit.
  export TMPDIR=$scratch/tmp

  # Inputs of bugs fixed in Cartformer must pass; inputs of libhdf5 bugs must not crash
  # anywhere but in libhdf5. Given files (not a folder), libFuzzer runs each once.
  replay="-"
  replayed=0
  for input in "$regressions"/* "$upstream_inputs"/*; do
    [ -f "$input" ] || continue
    replayed=$((replayed + 1))
    replay_log=$work/logs/$target.replay.$replayed.log
    if "$bin/$target" "${libfuzzer_flags[@]}" "$input" >"$replay_log" 2>&1; then continue; fi
    if [[ $input == "$upstream_inputs"/* ]] && blamed_on_libhdf5 "$replay_log"; then continue; fi
    replay="FAILED"
    failed=1
    echo "fuzz: $target fails on $input; see $replay_log" >&2
    grep -m 3 -E "ERROR: |runtime error|SUMMARY|deadly signal" "$replay_log" >&2 || true
  done
  if [ "$replayed" -gt 0 ] && [ "$replay" != FAILED ]; then replay="$replayed ok"; fi

  cp -n "$scratch/seeds/$target"/* "$corpus"/ 2>/dev/null || true
  dict=()
  if [ -f "$root/tests/fuzz/dicts/$target.dict" ]; then
    dict=(-dict="$root/tests/fuzz/dicts/$target.dict")
  fi
  # Fuzzes until the time is used up. libFuzzer stops at the first crash: one blamed on
  # libhdf5 is set aside and fuzzing resumes (at most 50 times); any other ends the target.
  start=$SECONDS
  executions=0
  ours=0
  in_libhdf5=0
  for run in $(seq 1 50); do
    remaining=$((start + seconds - SECONDS))
    if [ "$remaining" -lt 1 ]; then break; fi
    log=$work/logs/$target.$run.log
    status=0
    "$bin/$target" "${libfuzzer_flags[@]}" "${dict[@]}" -max_total_time="$remaining" \
      -artifact_prefix="$findings/" "$corpus" >"$log" 2>&1 || status=$?
    units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    executions=$((executions + ${units:-0}))
    if [ "$status" -eq 0 ]; then break; fi
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
    if [ -n "$artifact" ] && [ -f "$artifact" ] && blamed_on_libhdf5 "$log"; then
      in_libhdf5=$((in_libhdf5 + 1))
      mv "$artifact" "$findings/libhdf5/"
      echo "fuzz: $target: crash inside libhdf5 set aside ($findings/libhdf5/$(basename "$artifact"))"
      grep -m 1 -E "ERROR: |SUMMARY" "$log" || true
      continue
    fi
    ours=$((ours + 1))
    failed=1
    echo "fuzz: $target failed (exit $status); log $log, input ${artifact:-none}" >&2
    grep -m 3 -E "ERROR: |runtime error|SUMMARY|deadly signal" "$log" >&2 || true
    break
  done
  elapsed=$((SECONDS - start))
  rate=$((executions / (elapsed > 0 ? elapsed : 1)))
  rows+=("$(printf '%-26s %8s %12s %8s %12s %8s %12s' "$target" "$elapsed" "$executions" \
    "$rate" "$ours" "$in_libhdf5" "$replay")")
done

echo
printf '%-26s %8s %12s %8s %12s %8s %12s\n' target seconds executions execs/s "new crashes" \
  libhdf5 regressions
printf '%s\n' "${rows[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED (reproduce: $bin/<target> <input>; CF_FUZZ_VERBOSE=1 shows refusals;" \
       "keep a fixed input in tests/fuzz/regressions/<target>/ with a unit test)" >&2
  exit 1
fi
echo "fuzz: no crashes, hangs or leaks in Cartformer's code"
