// Fuzz target: the shutdown file (ProFTPD's /etc/shutmsg format) as the
// master reads it every second: sb::ParseShutdownFile, then what the master
// does with a file that parsed (publishes it in the scoreboard header,
// formats its times, expands the message cookies for 220/421 replies), and
// FormatShutdownFile (ftpshut's writer). The first input byte picks the
// time zone (UTC, or a POSIX TZ rule with DST east or west of UTC, so DST
// gaps and folds are reached without tzdata); the rest is the file.
// Properties:
//  - A file that parses describes a shutdown the scoreboard accepts
//    (sb::PlausibleShutdown): readers (workers, tools) would otherwise read
//    the published state as damage and ignore it.
//  - It survives a round trip: FormatShutdownFile of it parses again, and
//    formats to the same text.
//  - The expanded message is one safe reply line: no control byte, at most
//    kMaxExpandedShutdownMessage bytes, whatever the cookies' values.
#include <stdlib.h>

#include <ctime>
#include <string>

#include "fuzz_util.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/scoreboard/shutdown.h"

namespace poolftpd::fuzz {
namespace {

void SetZone(unsigned which) {
  static const char* kZones[] = {"UTC0", "CET-1CEST,M3.5.0,M10.5.0/3", "EST5EDT,M3.2.0,M11.1.0",
                                 "NZST-12NZDT,M9.5.0,M4.1.0/3"};
  static int current = -1;
  const int z = static_cast<int>(which % 4);
  if (z == current) return;
  ::setenv("TZ", kZones[z], 1);
  ::tzset();
  current = z;
}

std::string Show(const sb::ShutdownInfo& i) {
  return "shutdown " + std::to_string(i.shutdown_time) + " deny " + std::to_string(i.deny_time) +
         " disconnect " + std::to_string(i.disconnect_time) + " message \"" +
         Printable(i.message, 60) + "\"";
}

void CheckExpanded(const std::string& out) {
  FUZZ_CHECK(out.size() <= sb::kMaxExpandedShutdownMessage, "%zu bytes", out.size());
  for (const char c : out) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 && u != 0x7f, "control byte 0x%02x in \"%s\"", u, Printable(out).c_str());
  }
}

}  // namespace
}  // namespace poolftpd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace poolftpd;
  using namespace poolftpd::fuzz;
  Input in(data, size);
  SetZone(in.Byte());
  const std::string_view text = in.rest();
  if (text.size() > sb::kMaxShutdownFileSize) return 0;  // ReadShutdownFile refuses those

  auto info = sb::ParseShutdownFile(text);
  if (!info) {
    const std::string& m = info.error().context();
    FUZZ_CHECK(m.starts_with("line "), "error without a line: \"%s\"", Printable(m).c_str());
    return 0;
  }
  FUZZ_CHECK(sb::PlausibleShutdown(info->shutdown_time, info->deny_time, info->disconnect_time,
                                   info->message),
             "parsed a shutdown the scoreboard calls damage: %s", Show(*info).c_str());

  const std::string formatted = sb::FormatShutdownFile(*info);
  auto again = sb::ParseShutdownFile(formatted);
  FUZZ_CHECK(again.has_value(), "FormatShutdownFile wrote \"%s\", which does not parse: %s",
             Printable(formatted).c_str(), again ? "" : again.error().context().c_str());
  FUZZ_CHECK(sb::FormatShutdownFile(*again) == formatted, "round trip changed \"%s\" into \"%s\"",
             Printable(formatted).c_str(), Printable(sb::FormatShutdownFile(*again)).c_str());

  // What workers put in their 220/421: the cookies filled with
  // client-controlled text (user, cwd, host names from DNS).
  sb::CookieContext ctx;
  ctx.local_host = "127.0.0.1";
  ctx.remote_host = std::string(text.substr(0, 40));
  ctx.user = std::string(text.substr(text.size() / 2, 80));
  ctx.cwd = std::string(text.substr(text.size() / 3, 300));
  ctx.server_name = "fuzz";
  ctx.now = 1700000000;
  CheckExpanded(sb::ExpandShutdownMessage(info->message, *info, ctx));
  CheckExpanded(sb::ExpandShutdownMessage(text, *info, ctx));
  (void)sb::FormatShutdownTime(info->deny_time);
  return 0;
}
