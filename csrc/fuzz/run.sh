#!/usr/bin/env bash
# Fuzz csrc/http_parser.c (and csrc/static_files.c on what it parses) with libFuzzer (see csrc/fuzz/README.md).
#
#   csrc/fuzz/run.sh [SECONDS] [libFuzzer flags...]   fuzz for SECONDS (default 60)
#   csrc/fuzz/run.sh replay [-all-configs] [FILE|DIR...]
#                       run inputs (default: the seed corpus) through the
#                       harness once, built with $CC (default gcc) + ASan/UBSan;
#                       no libFuzzer needed
#
# Everything is built and written in a temporary directory; the repository is
# only read.  KEEP=1 keeps that directory (grown corpus, logs) and prints its
# path; it is always kept after a crash.  Exit status: 0 clean, non-zero on a
# crash, an invariant violation, a sanitizer report, a leak or a timeout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
csrc=$(dirname "$here")
srcs=("$csrc/http_parser.c" "$csrc/static_files.c" "$here/fuzz_parser.c" "$here/fuzz_files.c")
san=(-fsanitize=address,undefined -fno-sanitize-recover=all)
cflags=(-std=c11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -I"$csrc")

work=$(mktemp -d "${TMPDIR:-/tmp}/reactor-fuzz.XXXXXX")
keep=${KEEP:-0}
cleanup() {
    if [ "$keep" = 1 ]; then echo "run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

if [ "${1:-}" = replay ]; then
    shift
    cc=${CC:-gcc}
    command -v "$cc" >/dev/null || { echo "run.sh: $cc not found" >&2; exit 2; }
    "$cc" "${cflags[@]}" "${san[@]}" "${srcs[@]}" "$here/replay_main.c" -o "$work/replay"
    args=()
    paths=0
    for a in "$@"; do
        args+=("$a")
        case $a in -*) ;; *) paths=1 ;; esac
    done
    [ "$paths" = 1 ] || args+=("$here/corpus")
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$work/replay" "${args[@]}" 2>"$work/replay.log" || {
        rc=$?
        keep=1
        tail -n 40 "$work/replay.log" >&2
        echo "run.sh: replay FAILED (exit $rc)" >&2
        exit "$rc"
    }
    exit 0
fi

secs=60
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
    secs=$1
    shift
fi

missing() {
    cat >&2 <<EOF
run.sh: $1
  libFuzzer needs clang and its compiler-rt runtime; on Debian 12:
    apt-get install -y clang libclang-rt-14-dev
  (libclang-rt-14-dev provides libclang_rt.fuzzer-x86_64.a).  Without them,
  'csrc/fuzz/run.sh replay' still checks the seed corpus with gcc.
EOF
    exit 2
}
cc=${CC:-clang}
command -v "$cc" >/dev/null || missing "$cc not found"
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$work/probe.c"
"$cc" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" 2>"$work/probe.log" ||
    missing "$cc cannot link -fsanitize=fuzzer,address,undefined: $(head -n 3 "$work/probe.log")"

"$cc" "${cflags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all "${srcs[@]}" -o "$work/fuzz_parser"

mkdir -p "$work/corpus" "$work/artifacts"
cp "$here/corpus/"* "$work/corpus/"

echo "run.sh: fuzzing for ${secs}s in $work (seeds: $(ls "$here/corpus" | wc -l))" >&2
cd "$work"
rc=0
"$work/fuzz_parser" -max_total_time="$secs" -max_len=8192 -timeout=10 -dict="$here/http.dict" \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" "$work/corpus" >"$work/fuzz.log" 2>&1 || rc=$?

# the final stats: "#N DONE cov: ... ft: ..." (one per job with -jobs; fork mode
# prints a last "#N: cov: ..." line instead), then "Done N runs in S second(s)"
stats=$(grep -h -E '^#[0-9]+[[:space:]]+DONE' "$work/fuzz.log" "$work"/fuzz-*.log 2>/dev/null || true)
[ -n "$stats" ] || stats=$(grep -h -E '^#[0-9]+.*cov: ' "$work/fuzz.log" | tail -n 1 || true)
echo "$stats"
grep -h -E '^Done [0-9]+ runs' "$work/fuzz.log" "$work"/fuzz-*.log 2>/dev/null || true
grep -h -E '^stat::number_of_executed_units' "$work/fuzz.log" || true

crashes=$(ls "$work/artifacts" 2>/dev/null | wc -l)
if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
    keep=1
    echo "----- end of the libFuzzer log ($work/fuzz.log) -----" >&2
    grep -h -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|RELOAD)' "$work/fuzz.log" | tail -n 60 >&2
    for f in "$work"/artifacts/*; do
        [ -f "$f" ] || continue
        echo "run.sh: artifact $f ($(wc -c <"$f") bytes):" >&2
        od -A d -t x1z -v "$f" | head -n 20 >&2
    done
    echo "run.sh: FAILED (libFuzzer exit $rc, $crashes artifact(s))" >&2
    [ "$rc" != 0 ] || rc=1
    exit "$rc"
fi
echo "run.sh: no crash in ${secs}s" >&2
