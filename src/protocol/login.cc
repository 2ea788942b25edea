// Login and what admits a command line before it is dispatched: USER,
// PASS, ACCT, QUIT, failed logins, the pre-login bound and MaxCommandRate.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "poolftpd/auth/auth.h"
#include "poolftpd/log/log.h"
#include "poolftpd/protocol/session.h"
#include "poolftpd/util/io.h"
#include "poolftpd/util/limits.h"
#include "poolftpd/util/strings.h"

namespace poolftpd::protocol {
namespace {

// Delay after a failed login, to slow password guessing.
constexpr int kFailedLoginDelayMs = 500;
// DisplayLogin files are shown up to this size.
constexpr size_t kMaxDisplayFile = 16 * 1024;

}  // namespace

bool Session::AdmitCommand() {
  // SECURITY (S2): before login the client is anonymous and costs us a reply per
  // line; bound the lines (limits.h says why the number) instead of serving
  // a pipelined flood until TimeoutLogin. Every line counts, USER and PASS
  // too, and each allowed login attempt adds room for its USER/PASS pair, so
  // MaxLoginAttempts still decides for clients that only try passwords.
  if (!logged_in_) {
    const int allowed = limits::kMaxPreLoginCommands + 2 * std::max(cfg_.max_login_attempts, 0);
    if (++prelogin_commands_ > allowed) {
      log::Info("Maximum commands before login (" + std::to_string(allowed) +
                ") exceeded, disconnected");
      EndWith(SessionEnd::kPreLoginFlood, 421,
              "Too many commands before login: closing control connection");
      return false;
    }
  }
  if (!rate_.enabled()) return true;
  // SECURITY (S2): MaxCommandRate throttles a flooding client by delaying its
  // commands (none is dropped, replies stay in order). Logged once per
  // burst, so the flood cannot flood the log.
  const int64_t now_ns = util::MonotonicNs();
  const auto d = rate_.Admit(now_ns);
  if (d.delay_ns <= 0) return true;
  if (d.burst_start) {
    const int secs = cfg_.max_command_interval;
    log::Info("MaxCommandRate (" + std::to_string(cfg_.max_command_rate) + " cmds/" +
              std::to_string(secs) + (secs == 1 ? " sec" : " secs") +
              ") exceeded, injecting processing delays (logged once per burst)");
  }
  return PauseUntil(now_ns + d.delay_ns);
}

bool Session::PauseUntil(int64_t until_ns) {
  for (;;) {
    // The delay is the server's doing, not idle time (the command clock is
    // set after it), but it must not stretch the time allowed to log in.
    int64_t end = until_ns;
    const int64_t login_end = ctl_.LoginDeadlineNs();
    const bool login_bound = !logged_in_ && login_end < end;
    if (login_bound) end = login_end;
    const int64_t left = end - util::MonotonicNs();
    if (left <= 0) {
      if (!login_bound) return true;
      EndTimedOut();
      return false;
    }
    // TERM and USR2 (kick) are unblocked only inside this wait: they end a
    // delayed session at once.
    if (!ctl_.SleepUntil(end)) {
      EndStopped();
      return false;
    }
  }
}

void Session::DoUser(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  if (logged_in_) {
    Reply(503, "You are already logged in");
    return;
  }
  if (arg.size() > limits::kMaxUserName) {
    Reply(501, "User name too long");
    return;
  }
  user_ = std::string(arg);
  user_given_ = true;
  status_.User(user_);
  if (auth::IsAnonymousName(cfg_, user_))
    Reply(331, "Anonymous login ok, send your complete email address as your password");
  else
    Reply(331, "Password required for " + util::EscapeControl(user_));
}

void Session::LoginFailed(std::string_view log_text) {
  log::Info(log_text);
  ++failed_logins_;
  user_given_ = false;
  status_.User("");
  // Slow down guessing; the wait still honours TERM, and other signals (a
  // debug-level change) do not cut it short.
  (void)ctl_.SleepUntil(util::MonotonicNs() + kFailedLoginDelayMs * 1000000LL);
  if (cfg_.max_login_attempts > 0 && failed_logins_ >= cfg_.max_login_attempts) {
    log::Info("Maximum login attempts (" + std::to_string(cfg_.max_login_attempts) + ") exceeded");
    EndWith(SessionEnd::kLoginFailures, 530, "Login incorrect.");
    return;
  }
  Reply(530, "Login incorrect.");
}

void Session::DoPass(const Command& cmd) {
  const std::string_view arg = cmd.arg;
  if (logged_in_) {
    Reply(503, "You are already logged in");
    return;
  }
  if (!user_given_) {
    Reply(503, "Login with USER first");
    return;
  }
  const std::string user = util::EscapeControl(user_);
  const auto d = auth::CheckLogin(cfg_, user_, peer_.addr);
  switch (d.result) {
    case auth::LoginResult::kNoSuchUser:
      LoginFailed("USER " + user + ": no such user found from " +
                  (peer_name_.empty() ? peer_.addr.ToString() : peer_name_) + " [" +
                  peer_.addr.ToString() + "] to " + local_.ToString());
      return;
    case auth::LoginResult::kLimitDenied:
      LoginFailed("USER " + user + " (Login failed): Limit access denies login");
      return;
    case auth::LoginResult::kAnonymous:
      break;
  }
  if (env_.anon_root == nullptr || !env_.anon_root->valid()) {
    LoginFailed("USER " + user + " (Login failed): anonymous root unavailable");
    return;
  }
  anon_ = d.anonymous;
  root_ = env_.anon_root;
  real_root_ = env_.anon_real_root;
  home_ = anon_->root;
  cwd_policy_ = config::FindPolicy(cfg_, anon_, home_, "/", &policy_scratch_);
  anon_pass_ = util::EscapeControl(arg.substr(0, limits::kMaxPassword));
  logged_in_ = true;
  cwd_ = "/";
  ctl_.TransferEnded();
  status_.Cwd(cwd_);
  log::Info("ANON " + user + ": Login successful.");

  std::string text;
  const std::string& display =
      !anon_->display_login.empty() ? anon_->display_login : cfg_.display_login;
  if (!display.empty()) {
    auto fd = root_->Open(display, O_RDONLY);
    if (fd) {
      std::string buf(kMaxDisplayFile, '\0');
      const ssize_t n = ::read(fd->get(), buf.data(), buf.size());
      if (n > 0) {
        buf.resize(static_cast<size_t>(n));
        while (!buf.empty() && (buf.back() == '\n' || buf.back() == '\r')) buf.pop_back();
        for (char& c : buf)
          if (c == '\r') c = ' ';
        text = buf + "\n";
      }
    }
  }
  text += "Anonymous access granted, restrictions apply";
  Reply(230, text);
}

void Session::DoAcct(const Command&) {
  Reply(202, "ACCT command ignored: not needed at this site");
}

void Session::DoQuit(const Command&) { EndWith(SessionEnd::kQuit, 221, "Goodbye."); }

}  // namespace poolftpd::protocol
