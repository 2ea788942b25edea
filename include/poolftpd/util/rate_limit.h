// MaxCommandRate: at most `count` commands per `interval` seconds per
// session, excess commands delayed (never dropped). Pure arithmetic on a
// caller-supplied monotonic clock, so tests drive it with a fake one.
#pragma once

#include <cstdint>

namespace poolftpd::util {

// A generic cell rate algorithm (the token bucket written as one deadline):
// commands are spaced `interval / count` apart on average, and a client
// that was quiet may send up to `count` at once. Integer nanoseconds.
class CommandRateLimiter {
 public:
  CommandRateLimiter() = default;  // disabled: admits everything at once
  CommandRateLimiter(uint32_t count, uint32_t interval_s);

  bool enabled() const { return spacing_ns_ > 0; }

  struct Decision {
    int64_t delay_ns = 0;      // how long to wait before running the command
    bool burst_start = false;  // first delayed command since the allowance was full
  };
  // Charges one command arriving at `now_ns`.
  Decision Admit(int64_t now_ns);
  // Whether a command arriving at `now_ns` would have to wait (charges nothing).
  bool WouldDelay(int64_t now_ns) const;

 private:
  int64_t spacing_ns_ = 0;    // interval / count
  int64_t tolerance_ns_ = 0;  // interval - spacing: the burst a quiet client may send
  int64_t next_ns_ = 0;       // theoretical arrival time of the next command
  bool in_burst_ = false;
};

}  // namespace poolftpd::util
