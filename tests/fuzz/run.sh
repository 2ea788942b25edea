#!/bin/sh
# Runs the libFuzzer targets that `make fuzz-build` built (see README,
# "Fuzzing"). Called by make; safe to run by hand.
#   run.sh fuzz BUILD SECONDS TARGET...   fuzz each target for SECONDS on
#       BUILD/work/TARGET/corpus: a copy of tests/fuzz/corpus/TARGET (plus
#       its regressions) and what earlier runs found there (remove the
#       directory to start from the seeds); new inputs stay there, never
#       in tests/fuzz.
#   run.sh regress BUILD TARGET...        run each target once over every
#       file of tests/fuzz/corpus/TARGET and tests/fuzz/regressions/TARGET.
# Exits 1 when a target crashed (or found a leak, a hang, a violated
# property); the message names the input libFuzzer saved and the log.
# FUZZ_JOBS=2: fuzz two targets at a time (the default is one).
set -u
cd "$(dirname "$0")/../.."
mode=$1
build=$2
shift 2
seconds=0
if [ "$mode" = fuzz ]; then
  seconds=$1
  shift
fi
jobs=${FUZZ_JOBS:-1}

# Per target: longest input, dictionary.
max_len() {
  case "$1" in
    line_reader) echo 20000 ;;
    config) echo 16384 ;;
    scoreboard) echo 6000 ;;
    args) echo 1100 ;;
    *) echo 8192 ;;
  esac
}
dict() {
  case "$1" in
    config) echo tests/fuzz/config.dict ;;
    line_reader | args | session | ftpbench) echo tests/fuzz/ftp.dict ;;
    *) echo "" ;;
  esac
}

# Sanitizer reports end the run; UBSan aborts (the build has
# -fno-sanitize-recover), LeakSanitizer runs at each input's end.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$build/tmp"
TMPDIR=$(cd "$build/tmp" && pwd)
export TMPDIR

fuzz_one() {  # fuzz_one TARGET: 0 ok, 1 crash
  t=$1
  bin=$build/${t}_fuzz
  work=$build/work/$t
  art=$build/artifacts/$t
  mkdir -p "$work/corpus" "$art"
  for d in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do
    [ -d "$d" ] && find "$d" -type f ! -name '.*' -exec cp {} "$work/corpus/" \;
  done
  d=$(dict "$t")
  set -- -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
    -artifact_prefix="$art/" -print_final_stats=1
  [ -n "$d" ] && set -- "$@" -dict="$d"
  start=$(date +%s)
  "$bin" "$@" "$work/corpus" > "$work/log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  stats=$(grep -E '^#[0-9]+' "$work/log" | tail -n 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
  echo "fuzz: $t: ${took}s, $execs runs, $speed exec/s, $(echo "$stats" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+')"
  if [ "$rc" -ne 0 ]; then
    crash=$(ls -t "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-* 2>/dev/null | head -n 1)
    echo "fuzz: $t FAILED (exit $rc): input ${crash:-(none saved)}; log $work/log" >&2
    grep -E 'ERROR: |property violated|runtime error' "$work/log" | head -n 5 >&2
    return 1
  fi
  return 0
}

regress_one() {
  t=$1
  bin=$build/${t}_fuzz
  files=$(find tests/fuzz/corpus/$t tests/fuzz/regressions/$t -type f ! -name '.*' 2>/dev/null | sort)
  if [ -z "$files" ]; then
    echo "fuzz-regress: $t: no inputs"
    return 0
  fi
  n=$(echo "$files" | wc -l)
  log=$build/work/$t.regress.log
  mkdir -p "$build/work"
  # Files (not directories) as arguments: libFuzzer runs each once and exits.
  # shellcheck disable=SC2086
  if "$bin" -timeout=25 -rss_limit_mb=2048 $files > "$log" 2>&1; then
    echo "fuzz-regress: $t: $n inputs ok"
    return 0
  fi
  echo "fuzz-regress: $t FAILED: $(grep -E '^Running: ' "$log" | tail -n 1 | sed 's/^Running: //'); log $log" >&2
  grep -E 'ERROR: |property violated|runtime error' "$log" | head -n 5 >&2
  return 1
}

fail=0
if [ "$mode" = regress ]; then
  for t in "$@"; do regress_one "$t" || fail=1; done
  exit $fail
fi
if [ "$mode" != fuzz ]; then
  echo "usage: $0 fuzz BUILD SECONDS TARGET... | regress BUILD TARGET..." >&2
  exit 2
fi
# Up to $jobs targets at once; each one's result in a status file.
mkdir -p "$build/work"
running=0
for t in "$@"; do
  ( fuzz_one "$t"; echo $? > "$build/work/$t.status" ) &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait
    running=0
  fi
done
wait
for t in "$@"; do
  [ "$(cat "$build/work/$t.status" 2>/dev/null)" = 0 ] || fail=1
done
exit $fail
