// One FTP session on one control connection: command table (verb ->
// handler; flags and HELP text come from the verb registry,
// config/verbs.h), the gate (login, arity, path, <Limit>, read-only),
// handlers, and the slot's status through a SlotStatus. The control connection's I/O and
// timeouts are a ControlChannel over the net::Stream the worker hands in;
// data transfers run the data module's loops over a net::Stream of the data
// connection. A fresh Session per connection, so no state survives into the
// next client of a reused worker. Worker process only.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "poolftpd/config/config.h"
#include "poolftpd/data/data_channel.h"
#include "poolftpd/fs/listing.h"
#include "poolftpd/fs/path.h"
#include "poolftpd/net/stream.h"
#include "poolftpd/protocol/control_channel.h"
#include "poolftpd/protocol/slot_status.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/util/net.h"
#include "poolftpd/util/rate_limit.h"
#include "poolftpd/util/unique_fd.h"

namespace poolftpd::protocol {

// What the worker hands every session. All pointers outlive the session.
struct SessionEnv {
  const config::Config* config = nullptr;
  sb::Scoreboard* scoreboard = nullptr;  // may be null in tests
  size_t slot = 0;
  sb::SlotRecord* record = nullptr;  // the worker's copy of its slot
  // The listener that accepted the connection (null: inetd, tests).
  const config::ListenerSpec* listener = nullptr;
  const fs::Root* anon_root = nullptr;   // root of the <Anonymous> tree (null: none)
  std::string anon_real_root;            // its real path, for the TransferLog
  const sigset_t* wait_mask = nullptr;   // signals unblocked while waiting
  const sigset_t* send_mask = nullptr;   // mask of a blocking sendfile step (data::Hooks)
  std::function<bool()> stop_requested;  // TERM (server stop) or USR2 (kick)
  // The 421 text when stop_requested() ends the session; gets the session's
  // user and cwd for ftpshut's cookies. Null: the RFC's generic text.
  std::function<std::string(std::string_view user, std::string_view cwd)> stop_text;
  std::string greeting_warning;  // extra 220 lines (pending ftpshut)
  // The control socket is already non-blocking with SO_OOBINLINE and
  // TCP_NODELAY (inherited from the master's listener): saves three system
  // calls per session.
  bool socket_ready = false;
  fs::NameLookup names;  // uid/gid -> name for LIST
};

enum class SessionEnd {
  kQuit,
  kClientGone,
  kTimeout,
  kStopped,
  kLoginFailures,
  kPreLoginFlood,
  kError
};

// What the gate hands a handler: the verb and its argument, and for a path
// command (config::Verb::path) the path as the client wrote it, its
// normalised virtual path and the policy that governs it. A handler runs
// only after the gate admitted the command under `policy`: it never
// re-checks access.
struct Command {
  std::string_view verb;
  std::string_view arg;
  const config::Verb* info = nullptr;
  bool has_path = false;
  std::string path;       // the path part of the argument ("/" for CWD without one, ".." for CDUP)
  std::string vpath;      // normalised virtual path (has_path)
  fs::ListOptions list;   // ls-style options before the path (LIST, NLST, STAT)
  config::Policy policy;  // for vpath, or for the current directory
};

class Session;
using Handler = void (Session::*)(const Command& cmd);

// One row of the command table: the registry's verb and its handler.
struct CommandSpec {
  std::string_view verb;
  Handler handler;
};

std::span<const CommandSpec> Commands();
// The handler row of `verb` (upper case), or nullptr (unknown verbs, and
// write verbs without a handler, which the read-only gate refuses).
const CommandSpec* FindCommand(std::string_view verb);

class Session {
 public:
  // `control` (the accepted connection) outlives the session; Run leaves
  // it shut down or drained, and the caller closes it.
  Session(const SessionEnv& env, net::Stream& control, const net::Endpoint& local,
          const net::Endpoint& peer, std::string peer_name);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Serves the session to its end.
  SessionEnd Run();
  // Sends one reply without waiting (master-full / per-host refusals).
  static void Refuse(net::Stream& control, int code, std::string_view text);
  // The slot's status as the session left it (tests count publications).
  const SlotStatus& slot_status() const { return status_; }

  // Handlers (public for the command table).
  void DoUser(const Command& cmd);
  void DoPass(const Command& cmd);
  void DoAcct(const Command& cmd);
  void DoQuit(const Command& cmd);
  void DoNoop(const Command& cmd);
  void DoSyst(const Command& cmd);
  void DoFeat(const Command& cmd);
  void DoOpts(const Command& cmd);
  void DoHelp(const Command& cmd);
  void DoStat(const Command& cmd);
  void DoPwd(const Command& cmd);
  void DoCwd(const Command& cmd);
  void DoCdup(const Command& cmd);
  void DoType(const Command& cmd);
  void DoMode(const Command& cmd);
  void DoStru(const Command& cmd);
  void DoPasv(const Command& cmd);
  void DoEpsv(const Command& cmd);
  void DoPort(const Command& cmd);
  void DoEprt(const Command& cmd);
  void DoList(const Command& cmd);
  void DoNlst(const Command& cmd);
  void DoMlsd(const Command& cmd);
  void DoMlst(const Command& cmd);
  void DoSize(const Command& cmd);
  void DoMdtm(const Command& cmd);
  void DoRest(const Command& cmd);
  void DoRetr(const Command& cmd);
  void DoAbor(const Command& cmd);
  void DoAllo(const Command& cmd);
  void DoAuth(const Command& cmd);
  void DoSite(const Command& cmd);
  void DoNotImpl(const Command& cmd);

