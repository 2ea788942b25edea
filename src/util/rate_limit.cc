#include "poolftpd/util/rate_limit.h"

#include <algorithm>

namespace poolftpd::util {

CommandRateLimiter::CommandRateLimiter(uint32_t count, uint32_t interval_s) {
  if (count == 0 || interval_s == 0) return;
  const int64_t interval_ns = static_cast<int64_t>(interval_s) * 1000000000;
  spacing_ns_ = std::max<int64_t>(interval_ns / count, 1);
  tolerance_ns_ = interval_ns - spacing_ns_;
}

CommandRateLimiter::Decision CommandRateLimiter::Admit(int64_t now_ns) {
  Decision d;
  if (!enabled()) return d;
  // The allowance is whole again once the schedule has fallen behind the
  // clock: the burst (if any) is over, the next delay starts a new one.
  if (next_ns_ <= now_ns) in_burst_ = false;
  const int64_t tat = std::max(next_ns_, now_ns);
  const int64_t earliest = tat - tolerance_ns_;
  if (earliest > now_ns) {
    d.delay_ns = earliest - now_ns;
    d.burst_start = !in_burst_;
    in_burst_ = true;
  }
  next_ns_ = tat + spacing_ns_;
  return d;
}

bool CommandRateLimiter::WouldDelay(int64_t now_ns) const {
  return enabled() && std::max(next_ns_, now_ns) - tolerance_ns_ > now_ns;
}

}  // namespace poolftpd::util
