# poolftpd — non-recursive GNU Makefile. Objects go to build/; -MMD -MP keeps
# header dependencies. Targets: all test run install clean (see README.md).

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
SBINDIR   ?= $(PREFIX)/sbin
BINDIR    ?= $(PREFIX)/bin
SYSCONFDIR?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
RUNDIR    ?= /run/poolftpd
LOGDIR    ?= /var/log/poolftpd
MANDIR    ?= $(PREFIX)/share/man
DOCDIR    ?= $(PREFIX)/share/doc/poolftpd
# contrib/ files go where their consumers read them, whatever PREFIX is:
# init scripts, logrotate and fail2ban read only /etc.
INITDIR      ?= /etc/init.d
LOGROTATEDIR ?= /etc/logrotate.d
FAIL2BANDIR  ?= /etc/fail2ban
# systemd: with PREFIX=/usr its package directory (pkg-config's
# systemdsystemunitdir, /lib/systemd/system on Debian 12); otherwise
# PREFIX/lib/systemd/system if systemd searches it (/usr/local does), else
# /etc/systemd/system, which it always does.
ifeq ($(origin UNITDIR),undefined)
SYSTEMD_UNITPATH := $(subst :, ,$(shell pkg-config --variable=systemdsystemunitpath systemd 2>/dev/null))
ifeq ($(PREFIX),/usr)
UNITDIR := $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/usr/lib/systemd/system)
else ifneq ($(filter $(PREFIX)/lib/systemd/system,$(or $(SYSTEMD_UNITPATH),/usr/local/lib/systemd/system)),)
UNITDIR := $(PREFIX)/lib/systemd/system
else
UNITDIR := /etc/systemd/system
endif
endif
MAN_PAGES    := $(wildcard man/*.[158])
# contrib/ files name the Debian paths (PREFIX=/usr); rewrite them to ours.
CONTRIB_SED  := -e 's,/usr/sbin/poolftpd,$(SBINDIR)/poolftpd,g' \
                -e 's,/usr/bin/ftpdctl,$(BINDIR)/ftpdctl,g' \
                -e 's,/etc/poolftpd.conf,$(SYSCONFDIR)/poolftpd.conf,g' \
                -e 's,/run/poolftpd/,$(RUNDIR)/,g' \
                -e 's,/var/log/poolftpd,$(LOGDIR),g'

CXX       ?= g++
# One build directory per flavour, so changing SAN= never reuses objects built
# with other flags: build/ for the normal build, build-san-<SAN with commas as
# dashes> for a sanitizer build (build-san-address-undefined,
# build-san-thread). BUILD=DIR on the command line or in the environment
# overrides it; with BUILD=DIR and no SAN=, the flavour DIR was built with
# (its stamp, below) is kept, so `make install BUILD=DIR` installs what is
# there.
comma     := ,
ifeq ($(origin SAN)$(origin BUILD),undefinedundefined)
else ifeq ($(origin SAN),undefined)
SAN       := $(patsubst SAN=%,%,$(file < $(BUILD)/san-flavour))
endif
SAN       ?=
ifeq ($(origin BUILD),undefined)
BUILD     := $(if $(SAN),build-san-$(subst $(comma),-,$(SAN)),build)
endif
# A directory records its flavour: when BUILD=DIR meets another SAN=, the
# stamp changes and every object is rebuilt (they all depend on it).
SAN_STAMP := $(BUILD)/san-flavour
ifneq ($(file < $(SAN_STAMP)),SAN=$(SAN))
$(shell mkdir -p $(BUILD))
$(file > $(SAN_STAMP),SAN=$(SAN))
endif
# Build in parallel on every core unless the caller chose -j (sub-makes
# inherit the jobserver).
ifeq ($(MAKELEVEL),0)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
endif

CPPFLAGS += -Iinclude -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 \
            -DPOOLFTPD_VERSION='"$(VERSION)"' \
            -DPOOLFTPD_CONFIG_FILE='"$(SYSCONFDIR)/poolftpd.conf"' \
            -DPOOLFTPD_SCOREBOARD_FILE='"$(RUNDIR)/poolftpd.scoreboard"' \
            -DPOOLFTPD_PID_FILE='"$(RUNDIR)/poolftpd.pid"'
CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++20 -Wall -Wextra -Wshadow -Wformat=2 -Wnon-virtual-dtor -Werror \
            -fstack-protector-strong -fPIE -pthread
LDFLAGS  += -pie -Wl,-z,relro,-z,now -pthread
ifneq ($(SAN),)
CPPFLAGS += -DPOOLFTPD_SANITIZER
CXXFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SAN)
endif
DEPFLAGS  = -MMD -MP

LIBS_SERVER := -lcap
GTEST_LIBS  := -lgtest -lgtest_main

# --- seccomp (issue 11; docs/SECURITY.md, "S14 seccomp") ------------------
# The workers' allowlist links libseccomp. POOLFTPD_SECCOMP_TEST=1 compiles
# in the hidden SITE SECCOMPTEST (the worker makes a forbidden call; used by
# tests/integration/test_seccomp.py). make does not track the flag, so such a
# build needs a directory of its own (BUILD=build-seccomp-test). Sanitizer
# builds (SAN=) also allow what their runtimes call (POOLFTPD_SANITIZER).
LIBS_SERVER += -lseccomp
ifneq ($(filter-out 0,$(POOLFTPD_SECCOMP_TEST)),)
ifeq ($(BUILD),build)
$(error POOLFTPD_SECCOMP_TEST=1 needs a build directory of its own, e.g. BUILD=build-seccomp-test)
endif
CPPFLAGS += -DPOOLFTPD_SECCOMP_TEST=1
endif
ifneq ($(SAN),)
CPPFLAGS += -DPOOLFTPD_SANITIZER=1
endif
TEST_LIBS_seccomp := worker util

# --- sources -------------------------------------------------------------
# One static library per src/ module (build/lib/libpf_<module>.a) so a unit
# test links just its module and what that module depends on.
MODULES     := util config log auth fs net data protocol worker master
# Link order: dependants before dependencies.
LINK_ORDER  := master worker protocol data net fs auth log config util
SB_SRCS     := $(wildcard scoreboard/*.cc)
MAIN_SRCS   := src/main.cc
TOOLS       := $(notdir $(patsubst %/,%,$(dir $(wildcard tools/ftp*/main.cc))))
TOOL_COMMON := $(wildcard tools/common/*.cc)

obj = $(patsubst %.cc,$(BUILD)/obj/%.o,$(1))
modlib = $(BUILD)/lib/libpf_$(1).a

SB_LIB   := $(BUILD)/lib/libscoreboard.a
SRV_LIBS := $(foreach m,$(LINK_ORDER),$(call modlib,$(m)))
SERVER   := $(BUILD)/poolftpd
TOOL_BINS:= $(addprefix $(BUILD)/,$(TOOLS))

.PHONY: all test unit integration check-includes check-format run install clean deps deps-test bench deps-bench bench-sendpath soak fuzz fuzz-build fuzz-regress deps-fuzz
.DEFAULT_GOAL := all

all: $(SERVER) $(TOOL_BINS)

$(BUILD)/obj/%.o: %.cc $(SAN_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(DEPFLAGS) -c $< -o $@

$(SB_LIB): $(call obj,$(SB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

define MODULE_RULE
$(call modlib,$(1)): $(call obj,$(wildcard src/$(1)/*.cc))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && $$(AR) rcs $$@ $$^ $$(if $$^,,)
endef
$(foreach m,$(MODULES),$(eval $(call MODULE_RULE,$(m))))

$(SERVER): $(call obj,$(MAIN_SRCS)) $(SRV_LIBS) $(SB_LIB)
	$(CXX) $(LDFLAGS) -o $@ $(filter %.o,$^) -Wl,--start-group $(SRV_LIBS) $(SB_LIB) -Wl,--end-group $(LIBS_SERVER)

# Each tool links its own folder, tools/common, the scoreboard and the config
# module (libpf_config.a and the util it needs: the tools read the config
# through the server's parser), never the rest of src/.
TOOL_LIBS := $(call modlib,config) $(call modlib,util) $(SB_LIB)
define TOOL_RULE
$(BUILD)/$(1): $(call obj,$(wildcard tools/$(1)/*.cc) $(TOOL_COMMON)) $(TOOL_LIBS)
	$$(CXX) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(filter %.a,$$^)
endef
$(foreach t,$(TOOLS),$(eval $(call TOOL_RULE,$(t))))

# ftpwho and ftpcount run in tight loops (watch -n0, monitoring pollers): as
# static PIEs they start in about 0.7 ms of CPU instead of 1.5 (no libstdc++
# to load and bind). Sanitizer builds stay dynamic.
ifeq ($(SAN),)
$(BUILD)/ftpwho $(BUILD)/ftpcount: LDFLAGS += -static-pie
endif

# --- unit tests: one binary per tests/unit/<name>_test.cc ------------------
# TEST_LIBS_<name>: the libraries that test links (its module and below).
TEST_LIBS_util       := util
TEST_LIBS_config     := config util
TEST_LIBS_log        := log config util
TEST_LIBS_fs         := fs log config util
TEST_LIBS_auth       := auth log config util
TEST_LIBS_net        := net log config util
TEST_LIBS_data       := data net fs auth log config util
TEST_LIBS_protocol   := protocol data net fs auth log config util
TEST_LIBS_worker     := worker protocol data net fs auth log config util
TEST_LIBS_privileges := worker util
TEST_LIBS_master     := $(LINK_ORDER)
TEST_LIBS_tools      := config util
TEST_LIBS_shutdown   := config util
TEST_LIBS_ftpdctl    := config util
# TEST_SRCS_<name>: tool sources a test links besides the libraries (a tool's
# files other than main.cc, and tools/common).
tool_srcs = $(filter-out tools/$(1)/main.cc,$(wildcard tools/$(1)/*.cc))
TEST_SRCS_tools      := $(TOOL_COMMON)
TEST_SRCS_shutdown   := $(TOOL_COMMON) $(call tool_srcs,ftpshut)
TEST_SRCS_ftpdctl    := $(TOOL_COMMON) $(call tool_srcs,ftpdctl)
TEST_SRCS_ftpbench   := $(call tool_srcs,ftpbench)
# TEST_NEEDS_<name>: programs a test runs (built with it, order-only).
TEST_NEEDS_ftpdctl   := $(BUILD)/ftpdctl
UNIT_NAMES := $(patsubst tests/unit/%_test.cc,%,$(wildcard tests/unit/*_test.cc))
UNIT_BINS  := $(addprefix $(BUILD)/tests/,$(addsuffix _test,$(UNIT_NAMES)))

define UNIT_RULE
$(BUILD)/tests/$(1)_test: $(call obj,tests/unit/$(1)_test.cc) \
    $(call obj,$(TEST_SRCS_$(1))) \
    $(foreach l,$(TEST_LIBS_$(1)),$(call modlib,$(l))) $(SB_LIB) | $(TEST_NEEDS_$(1))
	@mkdir -p $$(dir $$@)
	$$(CXX) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) -Wl,--start-group $$(filter %.a,$$^) -Wl,--end-group \
	    $(GTEST_LIBS) $(LIBS_SERVER)
endef
$(foreach n,$(UNIT_NAMES),$(eval $(call UNIT_RULE,$(n))))

# --- dependencies (Debian packages) --------------------------------------
deps:
	@sh contrib/install-deps.sh --run
deps-test:
	@sh contrib/install-deps.sh --test

deps-bench:
	@sh contrib/install-deps.sh --bench

# --- benchmarks: poolftpd against vsftpd and Pure-FTPd on loopback ---------
# QUICK=1: a short run (about 2 minutes).
# BASELINE=DIR: also run the poolftpd of build directory DIR (for instance the
# parent commit's build) in the same matrix, as column poolftpd-base.
# BASELINE_REV=REV: the same for git revision REV, checked out with
# `git worktree add --detach` into $(BUILD)/baseline-<commit> and built there
# once (kept for later runs; `git worktree remove` it when done). That build
# is a make of its own, with none of this one's variables, and not run by
# `make -n` (the recipe names make, not $$(MAKE)).
BENCH_BASE_COMMIT = $(if $(BASELINE_REV),$(shell git rev-parse --verify --quiet --short=12 '$(BASELINE_REV)^{commit}'))
BENCH_BASE_TREE = $(BUILD)/baseline-$(BENCH_BASE_COMMIT)
bench: deps-bench
	@$(MAKE) --no-print-directory all $(BUILD)/ftpbench
ifneq ($(BASELINE_REV),)
	@test -n "$(BENCH_BASE_COMMIT)" || { echo "bench: BASELINE_REV=$(BASELINE_REV) is not a commit of this repository" >&2; exit 2; }
	@test -x $(BENCH_BASE_TREE)/build/poolftpd || { \
	  { test -d $(BENCH_BASE_TREE) || { git worktree prune && git worktree add --detach $(BENCH_BASE_TREE) $(BENCH_BASE_COMMIT); }; } && \
	  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C $(BENCH_BASE_TREE) -j$(shell nproc) BUILD=build all; }
endif
	/usr/bin/python3 bench/run_bench.py --build $(BUILD) $(if $(filter-out 0,$(QUICK)),--quick) \
	  $(if $(BASELINE),--baseline $(BASELINE)) $(if $(BASELINE_REV),--baseline $(BENCH_BASE_TREE)/build)

# What limits the big RETR CPU figure: the sending side of one loopback
# stream, per way of sending a file, without FTP (README, "What the big CPU
# figure measures"). SENDPATH_ARGS, e.g. "--rcvlowat 262144" or "--same-cpu".
$(BUILD)/sendpath: $(call obj,bench/sendpath.cc)
	$(CXX) $(LDFLAGS) -o $@ $^

bench-sendpath: $(BUILD)/sendpath
	@test -f $(BUILD)/bench/tree/1g.bin || { echo "bench-sendpath: no $(BUILD)/bench/tree/1g.bin; run make bench QUICK=1 first" >&2; exit 1; }
	$(BUILD)/sendpath -r 8 $(SENDPATH_ARGS) $(BUILD)/bench/tree/1g.bin

# --- sanitizer builds (issue 11) ----------------------------------------
# make SAN=address,undefined test (or SAN=thread) builds into its own
# directory (BUILD above) and runs the same unit and integration tests.
# Unit tests: UBSan stops at its first report, with a stack trace (by
# default it prints and goes on, and the test would pass). Integration
# tests: every process gets options of its own (tests/integration/helpers.py,
# "sanitizer reports"); san_probe is their test-only program with deliberate
# defects. SAN_SHIM, linked into every program
# of a sanitizer build, makes g++'s separate libubsan honour log_path and
# lets workers open their report files before the chroot (see the file).
SAN_UNIT_ENV := $(if $(SAN),UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
SAN_PROBE    := $(BUILD)/tests/san_probe
SAN_SHIM     := $(if $(SAN),$(call obj,tests/san/ubsan_report_path.cc))
ifneq ($(SAN),)
$(SERVER) $(TOOL_BINS) $(UNIT_BINS) $(BUILD)/sendpath $(SAN_PROBE): $(SAN_SHIM)
endif
$(SAN_PROBE): $(call obj,tests/san/san_probe.cc)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^

# --- tests ---------------------------------------------------------------
check-includes:
	@sh tests/check_includes.sh

# Every C++ file as .clang-format says (clang-format -i FILE to fix one).
check-format:
	@sh tests/check_format.sh

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $(SAN_UNIT_ENV) $$t --gtest_brief=1; done

integration: all $(BUILD)/sendpath $(SAN_PROBE)
	cd tests/integration && POOLFTPD_BUILD=$(abspath $(BUILD)) POOLFTPD_SAN=$(SAN) \
	  /usr/bin/python3 -m pytest -q -x -p no:cacheprovider $(PYTEST_ARGS) .

test: deps-test
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@$(MAKE) --no-print-directory check-includes
	@$(MAKE) --no-print-directory check-format
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

# --- soak: faults and reloads under load (tests/soak/soak.py) --------------
# make soak SECONDS=N (default 300): the real server under ~500 sessions, a
# HUP every second, worker and master SIGKILLs, vanishing clients and 200
# slow-loris connections; exits non-zero on any violation. SOAK_ARGS adds
# harness options (e.g. "--sessions 100 --seed 7"; see soak.py --help).
SECONDS ?= 300
soak: all
	/usr/bin/python3 tests/soak/soak.py --build $(abspath $(BUILD)) --seconds $(SECONDS) $(SOAK_ARGS)

# --- fuzzing (issue 11): libFuzzer targets, one tests/fuzz/<name>_fuzz.cc each --
# Built with clang++ (Debian clang-14) and -fsanitize=fuzzer,address,undefined
# in a build directory of their own (objects and module libraries compiled
# again from the project's sources), so the g++ build is never touched.
#   make fuzz [FUZZ_SECONDS=N]  builds every target and fuzzes each for N s
#                               (default 60) on a copy of its corpus under
#                               $(BUILD)/fuzz/work; fails on any crash, leak,
#                               hang or violated property, naming the input.
#   make fuzz-regress           runs every target once over its corpus and
#                               tests/fuzz/regressions/<target> (no fuzzing).
#   FUZZ_TARGETS="a b"          a subset; FUZZ_JOBS=2 fuzzes two at a time.
FUZZ_CXX      ?= clang++
FUZZ_BUILD    := $(BUILD)/fuzz
FUZZ_SECONDS  ?= 60
FUZZ_ALL      := $(patsubst tests/fuzz/%_fuzz.cc,%,$(wildcard tests/fuzz/*_fuzz.cc))
FUZZ_TARGETS  ?= $(FUZZ_ALL)
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# Without _FORTIFY_SOURCE: ASan checks bounds itself, and the session
# harness replaces ppoll(2), which a fortified call would bypass
# (__ppoll_chk). -Isrc/config: the config target checks Include with the
# lexer itself (src/config/lexer.h).
FUZZ_CPPFLAGS := $(filter-out -D_FORTIFY_SOURCE=%,$(CPPFLAGS)) -U_FORTIFY_SOURCE -Isrc/config
FUZZ_CXXFLAGS := -O1 -g -std=c++20 -Wall -Wextra -Wshadow -Wformat=2 -Wnon-virtual-dtor -Werror \
                 -pthread $(FUZZ_SAN) -fsanitize=fuzzer-no-link
fuzz_obj = $(patsubst %.cc,$(FUZZ_BUILD)/obj/%.o,$(1))
fuzz_lib = $(FUZZ_BUILD)/lib/lib$(1).a
# The libraries a target links (what it drives and everything below it).
FUZZ_LIBNAMES := util config log auth fs net data protocol scoreboard tools_common ftpbench
$(foreach m,util config log auth fs net data protocol,$(eval FUZZ_SRCS_$(m) := $(wildcard src/$(m)/*.cc)))
FUZZ_SRCS_scoreboard   := $(SB_SRCS)
FUZZ_SRCS_tools_common := $(TOOL_COMMON)
FUZZ_SRCS_ftpbench     := tools/ftpbench/protocol.cc
FUZZ_LIBS_line_reader  := protocol net log config util
FUZZ_LIBS_args         := protocol data net fs auth log config util scoreboard
FUZZ_LIBS_session      := protocol data net fs auth log config util scoreboard
FUZZ_LIBS_path         := fs log config util
FUZZ_LIBS_config       := config util
FUZZ_LIBS_shutdown     := scoreboard
FUZZ_LIBS_scoreboard   := tools_common scoreboard config util
FUZZ_LIBS_ftpbench     := ftpbench
FUZZ_BINS := $(foreach t,$(FUZZ_TARGETS),$(FUZZ_BUILD)/$(t)_fuzz)

$(FUZZ_BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CPPFLAGS) $(FUZZ_CXXFLAGS) $(DEPFLAGS) -c $< -o $@

define FUZZ_LIB_RULE
$(call fuzz_lib,$(1)): $(call fuzz_obj,$(FUZZ_SRCS_$(1)))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && $$(AR) rcs $$@ $$^
endef
$(foreach l,$(FUZZ_LIBNAMES),$(eval $(call FUZZ_LIB_RULE,$(l))))

define FUZZ_TARGET_RULE
$(FUZZ_BUILD)/$(1)_fuzz: $(call fuzz_obj,tests/fuzz/$(1)_fuzz.cc) $(foreach l,$(FUZZ_LIBS_$(1)),$(call fuzz_lib,$(l)))
	$$(FUZZ_CXX) $$(FUZZ_SAN) -fsanitize=fuzzer -pthread -o $$@ $$(filter %.o,$$^) \
	    -Wl,--start-group $$(filter %.a,$$^) -Wl,--end-group
endef
$(foreach t,$(FUZZ_ALL),$(eval $(call FUZZ_TARGET_RULE,$(t))))

deps-fuzz:
	@sh contrib/install-deps.sh --fuzz

fuzz-build: $(FUZZ_BINS)

fuzz: deps-fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@sh tests/fuzz/run.sh fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-regress: deps-fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@sh tests/fuzz/run.sh regress $(FUZZ_BUILD) $(FUZZ_TARGETS)

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)

# --- demo ----------------------------------------------------------------
RUN_DIR := $(abspath $(BUILD)/run)
# A demo already running is reported before anything is built or rewritten.
run:
	@sh contrib/make-run.sh --check $(abspath $(BUILD)) $(RUN_DIR)
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@sh contrib/make-run.sh $(abspath $(BUILD)) $(RUN_DIR)

# --- install -------------------------------------------------------------
# With no DESTDIR and as root, also the account and tree the sample
# configuration serves (contrib/ftp-account.sh; FTP_ACCOUNT=no skips it); a
# package does that in its maintainer scripts instead (README, "Building and
# installing").
FTP_ACCOUNT ?= yes
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR) \
	           $(DESTDIR)$(DOCDIR) $(DESTDIR)$(LOGDIR)
	install -m 0755 $(SERVER) $(DESTDIR)$(SBINDIR)/poolftpd
	install -m 0755 $(TOOL_BINS) $(DESTDIR)$(BINDIR)/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/poolftpd.conf ]; then \
	  echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/poolftpd.conf"; \
	else echo "installing conf/poolftpd.conf as $(DESTDIR)$(SYSCONFDIR)/poolftpd.conf"; \
	  sed $(CONTRIB_SED) conf/poolftpd.conf > $(DESTDIR)$(SYSCONFDIR)/poolftpd.conf && \
	  chmod 0644 $(DESTDIR)$(SYSCONFDIR)/poolftpd.conf; fi
	install -m 0644 README.md docs/ARCHITECTURE.md $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	           $(DESTDIR)$(INITDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(LOGROTATEDIR) \
	           $(DESTDIR)$(FAIL2BANDIR)/filter.d $(DESTDIR)$(FAIL2BANDIR)/jail.d
	for p in $(MAN_PAGES); do install -m 0644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/; done
	sed $(CONTRIB_SED) contrib/poolftpd.init > $(DESTDIR)$(INITDIR)/poolftpd
	chmod 0755 $(DESTDIR)$(INITDIR)/poolftpd
	sed $(CONTRIB_SED) contrib/poolftpd.service > $(DESTDIR)$(UNITDIR)/poolftpd.service
	sed $(CONTRIB_SED) contrib/poolftpd.logrotate > $(DESTDIR)$(LOGROTATEDIR)/poolftpd
	sed $(CONTRIB_SED) contrib/fail2ban/filter.d/poolftpd.conf > $(DESTDIR)$(FAIL2BANDIR)/filter.d/poolftpd.conf
	sed $(CONTRIB_SED) contrib/fail2ban/jail.d/poolftpd.conf > $(DESTDIR)$(FAIL2BANDIR)/jail.d/poolftpd.conf
	chmod 0644 $(DESTDIR)$(UNITDIR)/poolftpd.service $(DESTDIR)$(LOGROTATEDIR)/poolftpd \
	           $(DESTDIR)$(FAIL2BANDIR)/filter.d/poolftpd.conf $(DESTDIR)$(FAIL2BANDIR)/jail.d/poolftpd.conf
	install -m 0644 contrib/org.poolftpd.poolftpd.plist $(DESTDIR)$(DOCDIR)/
	install -m 0755 contrib/ftp-account.sh $(DESTDIR)$(DOCDIR)/
	@if [ "$(FTP_ACCOUNT)" = no ]; then \
	  echo "make install: FTP_ACCOUNT=no: no ftp account or /srv/ftp created"; \
	elif [ -n "$(DESTDIR)" ]; then \
	  echo "make install: DESTDIR is set, so the host's accounts are left alone: the package must create user ftp and /srv/ftp (see README)"; \
	elif [ "$$(id -u)" -ne 0 ]; then \
	  echo "make install: not root, so no ftp account and /srv/ftp were created (the sample configuration needs them; run sh contrib/ftp-account.sh as root)"; \
	else sh contrib/ftp-account.sh; fi

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