 private:
  using Read = ControlChannel::Read;

  // ControlChannel::Reply; a failed write ends the session (kClientGone).
  void Reply(int code, std::string_view text);
  void Dispatch(const std::string& line);
  void LoginFailed(std::string_view log_text);
  void EndWith(SessionEnd how, int code, std::string_view text);
  void EndStopped();
  void EndTimedOut();
  // A PASV/EPSV listener no transfer command used within
  // DataConnectTimeoutMs: closed with a log line (no reply: nothing is
  // pending; the next transfer command gets 425 "use PASV first").
  void ClosePassiveUnused();
  // Before each command line: the pre-login bound and MaxCommandRate. False
  // when the session ended instead (421 sent).
  bool AdmitCommand();
  // Sleeps until `until_ns` (monotonic) for MaxCommandRate; false when TERM,
  // a kick or TimeoutLogin ended the session meanwhile.
  bool PauseUntil(int64_t until_ns);
  void SiteHelp(std::string_view arg);
  // Fills cmd->path/vpath/list/policy for a path command; false when the
  // path cannot be normalised.
  bool ResolveCommandPath(Command* cmd);
  std::string ErrnoText(std::string_view what, int err) const;

  // Data-connection set-up. A 501 and true when EPSV ALL forbids `verb`.
  bool RefusedAfterEpsvAll(std::string_view verb);
  // PASV (227 with the address) and EPSV (`extended`: 229, port only):
  // listens on a passive port of the local address.
  void SetUpPassive(std::string_view verb, bool extended);
  // PORT and EPRT: `ep` becomes the active target when it is the client's
  // own address on an unprivileged port, else 500.
  void SetUpActive(std::string_view verb, const net::Endpoint& ep);

  // A data loop of either direction over the data connection's stream: a
  // send loop (RETR, listings) or a receive loop (data::ReceiveFile, for an
  // upload); it reports its running byte count through hooks.progress and
  // stores the bytes moved in `*moved`.
  using TransferFn =
      std::function<data::Status(net::Stream& data, const data::Hooks& hooks, uint64_t* moved)>;
  // The one transfer runner, for either direction `dir`: opens the data
  // connection (active mode before the 150, passive after it), sends 150
  // `opening`, runs `transfer` over it, closes it (FIN after a complete
  // transfer), keeps the slot's transfer fields, replies 226/426/425/451.
  // `*moved`: bytes moved; `*status`: how it ended (kNoData: no transfer
  // took place). True on a complete transfer.
  // `offset` is where a RETR or STOR starts in the file (REST), shown in the
  // slot; 0 for a listing.
  bool RunTransfer(std::string_view opening, sb::XferDir dir, std::string_view vpath, uint64_t size,
                   uint64_t offset, const TransferFn& transfer, uint64_t* moved,
                   data::Status* status);
  data::Hooks MakeHooks();
  data::ControlAction OnControlDuringTransfer();
  void SendDirListing(const Command& cmd, bool nlst);
  bool SendListing(std::string_view what, const std::string& text, std::string_view vpath);
  std::string LsLines(const std::vector<fs::Entry>& entries, fs::NameCoding coding) const;

  const SessionEnv& env_;  // the worker's: outlives the session (no per-session copies)
  const config::Config& cfg_;
  ControlChannel ctl_;
  net::Endpoint local_, peer_;
  std::string peer_name_;
  data::DataChannel data_;
  SlotStatus status_;  // the only writer of env_.record

  bool logged_in_ = false;
  bool user_given_ = false;
  std::string user_;       // as typed in USER
  std::string anon_pass_;  // the e-mail given as password (TransferLog)
  const config::Anonymous* anon_ = nullptr;
  // The session's file tree, set at login (the <Anonymous> root).
  const fs::Root* root_ = nullptr;
  std::string_view real_root_;  // its real path, for the TransferLog
  std::string_view home_;       // what "~" means to <Directory> (the root as configured)
  config::Policy cwd_policy_;   // the policy of cwd_, for commands without a path
  std::string policy_scratch_;  // reused by config::FindPolicy
  int failed_logins_ = 0;
  int prelogin_commands_ = 0;  // lines received before login
  util::CommandRateLimiter rate_;
  std::string cwd_ = "/";
  bool ascii_ = true;  // RFC 959 default TYPE A
  uint64_t rest_ = 0;
  bool epsv_all_ = false;
  int64_t passive_expiry_ms_ = 0;  // monotonic ms when an unused PASV listener closes
  uint16_t passive_port_ = 0;
  unsigned mlst_facts_ = fs::kFactAll;
  bool abort_seen_ = false;
  bool done_ = false;
  SessionEnd end_ = SessionEnd::kQuit;
};

}  // namespace poolftpd::protocol
