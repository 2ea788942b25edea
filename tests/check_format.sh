#!/bin/sh
# Fails when a C++ file under src/ include/ scoreboard/ tools/ tests/unit is
# not formatted as .clang-format says (clang-format 14, Debian's
# clang-format package; contrib/install-deps.sh --test installs it). Lists
# each such file and how many lines clang-format would change; -v also
# prints the diff. Changes no file.
set -eu
cd "$(dirname "$0")/.."
verbose=0
[ "${1:-}" = "-v" ] && verbose=1
if ! command -v clang-format >/dev/null 2>&1; then
  echo "check_format: clang-format not found (apt-get install clang-format)" >&2
  exit 2
fi
bad=0
total=0
for f in $(find src include scoreboard tools tests/unit -name '*.cc' -o -name '*.h' | sort); do
  n=$(clang-format --style=file "$f" | diff "$f" - | grep -c '^[<>]' || true)
  if [ "$n" -ne 0 ]; then
    echo "check_format: $f: $n line(s) differ from clang-format"
    [ "$verbose" -eq 1 ] && clang-format --style=file "$f" | diff -u "$f" - || true
    bad=$((bad + 1))
    total=$((total + n))
  fi
done
if [ "$bad" -ne 0 ]; then
  echo "check_format: $bad file(s) not formatted ($total line(s)); run clang-format -i on them"
  exit 1
fi
echo "check_format: every file is formatted"
