// Small EINTR-safe syscall helpers shared by master and worker: fd flags,
// whole writes, clocks. Async-signal-safety is stated per function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "poolftpd/util/result.h"

namespace poolftpd::util {

Result<void> SetNonBlocking(int fd, bool on);
// Writes all of `data` to a blocking fd, retrying EINTR and short writes.
Result<void> WriteAll(int fd, std::string_view data);
// CLOCK_REALTIME in ns (scoreboard, display) and CLOCK_MONOTONIC in ms (timeouts).
int64_t RealtimeNs();
int64_t MonotonicMs();
int64_t MonotonicNs();

}  // namespace poolftpd::util
