// ftpshut's command line and time arithmetic; see schedule.h.
#include "schedule.h"

#include <strings.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "poolftpd/scoreboard/scoreboard.h"

namespace poolftpd::tools::ftpshut {

namespace {

Error Usage(std::string message) { return Error(ErrorCode::kInvalid, std::move(message)); }

// Digits only (1-9 of them), or nullopt.
std::optional<int64_t> ParseDigits(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;  // from_chars would take "-0"
  }
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Shows an argument in an error message without its control characters.
std::string Shown(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 64)) {
    const auto uc = static_cast<unsigned char>(c);
    out += (uc < 0x20 || uc == 0x7f) ? '?' : c;
  }
  if (s.size() > 64) out += "...";
  return out;
}

bool IsControl(char c) {
  const auto uc = static_cast<unsigned char>(c);
  return (uc < 0x20 && c != '\t') || uc == 0x7f;
}

}  // namespace

Result<int> ParseMinutes(std::string_view value, char option) {
  const auto v = ParseDigits(value);
  if (!v) {
    return Usage(std::string("-") + option + " needs a number of minutes, not '" + Shown(value) +
                 "'");
  }
  if (*v > sb::kMaxShutdownOffsetMinutes) {
    return Usage(std::string("-") + option + " " + Shown(value) + ": at most " +
                 std::to_string(sb::kMaxShutdownOffsetMinutes) + " minutes (99 h 59 min)");
  }
  return static_cast<int>(*v);
}

Result<int64_t> ParseShutdownTime(std::string_view arg, int64_t now) {
  const std::string bad = "invalid time '" + Shown(arg) + "': use now, +MINUTES or HHMM";
  if (arg.size() == 3 && ::strncasecmp(arg.data(), "now", 3) == 0) return now;
  if (!arg.empty() && arg.front() == '+') {
    std::string_view n = arg.substr(1);
    while (!n.empty() && (n.front() == ' ' || n.front() == '\t')) n.remove_prefix(1);
    const auto minutes = ParseDigits(n);
    if (!minutes) return Usage(bad);
    if (*minutes > kMaxLeadMinutes) {
      return Usage("invalid time '" + Shown(arg) + "': at most +" +
                   std::to_string(kMaxLeadMinutes) + " minutes (one year)");
    }
    return now + *minutes * 60;
  }
  if (arg.size() != 2 && arg.size() != 4) return Usage(bad);
  const auto hour = ParseDigits(arg.substr(0, 2));
  const auto minute = arg.size() == 4 ? ParseDigits(arg.substr(2, 2)) : std::optional<int64_t>(0);
  if (!hour || !minute) return Usage(bad);
  if (*hour > 23 || *minute > 59) {
    return Usage("invalid time '" + Shown(arg) + "': hour 00-23 and minute 00-59");
  }
  const time_t tnow = static_cast<time_t>(now);
  struct tm tm = {};
  if (::localtime_r(&tnow, &tm) == nullptr) return Usage("cannot convert the current time");
  if (*hour < tm.tm_hour || (*hour == tm.tm_hour && *minute <= tm.tm_min)) {
    tm.tm_mday += 1;  // already past today: tomorrow (mktime normalises)
  }
  tm.tm_hour = static_cast<int>(*hour);
  tm.tm_min = static_cast<int>(*minute);
  tm.tm_sec = 0;
  tm.tm_isdst = -1;
  const time_t t = ::mktime(&tm);
  if (t == static_cast<time_t>(-1)) return Usage("cannot convert the time '" + Shown(arg) + "'");
  return static_cast<int64_t>(t);
}

Result<std::string> JoinMessage(const std::vector<std::string_view>& words) {
  if (words.empty()) return std::string(kDefaultMessage);
  std::string msg;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) msg += ' ';
    msg += words[i];
  }
  if (std::any_of(msg.begin(), msg.end(), IsControl)) {
    return Usage("the message must be one line without control characters");
  }
  if (msg.find_first_not_of(" \t") == std::string::npos) return Usage("the message is empty");
  if (msg.size() > sb::kShutdownMsgLen - 1) {
    return Usage("the message is too long (" + std::to_string(msg.size()) + " bytes, at most " +
                 std::to_string(sb::kShutdownMsgLen - 1) + ")");
  }
  return msg;
}

