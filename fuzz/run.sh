#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ (clang++-14, ASan + UBSan),
# replays every input under fuzz/regressions/, then fuzzes each target for
# the given seconds (default 20) on a copy of its seed corpus kept in the
# build dir. Exits non-zero when any input crashes. See docs/fuzzing.md.
#
#   fuzz/run.sh [seconds-per-target] [target...]
#   HOMESIP_FUZZ_BUILD=dir  build dir (default build-fuzz/)
#   JOBS=n                  build parallelism (default 2)
#   CXX=clang++-NN          compiler (default clang++-14)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ="$ROOT/fuzz"
SECONDS_PER_TARGET=${1:-20}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(fuzz_message_limits fuzz_sip_request fuzz_response_encoder fuzz_names fuzz_digest)
BUILD=${HOMESIP_FUZZ_BUILD:-$ROOT/build-fuzz}
CXX_COMPILER=${CXX:-clang++-14}
case "$SECONDS_PER_TARGET" in '' | *[!0-9]*) echo "usage: $0 [seconds-per-target] [target...]" >&2; exit 2 ;; esac

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

say "configuring $BUILD ($CXX_COMPILER, HOMESIP_FUZZ=ON)"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER="$CXX_COMPILER" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHOMESIP_FUZZ=ON -DHOMESIP_ALLOCATOR=system -DHOMESIP_BUILD_TESTS=OFF >/dev/null
say "building the fuzz targets"
cmake --build "$BUILD" -j "${JOBS:-2}" --target "${TARGETS[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
WORK="$BUILD/fuzz/work"
failed=()

# Regressions: inputs that once crashed a target, replayed one by one.
for target in "${TARGETS[@]}"; do
  dir="$FUZZ/regressions/$target"
  [ -d "$dir" ] || continue
  mapfile -t inputs < <(find "$dir" -type f ! -name '*.md' | sort)
  [ ${#inputs[@]} -gt 0 ] || continue
  say "$target: replaying ${#inputs[@]} regression input(s)"
  log="$WORK/$target/regressions.log"
  mkdir -p "$WORK/$target"
  if ! "$BUILD/fuzz/$target" -runs=1 "${inputs[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "$target: a regression input crashes (log: $log)" >&2
    failed+=("$target (regression)")
  fi
done

for target in "${TARGETS[@]}"; do
  corpus="$WORK/$target/corpus"
  artifacts="$WORK/$target/artifacts/"
  mkdir -p "$corpus" "$artifacts"
  # The corpus grows in the build dir from run to run; the seeds are never written to.
  cp -n "$FUZZ/corpus/$target/"* "$corpus/" 2>/dev/null || true
  dict=()
  case "$target" in fuzz_message_limits | fuzz_sip_request | fuzz_response_encoder) dict=(-dict="$FUZZ/sip.dict") ;; esac
  say "$target: fuzzing for ${SECONDS_PER_TARGET}s"
  log="$WORK/$target/fuzz.log"
  if "$BUILD/fuzz/$target" -max_len=65536 -timeout=5 -rss_limit_mb=2048 -max_total_time="$SECONDS_PER_TARGET" \
       -print_final_stats=1 -artifact_prefix="$artifacts" "${dict[@]}" "$corpus" >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "$log" | tr '\n' ' '
    echo
  else
    tail -n 80 "$log"
    echo "$target: crash; input under $artifacts (log: $log)" >&2
    echo "  minimize: $BUILD/fuzz/$target -minimize_crash=1 -runs=20000 <crash-file>" >&2
    echo "  then add it to fuzz/regressions/$target/" >&2
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}" >&2
  exit 1
fi
say "no crashes"
