#include "poolftpd/net/wait.h"

#include <poll.h>

#include <cerrno>

#include "poolftpd/util/io.h"

namespace poolftpd::net {

int64_t DeadlineAfterMs(int64_t ms) {
  return ms > 0 ? util::MonotonicNs() + ms * 1000000 : kNoDeadline;
}

WaitResult Wait(std::span<WaitItem> items, int64_t deadline_ns, const sigset_t* wait_mask,
                const std::function<bool()>* stop) {
  constexpr size_t kMaxItems = 4;
  pollfd pfd[kMaxItems];
  const size_t n = items.size() < kMaxItems ? items.size() : kMaxItems;
  for (;;) {
    bool buffered = false;
    for (size_t i = 0; i < n; ++i) {
      WaitItem& it = items[i];
      it.ready = false;
      if (it.stream != nullptr && !it.write && it.stream->Buffered() > 0)
        it.ready = buffered = true;
      pfd[i] = {it.stream != nullptr ? it.stream->fd() : it.fd,
                static_cast<short>(it.write ? POLLOUT : POLLIN), 0};
    }
    timespec ts{}, *tsp = nullptr;
    if (!buffered && deadline_ns != kNoDeadline) {
      const int64_t left = deadline_ns - util::MonotonicNs();
      if (left > 0)
        ts = {static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
      tsp = &ts;
    } else if (buffered) {
      tsp = &ts;  // zero: look, do not sleep
    }
    const int rc = ::ppoll(n ? pfd : nullptr, n, tsp, wait_mask);
    if (rc < 0) {
      if (errno != EINTR) return WaitResult::kError;
      if (stop != nullptr && *stop && (*stop)()) return WaitResult::kStopped;
      if (buffered) return WaitResult::kReady;
      continue;
    }
    bool any = buffered;
    for (size_t i = 0; i < n; ++i)
      if (pfd[i].revents) items[i].ready = any = true;
    if (any) return WaitResult::kReady;
    if (rc == 0) {
      if (deadline_ns == kNoDeadline) continue;
      if (util::MonotonicNs() >= deadline_ns) return WaitResult::kTimeout;
    }
  }
}

WaitResult WaitFor(Stream& stream, bool write, int64_t deadline_ns, const sigset_t* wait_mask,
                   const std::function<bool()>* stop) {
  WaitItem it{&stream, -1, write, false};
  return Wait(std::span<WaitItem>(&it, 1), deadline_ns, wait_mask, stop);
}

}  // namespace poolftpd::net
