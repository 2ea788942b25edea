#!/bin/sh
# What the sample poolftpd.conf serves, created the way Debian's proftpd
# package does it: a system group and user "ftp" (home /srv/ftp, no login
# shell, no password) and the directory /srv/ftp itself, owned by root and
# not writable by ftp, so anonymous sessions can read but never change it.
#
# `make install` runs this as root when DESTDIR is empty; a package runs it
# (installed as DOCDIR/ftp-account.sh) or its own equivalent from postinst.
# Idempotent: an existing user (whatever its home and groups), group or
# directory is left exactly as it is, and the script says so. Needs only
# getent, groupadd and useradd (passwd, on every Debian system).
set -eu

name=ftp
home=/srv/ftp

if [ "$(id -u)" -ne 0 ]; then
  echo "ftp-account: needs root (creates user $name and $home)" >&2
  exit 1
fi

shell=/usr/sbin/nologin
[ -x "$shell" ] || shell=/sbin/nologin
[ -x "$shell" ] || shell=/bin/false

if getent passwd "$name" >/dev/null; then
  echo "ftp-account: user $name exists ($(getent passwd "$name" | cut -d: -f6)); left alone"
else
  if getent group "$name" >/dev/null; then
    echo "ftp-account: group $name exists; left alone"
  else
    groupadd --system "$name"
    echo "ftp-account: created system group $name"
  fi
  # --no-create-home: the directory is made below, owned by root.
  useradd --system --gid "$name" --home-dir "$home" --no-create-home --shell "$shell" \
    --comment "anonymous FTP" "$name"
  echo "ftp-account: created system user $name (home $home, shell $shell)"
fi

if [ -e "$home" ] || [ -L "$home" ]; then
  if [ -d "$home" ]; then
    echo "ftp-account: $home exists; left alone"
    # shellcheck disable=SC2046 # two words on purpose: owner and octal mode
    set -- $(stat -c '%U %a' "$home")
    case "$1:$2" in
      "$name":*|*:*[2367]?|*:*[2367]) echo "ftp-account: warning: $home (owner $1, mode $2) is writable by more than root" >&2 ;;
    esac
  else
    echo "ftp-account: $home exists and is not a directory; left alone (the sample configuration serves it)" >&2
  fi
else
  # SECURITY: root-owned and 0755: the anonymous account can read the tree
  # but not write to it, even if a misconfiguration allowed uploads.
  mkdir -p "$(dirname "$home")"
  install -d -o root -g root -m 0755 "$home"
  echo "ftp-account: created $home (root:root, 0755)"
fi
