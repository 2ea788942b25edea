// The one wait primitive of a worker: every loop that waits for a
// connection (control line reads, reply writes, the data loops, accept and
// connect of the data connection, the lingering close, the command-rate and
// failed-login pauses) waits here. Worker process only.
//
// Order of a wait:
// 1. A read item whose stream has Buffered() bytes is ready: the wait then
//    only polls without sleeping (so the other items and pending signals
//    are still seen), because the fd would not show those bytes.
// 2. Otherwise ppoll(2) on the fds with `wait_mask` as the signal mask: the
//    worker keeps TERM/USR1/USR2 (and the debug signal) blocked everywhere
//    else, so they are delivered only inside this call and an order can
//    never be lost between a flag check and the sleep.
// 3. EINTR: `stop` is asked; true ends the wait with kStopped, false goes
//    back to sleep until the same deadline.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <span>

#include "poolftpd/net/stream.h"

namespace poolftpd::net {

// Monotonic deadline in ns (util::MonotonicNs). kNoDeadline: wait forever;
// a deadline already past polls once without sleeping.
constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();
// A deadline that has always passed: look once, never sleep.
constexpr int64_t kPollOnly = 0;

struct WaitItem {
  Stream* stream = nullptr;  // set: waits on stream->fd() and honours Buffered()
  int fd = -1;               // used when stream is null (listeners, connecting sockets)
  bool write = false;        // wait for room to write instead of input
  bool ready = false;        // out: readable/writable, or error/hang-up on the fd
};

enum class WaitResult {
  kReady,    // at least one item has ready set
  kTimeout,  // the deadline passed
  kStopped,  // a signal arrived and stop() said so
  kError,    // ppoll failed (not EINTR)
};

// Waits for any of `items` (at most 4; none: a pure sleep until `deadline_ns`
// that still lets signals in). `stop` may be null.
WaitResult Wait(std::span<WaitItem> items, int64_t deadline_ns, const sigset_t* wait_mask,
                const std::function<bool()>* stop);

// A single stream (reading, or writing when `write`).
WaitResult WaitFor(Stream& stream, bool write, int64_t deadline_ns, const sigset_t* wait_mask,
                   const std::function<bool()>* stop);

// Deadline `ms` from now (ms <= 0: kNoDeadline).
int64_t DeadlineAfterMs(int64_t ms);

}  // namespace poolftpd::net
