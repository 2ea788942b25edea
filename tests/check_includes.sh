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
    net) echo "util config log net" ;;
    data) echo "util config log scoreboard fs net data" ;;
    protocol) echo "util config log scoreboard fs auth net data protocol" ;;
    worker) echo "util config log scoreboard fs auth net data protocol worker" ;;
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

for m in util config log auth fs net data protocol worker master; do
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
# protocol reaches the connection only through net::Stream and net::Wait
# (the seam TLS and PROXY plug into): no socket, poll or ioctl system calls
# and none of their headers in src/protocol or include/poolftpd/protocol.
for f in src/protocol/*.cc src/protocol/*.h include/poolftpd/protocol/*.h; do
  [ -f "$f" ] || continue
  if grep -En '#include <(poll\.h|sys/socket\.h|sys/ioctl\.h|sys/epoll\.h|sys/select\.h|netinet/[a-z]*\.h)>' "$f"; then
    echo "check_includes: $f: protocol must not include socket/poll headers (use poolftpd/net/)"; bad=1
  fi
  if grep -En '(::|[^A-Za-z0-9_.>:])(send|sendto|sendmsg|sendfile|recv|recvfrom|recvmsg|ppoll|poll|epoll_wait|epoll_pwait|select|pselect|shutdown|ioctl|setsockopt|getsockopt|accept4?|connect|bind|listen|socket)[[:space:]]*\(' "$f" \
      | grep -Ev '^[0-9]+:[[:space:]]*//'; then
    echo "check_includes: $f: protocol must not make socket or poll system calls (use net::Stream / net::Wait)"; bad=1
  fi
done
[ "$bad" -eq 0 ] && echo "check_includes: module dependencies OK"
exit "$bad"
