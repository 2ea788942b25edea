// The master process: listeners, scoreboard, PidFile, the worker pool and its
// spawn policy, and the signal loop (TERM stop, HUP reload, QUIT graceful
// stop, USR1 reopen logs). Signals are read from a signalfd in the loop;
// nothing runs in a handler. The master never serves a client: when the pool
// is full it answers 421 itself. It signals only PIDs from its own table.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "poolftpd/config/config.h"
#include "poolftpd/util/result.h"

namespace poolftpd::master {

struct Options {
  std::string config_file;
  std::vector<std::string> defines;
  bool foreground = false;  // -n
  bool quiet = false;       // -q
  int debug_level = 0;      // -d
};

// Runs the server until it stops; returns the process exit code. When
// `ready_fd` >= 0 (daemon mode), writes "OK\n" there once listening, or the
// reason for failing, then closes it.
int Run(const Options& opts, std::shared_ptr<const config::Config> cfg, int ready_fd);

// ServerType inetd: this process serves the one connection on stdin (from
// inetd/xinetd/socat) and exits; no master, no pool.
int RunInetd(const Options& opts, std::shared_ptr<const config::Config> cfg);

}  // namespace poolftpd::master
