// The master's reload (SIGHUP) and stop (TERM/INT, QUIT).
#include "master_internal.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "poolftpd/config/environment.h"
#include "poolftpd/log/log.h"
#include "poolftpd/master/notify.h"
#include "poolftpd/master/pidfile.h"
#include "poolftpd/master/pool_policy.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/scoreboard/shutdown.h"
#include "poolftpd/util/io.h"
#include "poolftpd/worker/worker.h"

namespace poolftpd::master::detail {

void Master::Reload() {
  log::Info("received SIGHUP -- master server reparsing configuration file");
  notifier_.Reloading();
  struct ReadyAgain {  // READY=1 whether the reload worked or not
    const Notifier& n;
    ~ReadyAgain() { n.Send("READY=1"); }
  } ready_again{notifier_};
  auto loaded = config::Load(opts_.config_file, opts_.defines);
  if (!loaded) {
    log::Error(loaded.error().message() +
               " (reload failed; still running on the old configuration)");
    return;
  }
  std::shared_ptr<const config::Config> next = *loaded;
  if (next->server_type != config::ServerType::kStandalone) {
    log::Error(opts_.config_file +
               ": ServerType inetd is not supported (reload failed; still running on the old "
               "configuration)");
    return;
  }
  if (auto env = config::CheckEnvironment(*next, ::geteuid() == 0); !env) {
    log::Error(env.error().message() + " (reload failed; still running on the old configuration)");
    return;
  }
  auto id = ResolveIdentity(*next);
  if (!id) {
    log::Error(id.error().message() + " (reload failed; still running on the old configuration)");
    return;
  }
  auto ls = Reconcile(*next);
  if (!ls) {
    log::Error(ls.error().message() + " (reload failed; still running on the old configuration)");
    return;
  }
  if (next->scoreboard_file != cfg_->scoreboard_file || next->pid_file != cfg_->pid_file)
    log::Warn("ScoreboardFile/PidFile changes take effect at the next restart");
  const int slots = static_cast<int>(children_.size());
  if (next->max_clients + next->max_spare_servers > slots)
    log::Warn("MaxClients + MaxSpareServers above " + std::to_string(slots) +
              " needs a restart; the pool stays within the current scoreboard");
  SetFullListening(false);
  SetListeners(std::move(*ls));
  cfg_ = std::move(next);
  if (const int d = ConfiguredDebugLevel(opts_, *cfg_); d != log::Logs::debug_level()) {
    log::Info("debug level " + std::to_string(d) + " from the configuration (was " +
              std::to_string(log::Logs::debug_level()) + ")");
    SetDebugLevel(d);
  }
  identity_ = *id;
  names_ = worker::PrepareWorkers(*cfg_, identity_);
  ReopenLogs();
  ++generation_;
  board_->SetGeneration(generation_);
  board_->SetMaxClients(static_cast<uint32_t>(cfg_->max_clients));
  board_->SetServerName(cfg_->server_name);
  // Idle old-generation workers leave at once; busy ones after their session.
  TellChildren(SIGUSR1, Whom::kOldGeneration, /*leave=*/true);
  policy_.OnReload();  // replace the pool at once
  POOLFTPD_DEBUG(9, "pool: reload: old-generation workers told to leave; spawn rate ",
                 policy_.spawn_rate(), "/s");
  WatchShutdownFile(true);
  log::Info("configuration reloaded (generation " + std::to_string(generation_) + ")");
}

void Master::Stop() {
  SetFullListening(false);
  SetListeners({});
  TellChildren(SIGTERM, Whom::kAll, /*leave=*/true);
  const int64_t deadline = util::MonotonicMs() + kStopGraceMs;
  while (!by_pid_.empty()) {
    Reap();
    if (by_pid_.empty()) break;
    if (util::MonotonicMs() >= deadline) {
      TellChildren(SIGKILL, Whom::kAll, /*leave=*/false);
      while (!by_pid_.empty()) {
        int status;
        const pid_t pid = ::waitpid(-1, &status, 0);
        if (pid < 0) break;
        auto it = by_pid_.find(pid);
        if (it != by_pid_.end()) {
          board_->Clear(it->second);
          FreeSlot(it->second);
          by_pid_.erase(it);
        }
      }
      break;
    }
    timespec ts{0, 10 * 1000000};
    ::nanosleep(&ts, nullptr);
  }
}

}  // namespace poolftpd::master::detail
