// The master's per-tick upkeep of shared state: the ShutdownFile, the
// disconnect deadline, and the scoreboard header.
#include "master_internal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "poolftpd/log/log.h"
#include "poolftpd/scoreboard/scoreboard.h"
#include "poolftpd/scoreboard/shutdown.h"
#include "poolftpd/util/io.h"

namespace poolftpd::master::detail {

std::string Master::WatchShutdownFile(bool force) {
  // ftpshut writes the file, then the header: a published shutdown with no
  // file means the file went away, even if it came and went between checks.
  const bool published = board_->ReadHeader().shutdown_time != 0;
  FileStamp now;
  struct stat st;
  if (::stat(cfg_->shutdown_file.c_str(), &st) == 0) {
    now.exists = true;
    now.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    now.size = st.st_size;
    now.ino = static_cast<int64_t>(st.st_ino);
  }
  if (!force && now == shutdown_stamp_ && (now.exists || !published)) return "";
  const bool was = shutdown_stamp_.exists;
  shutdown_stamp_ = now;
  auto info = sb::ReadShutdownFile(cfg_->shutdown_file);
  if (!info) {
    log::Error("ShutdownFile " + info.error().message() + "; ignored");
    board_->SetShutdown(0, 0, 0, "");
    return "";
  }
  if (!info->has_value()) {
    board_->SetShutdown(0, 0, 0, "");
    if (was) log::Info("ShutdownFile " + cfg_->shutdown_file + " removed: accepting logins again");
    return "";
  }
  const sb::ShutdownInfo& i = **info;
  board_->SetShutdown(i.shutdown_time, i.deny_time, i.disconnect_time, i.message);
  const std::string what = "shutdown pending (ShutdownFile " + cfg_->shutdown_file +
                           "): shutdown at " + sb::FormatShutdownTime(i.shutdown_time) +
                           ", new logins refused from " + sb::FormatShutdownTime(i.deny_time) +
                           ", sessions closed at " + sb::FormatShutdownTime(i.disconnect_time);
  log::Warn(what);
  return what;
}

void Master::EnforceDisconnect() {
  // The header is the live state: ftpshut publishes there before the file
  // change is noticed. Past the disconnect time, busy workers get USR2 and
  // end their session with the shutdown message.
  const sb::HeaderView h = board_->ReadHeader();
  if (h.shutdown_time == 0) return;
  const int64_t disconnect = h.disconnect_time ? h.disconnect_time : h.shutdown_time;
  if (std::time(nullptr) < disconnect) return;
  TellChildren(SIGUSR2, Whom::kBusy, /*leave=*/false);
}

void Master::CheckScoreboard() {
  const std::string& file = board_->path();
  // Descriptors were short (RefuseAll): say when one can be had again.
  if (fd_shortage_logged_) {
    if (UniqueFd probe(::open("/dev/null", O_RDONLY | O_CLOEXEC)); probe) {
      fd_shortage_logged_ = false;
      if (!reserve_fd_) reserve_fd_ = std::move(probe);
      log::Info("file descriptors available again");
    }
  }
  // Removed (or renamed, or replaced) under us: our mapping, and the
  // workers', go on, but the tools find no file, or another one, at the
  // path. Nothing can put the unlinked file back: say so once.
  struct stat st;
  const sb::FileInfo mine = board_->file_info();
  const bool found = ::stat(file.c_str(), &st) == 0;
  const bool ours = found && st.st_dev == mine.dev && st.st_ino == mine.ino;
  if (ours != scoreboard_at_path_) {
    scoreboard_at_path_ = ours;
    if (ours) log::Info("scoreboard " + file + " is back in place");
    else
      log::Error("scoreboard " + file + " was removed" +
                 (found ? " and another file put in its place" : "") +
                 " while the server runs: sessions go on, but ftpwho, ftpcount, ftpshut and "
                 "ftpdctl cannot see this server; restart it to recreate the file");
  }
  const sb::TruncationEvents faults = sb::TakeTruncationEvents();
  const sb::Scoreboard::SizeCheck size = board_->RestoreSize();
  const int err = faults.restore_errno != 0 ? faults.restore_errno : size.restore_errno;
  if (err != 0 || sb::MappingDetached()) {
    log::Error("scoreboard " + file + " was truncated and its size cannot be restored (" +
               std::strerror(err) + "): stopping; remove the file and start again");
    stop_ = true;
    return;
  }
  if (faults.restored > 0 || size.truncated) {
    // The pages past the old end read as zeros again: the header is ours to
    // rewrite; each worker republishes its own slot (idle ones within a
    // second, sessions at their next command).
    board_->RepairHeader(hwm_floor_);
    WatchShutdownFile(true);
    log::Error("scoreboard " + file + " was truncated" +
               (size.truncated ? " (to " + std::to_string(size.seen_size) + " bytes)" : "") +
               "; size restored (" + std::to_string(size.mapped_size) +
               " bytes) and header rewritten");
    return;
  }
  const std::string damage = board_->CheckHeader(hwm_floor_);
  if (damage.empty()) return;
  // SECURITY (S7): the file is writable by whoever can write its directory (and
  // by every worker): the master decides from its own copy and puts the
  // header back; it never adopts what it found there.
  board_->RepairHeader(hwm_floor_);
  WatchShutdownFile(true);
  const int64_t now = util::MonotonicMs();
  if (damage_logged_ms_ != 0 && now - damage_logged_ms_ < kDamageReportMs) {
    ++damage_unreported_;
    return;
  }
  std::string line = "scoreboard " + file + ": header damaged (" + damage +
                     "); rewritten from the master's own state";
  if (damage_unreported_ > 0)
    line +=
        " (also repaired " + std::to_string(damage_unreported_) + " times since the last report)";
  log::Error(line);
  damage_logged_ms_ = now;
  damage_unreported_ = 0;
}

}  // namespace poolftpd::master::detail
