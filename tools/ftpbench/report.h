// The result of one ftpbench run and its two renderings: a few readable
// lines per mode (redis-benchmark style) and one JSON object. Pure; used by
// the ftpbench process and its unit test.
//
// JSON (one line; keys that do not apply to the mode are left out, figures
// that could not be measured are null):
//   {"mode": str, "host": str, "port": int, "clients": int,
//    "duration_s": s (login/small: the measured window; big: the transfer
//                     phase; list/idle: the whole run),
//    "sessions": int, "sessions_per_sec": n,    login/small: sessions whose 221
//                                               came within the window; idle:
//                                               logins and logins per second
//    "latency_ms": {"p50": n, "p99": n, "max": n} | null (no session completed),
//                                               login, small: connect to 221
//    "bytes": int, "transfers": int,            small, big: every byte and
//                                               every complete download
//    "mb_per_sec": n, "mb_per_sec_per_client": n,     big (MB = 10^6 bytes)
//    "list": {"list_ms", "mlsd_ms", "list_entries", "mlsd_entries", "repeat"},
//    "idle": {"requested", "sessions", "login_s", "hold_s",
//             "server_processes", "rss_kb", "pss_kb", "uss_kb",
//             "rss_kb_per_session", "pss_kb_per_session", "uss_kb_per_session"},
//    "server_cpu_ms": n, "server_cpu_ms_per_session": n,   with --server-pid
//    "server_cpu_ms_per_gb": n,                            big, with --server-pid
//    "failures": int, "failure_samples": [{"text": str, "count": int}],
//    "notes": [str]}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "procfs.h"
#include "stats.h"

namespace poolftpd::ftpbench {

struct ListFigures {
  // Medians over `repeat` runs, each from sending EPSV to having both the
  // 226 and the end of the data.
  double list_ms = 0;
  double mlsd_ms = 0;
  uint64_t list_entries = 0;  // of the last run
  uint64_t mlsd_entries = 0;
  int repeat = 0;
};

struct IdleFigures {
  uint64_t requested = 0;
  uint64_t sessions = 0;  // logged in and held
  double login_s = 0;     // first connect to last 230
  double hold_s = 0;
  std::optional<uint64_t> server_processes;
  std::optional<MemoryUsage> memory;  // totals over the server's tree
};

struct Report {
  std::string mode;
  std::string host;
  int port = 0;
  int clients = 0;
  double duration_s = 0;
  std::optional<int> rcvlowat;  // --rcvlowat given
  std::optional<uint64_t> sessions;
  std::optional<double> sessions_per_sec;
  std::optional<LatencySummary> latency;
  std::optional<uint64_t> bytes;
  std::optional<uint64_t> transfers;
  std::optional<double> mb_per_sec;
  std::optional<double> mb_per_sec_per_client;
  std::optional<ListFigures> list;
  std::optional<IdleFigures> idle;
  bool measured_server = false;  // --server-pid given: the server_* keys are present
  std::optional<double> server_cpu_ms;
  std::optional<double> server_cpu_ms_per_session;
  std::optional<double> server_cpu_ms_per_gb;
  uint64_t failures = 0;
  std::vector<FailureSample> failure_samples;  // at most 10
  std::vector<std::string> notes;              // warnings worth showing
};

// A JSON string literal for `text`: quotes, backslashes and control
// characters escaped; bytes that are not valid UTF-8 become U+FFFD.
std::string JsonString(std::string_view text);

std::string FormatJson(const Report& report);
std::string FormatText(const Report& report);

}  // namespace poolftpd::ftpbench
