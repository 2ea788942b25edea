// Output of ftpwho and ftpcount: from a scoreboard's HeaderView, its slots
// and the current time to text or JSON, plus the escaping every tool
// applies to client-supplied strings. The formatters take the slots one at
// a time (Scoreboard::ForEachSlot streams them, no vector at 10,000
// sessions); the Format* functions run them over a vector. Used by the
// tools only; no I/O, no clock, no scoreboard access here, so
// tests/unit/tools_test.cc drives them with hand-made snapshots.
//
// Sessions are slots in a session state (sb::IsSessionState) that read
// consistently and are not stale; idle pool workers (empty/starting/ready)
// are not listed, slots read as `updating` are only counted, and stale slots
// (session process gone, inetd mode) are counted and shown only with -v.
// An inetd-mode scoreboard (sb::IsInetd) prints ProFTPD's "inetd FTP
// daemon:" (ftpwho) and "inetd FTP connections:" (ftpcount) headers.
//
// ftpwho JSON (one object, one line, UTF-8; strings from clients are
// JSON-escaped, invalid UTF-8 bytes become U+FFFD):
//   {"server": {"pid": int (0 in inetd mode), "started": epoch seconds,
//               "generation": int, "type": "standalone" | "inetd",
//               "uptime": seconds, "name": ServerName,
//               "max_clients": int, "slots": int, "idle_workers": int,
//               "updating_slots": int, "stale_slots": int, "total_sessions": int,
//               "total_bytes": int,
//               "shutdown": null | ShutdownJson (below, with the ftpwho
//                                   aliases)},
//    "connections": [
//      {"pid": int, "user": str ("" before USER), "state": "connected" |
//       "logged_in" | "idle" | "transferring" | "closing", "generation": int,
//       "command": str, "argument": str, "client": str, "server": str,
//       "protocol": str, "cwd": str, "session_start": epoch seconds,
//       "idle_seconds": int,
//       "transfer": null | {"direction": "download" | "upload" | "list",
//                           "path": str, "size": int (0 = unknown),
//                           "offset": int, "bytes_done": int,
//                           "percent": number | null (size unknown),
//                           "rate_bytes_per_sec": int}}]}
//
// ftpcount JSON:
//   {"master_pid": int (0 in inetd mode), "servers": [{"name": str, "sessions": int,
//    "users": int}], "sessions": int, "users": int}
// where users counts distinct user names of logged-in sessions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/scoreboard/scoreboard.h"

namespace poolftpd::tools {

// Makes client text safe for a terminal: control characters (C0, DEL, C1)
// and bidirectional-override code points become visible escapes (\t, \x1b,
// \u009b, \u202e), invalid UTF-8 bytes become \xHH, a backslash becomes \\.
std::string EscapeText(std::string_view text);

// A JSON string literal (with the quotes) for `text`.
std::string JsonString(std::string_view text);

// The published ftpshut state as both tools print it (ftpwho --json's
// server.shutdown, ftpdctl status --json's shutdown): null when
// `shutdown_time` is 0, else
//   {"shutdown_time": s, "deny_time": s, "disconnect_time": s, "message": str}
// (epoch seconds, the scoreboard header's fields). `who_aliases` appends the
// keys ftpwho printed first, with the same values: "time", "deny",
// "disconnect".
std::string ShutdownJson(int64_t shutdown_time, int64_t deny_time, int64_t disconnect_time,
                         std::string_view message, bool who_aliases = false);

// ProFTPD's elapsed-time look: "0m5s", "59m59s", "1h13m"; "-" when unknown
// (start time 0). Negative spans (clock steps) count as 0.
std::string FormatElapsed(int64_t start_ns, int64_t now_ns);

// "13 min", " 1 hr 13 min", "2 days,  1 hr 05 min".
std::string FormatUptime(int64_t seconds);

// Transfer progress as ProFTPD prints it: "0" (nothing moved), "Inf" (size
// unknown), "100", else the floor of the percentage.
std::string PercentComplete(uint64_t size, uint64_t done);

// Bytes moved per second since the transfer started, 0 if unknown.
uint64_t TransferRate(const sb::SlotView& slot, int64_t now_ns);

// Whether ftpwho/ftpcount list this slot as a session.
bool IsListedSession(const sb::SlotView& slot);

struct WhoOptions {
  bool verbose = false;  // -v: rate, client, server, protocol, location
  bool oneline = false;  // -o oneline: the -v details on the session's line
};

// ftpwho's default, -v and -o oneline output.
std::string FormatWho(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
                      int64_t now_ns, const WhoOptions& options);
// ftpwho --json / -o json.
std::string FormatWhoJson(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
                          int64_t now_ns);

struct CountOptions {
  std::optional<std::string> server;  // -S NAME: only this ServerName
};

// What the summary lines need from every slot.
struct SlotTally {
  uint32_t sessions = 0;
  uint32_t users = 0;  // distinct names of logged-in sessions (count_users only)
  uint32_t idle_workers = 0;
  uint32_t updating = 0;
  uint32_t stale = 0;  // slots whose process is gone (inetd mode)
};

// ftpwho's text output (default, -v, -o oneline), built one slot at a time:
// Add() every slot ReadAll() would return, in index order, then Finish().
// The text is complete in out() after Finish(); between calls the caller
// may write out() somewhere and clear it (ftpwho streams it to stdout).
// The formatters keep a copy of the header (a few KiB, copied once per run),
// so passing a temporary is fine.
class WhoFormatter {
 public:
  WhoFormatter(const sb::HeaderView& header, int64_t now_ns, const WhoOptions& options);
  void Add(const sb::SlotView& slot);
  void Finish();
  std::string& out() { return out_; }

 private:
  const sb::HeaderView header_;  // a copy: the caller's may be a temporary
  int64_t now_ns_;
  WhoOptions options_;
  SlotTally tally_;
  std::string server_label_;
  std::string out_;
  std::string stale_;  // -v: stale slots, listed after the sessions
};

// ftpwho --json, one slot at a time. The "server" object comes first but
// counts every slot, so after Finish() the output is head() then body().
class WhoJsonFormatter {
 public:
  WhoJsonFormatter(const sb::HeaderView& header, int64_t now_ns);
  // Room for `slots` connections up front: growing a 3 MB string by
  // doubling copies it and faults in twice the pages.
  void Reserve(size_t slots) { body_.reserve(slots * 400); }
  void Add(const sb::SlotView& slot);
  void Finish();
  std::string head() const;
  const std::string& body() const { return body_; }

 private:
  const sb::HeaderView header_;  // a copy: the caller's may be a temporary
  int64_t now_ns_;
  SlotTally tally_;
  bool first_ = true;
  std::string body_;
};

// ftpcount: Add() every slot, then Text() or Json().
class CountFormatter {
 public:
  CountFormatter(const sb::HeaderView& header, const CountOptions& options);
  void Add(const sb::SlotView& slot);
  std::string Text() const;
  std::string Json() const;

 private:
  const sb::HeaderView header_;  // a copy: the caller's may be a temporary
  CountOptions options_;
  SlotTally tally_;
  std::vector<std::string> names_;  // sorted, distinct user names
};

// ftpcount's output.
std::string FormatCount(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
                        const CountOptions& options);
// ftpcount --json.
std::string FormatCountJson(const sb::HeaderView& header, const std::vector<sb::SlotView>& slots,
                            const CountOptions& options);

}  // namespace poolftpd::tools
