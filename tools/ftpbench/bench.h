// ftpbench's load engine: one thread, one epoll loop, non-blocking sockets
// and a state machine per client (connect, 220, USER/331, PASS/230, TYPE I,
// EPSV/229, data connect, RETR/LIST/MLSD with 150 + 226 + EOF, QUIT/221).
// Client structs and their buffers are allocated once and reused for every
// session. Used by the ftpbench process only; the pure parts it builds on
// live in protocol.h, stats.h, procfs.h and report.h.
#pragma once

#include "options.h"
#include "poolftpd/util/result.h"
#include "report.h"

namespace poolftpd::ftpbench {

// Runs the benchmark `options` describe and returns its report; failures of
// sessions are inside the report. Error only when the run cannot start:
// the host does not resolve, the --server-pid process does not exist, the
// file descriptor limit is too low for the run, epoll cannot be created.
// Raises the RLIMIT_NOFILE soft limit to the hard limit. SIGINT ends a
// login/small run early (the report covers the shortened window) and
// aborts the other modes (active sessions count as failures).
Result<Report> RunBenchmark(const Options& options);

}  // namespace poolftpd::ftpbench
