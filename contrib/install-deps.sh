#!/bin/sh
# Installs the Debian packages poolftpd needs to build (and, with --test, to
# run its test suite; with --bench, to run `make bench`; with --fuzz, to
# build and run the libFuzzer targets of `make fuzz`). Called by make; safe
# to run by hand. Exits 0 when everything is already present, without
# touching apt.
set -eu

build_pkgs="g++ make pkg-config libboost-dev libcap-dev libseccomp-dev"
test_pkgs="libgtest-dev curl lftp python3 python3-pytest procps util-linux fail2ban socat logrotate strace man-db groff-base clang-format"
# `make bench`: iperf3 measures the loopback ceiling. The peers (vsftpd,
# pure-ftpd) are not installed: bench/run_bench.py fetches them with
# `apt-get download` and unpacks them with `dpkg -x` (both always present).
bench_pkgs="python3 iperf3 util-linux passwd"
# `make fuzz`: clang++ (clang-14 on Debian 12) and its runtime libraries
# (libFuzzer, ASan, UBSan).
fuzz_pkgs="clang libclang-rt-14-dev"

want="$build_pkgs"
case "${1:-}" in
  --test) want="$build_pkgs $test_pkgs" ;;
  --run) want="$build_pkgs" ;;
  --bench) want="$build_pkgs $bench_pkgs" ;;
  --fuzz) want="$build_pkgs $fuzz_pkgs" ;;
  "") ;;
  *) echo "usage: $0 [--test|--run|--bench|--fuzz]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing="$missing $p"
  fi
done

[ -z "$missing" ] && exit 0

echo "install-deps: missing Debian packages:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: installing them needs root; run as root:" >&2
  echo "    apt-get install -y$missing" >&2
  echo "or: sudo sh $0 ${1:-}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# fail2ban is only needed for its filters and fail2ban-regex (the tests check
# our SystemLog against its stock proftpd filter): keep package scripts from
# starting services while we install.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 0755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
if ! apt-get install -y --no-install-recommends $missing; then
  apt-get update
  apt-get install -y --no-install-recommends $missing
fi
