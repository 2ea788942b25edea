// The signal that carries a new debug level to a running server:
// ftpdctl debug N queues it to the master (pidfd_send_signal, SI_QUEUE, the
// level in si_value.sival_int); the master forwards it with sigqueue(3) to
// each worker of its own child table. Header-only: ftpdctl uses it too.
#pragma once

#include <signal.h>

namespace poolftpd::util {

// SIGRTMIN+1 (glibc's SIGRTMIN is a function: it reserves the first
// realtime signals for itself). Realtime signals queue with their value, so
// two quick changes both arrive, in order.
inline int DebugLevelSignal() { return SIGRTMIN + 1; }

// The levels ftpdctl debug, -d and DebugLevel accept.
inline constexpr int kMinDebugLevel = 0;
inline constexpr int kMaxDebugLevel = 9;

}  // namespace poolftpd::util