Result<sb::ShutdownInfo> ComputeShutdown(int64_t shutdown_time, int deny_minutes,
                                         int disconnect_minutes, int64_t now, std::string message) {
  sb::ShutdownInfo info;
  info.shutdown_time = shutdown_time;
  info.disconnect_time =
      std::min(shutdown_time, std::max(now, shutdown_time - int64_t{disconnect_minutes} * 60));
  info.deny_time =
      std::min(info.disconnect_time, std::max(now, shutdown_time - int64_t{deny_minutes} * 60));
  info.message = std::move(message);
  // What the master will read back from the file (whole minutes).
  auto stored = sb::ParseShutdownFile(sb::FormatShutdownFile(info));
  if (!stored) {
    return Usage("cannot write the shutdown time " + std::to_string(shutdown_time) + ": " +
                 stored.error().context());
  }
  return std::move(*stored);
}

Result<Options> ParseCommandLine(const std::vector<std::string_view>& args) {
  Options opts;
  bool have_time = false;
  bool options_done = false;
  std::vector<std::string_view> words;
  bool deny_given = false, disconnect_given = false;

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (!words.empty() || options_done || arg.size() < 2 || arg.front() != '-') {
      if (!have_time) {
        opts.time = std::string(arg);
        have_time = true;
      } else {
        words.push_back(arg);
      }
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "--help") {
      opts.help = true;
      return opts;
    }
    if (arg == "--version") {
      opts.version = true;
      return opts;
    }
    if (arg == "--define" || arg.substr(0, 9) == "--define=") {
      std::string_view name;
      if (arg.size() > 8) {
        name = arg.substr(9);
      } else if (i + 1 < args.size()) {
        name = args[++i];
      } else {
        return Usage("option '--define' needs an argument");
      }
      if (name.empty()) return Usage("option '--define' needs a name");
      opts.defines.emplace_back(name);
      continue;
    }
    if (arg.substr(0, 2) == "--") return Usage("unknown option '" + Shown(arg) + "'");
    // A cluster of short options: "-R", "-l5", "-Rf FILE".
    for (size_t j = 1; j < arg.size(); ++j) {
      const char c = arg[j];
      switch (c) {
        case 'h':
          opts.help = true;
          return opts;
        case 'V':
          opts.version = true;
          return opts;
        case 'R':
          opts.remove = true;
          continue;
        case 'l':
        case 'd':
        case 'f':
        case 'c':
        case 's':
        case 'D':
          break;
        default:
          return Usage("unknown option '-" + Shown(std::string_view(&arg[j], 1)) + "'");
      }
      std::string_view value;
      if (j + 1 < arg.size()) {
        value = arg.substr(j + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return Usage(std::string("option '-") + c + "' needs an argument");
      }
      switch (c) {
        case 'l':
        case 'd': {
          auto minutes = ParseMinutes(value, c);
          if (!minutes) return minutes.error();
          (c == 'l' ? opts.deny_minutes : opts.disconnect_minutes) = *minutes;
          (c == 'l' ? deny_given : disconnect_given) = true;
          break;
        }
        case 'D':
          if (value.empty()) return Usage("option '-D' needs a name");
          opts.defines.emplace_back(value);
          break;
        case 'f':
        case 'c':
        case 's':
          if (value.empty()) return Usage(std::string("option '-") + c + "' needs a file name");
          (c == 'f'   ? opts.shutdown_file
           : c == 'c' ? opts.config
                      : opts.scoreboard) = std::string(value);
          break;
      }
      break;  // the value used the rest of the cluster
    }
  }

  if (opts.remove) {
    if (have_time || deny_given || disconnect_given) {
      return Usage("-R takes no time, message, -l or -d");
    }
    return opts;
  }
  if (!have_time) return Usage("missing time argument (now, +MINUTES or HHMM)");
  auto message = JoinMessage(words);
  if (!message) return message.error();
  opts.message = std::move(*message);
  return opts;
}

}  // namespace poolftpd::tools::ftpshut
