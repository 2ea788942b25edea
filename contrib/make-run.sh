#!/bin/sh
# `make run`: builds a demo tree under RUN_DIR and serves it in the
# foreground on 127.0.0.1:2121 to anonymous users. Ctrl-C stops it.
#   make-run.sh [--check] BUILD RUN_DIR
# A demo already running on RUN_DIR (its PidFile names a live poolftpd) is
# reported and nothing is changed: not the tree, not the configuration it
# runs on. --check does only that test (make runs it before building).
set -eu
check_only=no
if [ "${1:-}" = "--check" ]; then
  check_only=yes
  shift
fi
BUILD=$1
RUN=$2
PORT=${PORT:-2121}
TOP=$(cd "$(dirname "$0")/.." && pwd)

# The PID in the demo's PidFile, if it is a live poolftpd (the server's own
# rule: /proc/PID/exe named poolftpd; its comm when exe is unreadable). A
# stale file (dead PID, or a PID reused by another program) does not count.
running_demo_pid() {
  [ -r "$RUN/poolftpd.pid" ] || return 1
  pid=$(head -n 1 "$RUN/poolftpd.pid" 2>/dev/null | tr -cd '0-9')
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  if exe=$(readlink "/proc/$pid/exe" 2>/dev/null); then
    exe=${exe% (deleted)}
    [ "${exe##*/}" = poolftpd ] || return 1
  else
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = poolftpd ] || return 1
  fi
  echo "$pid"
}

if pid=$(running_demo_pid); then
  # Where it listens: the configuration it runs on, not this run's PORT.
  port=$(sed -n 's/^Port[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' "$RUN/poolftpd.conf" 2>/dev/null | tail -n 1)
  addr=$(sed -n 's/^DefaultAddress[[:space:]]\{1,\}\([^[:space:]]\{1,\}\).*/\1/p' "$RUN/poolftpd.conf" 2>/dev/null | tail -n 1)
  echo "make run: the demo is already running (PID $pid, ${addr:-127.0.0.1}:${port:-?}); stop it with: kill $pid" >&2
  echo "          (or Ctrl-C where it runs, or: $BUILD/ftpdctl -c $RUN/poolftpd.conf stop)" >&2
  exit 1
fi
[ "$check_only" = yes ] && exit 0

mkdir -p "$RUN/log" "$RUN/root/pub/docs"
chmod 0755 "$RUN" "$RUN/root" "$RUN/root/pub" "$RUN/root/pub/docs"
ROOT="$RUN/root"
cat > "$ROOT/welcome.msg" <<'MSG'
Welcome to the poolftpd demo mirror.
Everything here is read-only; try: ls, cd pub, get README.txt
MSG
cat > "$ROOT/pub/README.txt" <<'MSG'
This is the poolftpd demo tree, created by `make run`.
MSG
[ -f "$ROOT/pub/random-1MiB.bin" ] || head -c 1048576 /dev/urandom > "$ROOT/pub/random-1MiB.bin"
printf 'line one\nline two\nline three\n' > "$ROOT/pub/docs/unix-text.txt"
utf8_name=$(printf 'h\303\251llo w\303\266rld.txt')
printf 'caf\303\251 cr\303\250me br\303\273l\303\251e\n' > "$ROOT/pub/docs/$utf8_name"
( cd "$ROOT/pub" && sha256sum README.txt random-1MiB.bin > SHA256SUMS )
chmod -R a+rX "$ROOT"

if [ "$(id -u)" -eq 0 ]; then
  # As root the workers chroot into the tree and run as this account.
  ANONUSER=nobody ANONGROUP=nogroup
else
  ANONUSER=ftp ANONGROUP=ftp
fi
sed -e "s|@RUN@|$RUN|g" -e "s|@PORT@|$PORT|g" -e "s|@ANONUSER@|$ANONUSER|g" \
    -e "s|@ANONGROUP@|$ANONGROUP|g" "$TOP/conf/demo.conf.in" > "$RUN/poolftpd.conf"

"$BUILD/poolftpd" -t -c "$RUN/poolftpd.conf" >/dev/null

cat <<MSG
poolftpd demo: serving $ROOT
  on ftp://127.0.0.1:$PORT/ as anonymous (any password), read-only.

  connect:   lftp -u anonymous,me@example.org ftp://127.0.0.1:$PORT
             curl ftp://127.0.0.1:$PORT/pub/README.txt
  who is on: $BUILD/ftpwho -f $RUN/poolftpd.scoreboard
             $BUILD/ftpcount -f $RUN/poolftpd.scoreboard
  logs:      $RUN/log/system.log, $RUN/log/xferlog
  config:    $RUN/poolftpd.conf   (PidFile $RUN/poolftpd.pid)

Press Ctrl-C to stop.
MSG
exec "$BUILD/poolftpd" -n -q -c "$RUN/poolftpd.conf"
