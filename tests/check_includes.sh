#!/bin/sh
# Enforces the module dependency rules of STYLE.md section 2: each folder may
# include only the poolftpd headers of the modules listed for it. A forbidden
# edge fails `make test`.
set -eu
cd "$(dirname "$0")/.."

allowed() {
  case "$1" in
    util) echo "util" ;;
    config) echo "util config" ;;
    log) echo "util config log" ;;
    scoreboard) echo "util scoreboard" ;;
    auth) echo "util config log scoreboard auth" ;;
    fs) echo "util config log scoreboard fs" ;;
    data) echo "util config log scoreboard fs data" ;;
    protocol) echo "util config log scoreboard fs auth data protocol" ;;
    worker) echo "util config log scoreboard fs auth data protocol worker" ;;
    master) echo "util config log scoreboard worker master" ;;
    tools) echo "util config scoreboard" ;;
    main) echo "util config master" ;;
  esac
}

bad=0
check() {  # check MODULE FILE...
  mod=$1; shift
  ok=$(allowed "$mod")
  for f in "$@"; do
    [ -f "$f" ] || continue
    for dep in $(sed -n 's|^#include "poolftpd/\([a-z_]*\)/.*|\1|p' "$f" | sort -u); do
      case " $ok " in
        *" $dep "*) ;;
        *) echo "check_includes: $f: module '$mod' must not include poolftpd/$dep/"; bad=1 ;;
      esac
    done
  done
}

for m in util config log auth fs data protocol worker master; do
  check "$m" src/"$m"/*.cc src/"$m"/*.h include/poolftpd/"$m"/*.h
done
check scoreboard scoreboard/*.cc include/poolftpd/scoreboard/*.h
check tools tools/*/*.cc tools/*/*.h
check main src/main.cc
# Tools link the scoreboard and the config module (libpf_config.a with
# libpf_util.a), to read the config through the server's parser; of config
# they use the loader (config.h) only, not the server's environment checks.
for f in tools/*/*.cc tools/*/*.h; do
  [ -f "$f" ] || continue
  if grep -q '#include "poolftpd/config/environment\.h"' "$f"; then
    echo "check_includes: $f: tools may use only poolftpd/config/config.h of the config module"; bad=1
  fi
done
[ "$bad" -eq 0 ] && echo "check_includes: module dependencies OK"
exit "$bad"
