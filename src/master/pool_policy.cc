#include "poolftpd/master/pool_policy.h"

#include <sys/wait.h>

#include <algorithm>

#include "poolftpd/worker/worker.h"

namespace poolftpd::master {

bool IsBusy(sb::SlotState s) {
  return s == sb::SlotState::kConnected || s == sb::SlotState::kLoggedIn ||
         s == sb::SlotState::kIdle || s == sb::SlotState::kTransferring ||
         s == sb::SlotState::kClosing;
}

bool Selected(Whom whom, const PoolChild& c, uint32_t generation) {
  if (c.pid <= 0) return false;
  switch (whom) {
    case Whom::kAll:
      return true;
    case Whom::kOldGeneration:
      return c.generation != generation;
    case Whom::kBusy:
      return IsBusy(c.state);
  }
  return false;
}

PoolPolicy::Counts PoolPolicy::Count(std::span<const PoolChild> children, uint32_t generation) {
  Counts n;
  for (const PoolChild& c : children) {
    if (IsBusy(c.state)) ++n.busy;
    else if (c.generation == generation && !c.leaving)
      ++n.idle;
  }
  return n;
}

PoolPolicy::Plan PoolPolicy::MakePlan(std::span<const PoolChild> children, const PoolLimits& limits,
                                      uint32_t generation, int accepted, int64_t now_ms) {
  Plan p;
  p.counts = Count(children, generation);
  const int idle = p.counts.idle;
  // Never more workers than MaxClients can use: busy ones of every
  // generation plus the current generation's idle ones.
  p.room = limits.max_clients - p.counts.busy - idle;
  // Keep MinSpareServers idle. When the pool is short (a burst of sessions
  // is taking workers), also replace each worker that just accepted, up to
  // MaxSpareServers, so the burst finds workers ready; with enough idle
  // workers nothing is spawned (short sessions return theirs at once).
  p.want = limits.min_spare_servers - idle;
  if (p.want > 0) p.want = std::max(p.want, std::min(accepted, limits.max_spare_servers - idle));
  guard_.Poll(now_ms);
  p.rate = spawn_rate_;
  p.spawned_this_tick = spawned_this_tick_;
  if (p.want > 0 && p.room > 0 && !guard_.Paused()) {
    short_this_tick_ = true;
    p.spawn_pass = true;
    p.spawn = std::min({p.want, p.room, spawn_rate_ - spawned_this_tick_});
  } else if (p.want > 0 && p.room > 0 && idle == 0 && guard_.TakeTrickle(now_ms)) {
    // Paused (crashes, fork failures): never sit with no worker at all.
    p.trickle = true;
  }
  return p;
}

PoolPolicy::Settled PoolPolicy::Settle(std::span<const PoolChild> children,
                                       const PoolLimits& limits, uint32_t generation,
                                       const Plan& plan, bool trickled) {
  Settled s;
  const int idle = plan.counts.idle + (trickled ? 1 : 0);
  // Paused() is read now: a fork that failed during the pass paused spawning.
  if (plan.want > 0 && (plan.room <= 0 || guard_.Paused()))
    s.not_spawning = plan.room <= 0 ? "MaxClients reached" : "spawning is paused (back-off)";
  retire_.clear();
  if (idle > limits.max_spare_servers) {
    int extra = idle - limits.max_spare_servers;
    for (size_t i = 0; i < children.size() && extra > 0; ++i) {
      const PoolChild& c = children[i];
      if (c.leaving || c.generation != generation || c.state != sb::SlotState::kReady) continue;
      retire_.push_back(i);
      --extra;
    }
  }
  s.retire = retire_;
  // No idle worker while spawning is paused: the master answers 421 itself
  // rather than leave clients in the backlog.
  s.full_listening = plan.counts.busy >= limits.max_clients || (guard_.Paused() && idle == 0);
  return s;
}

PoolPolicy::Refusal PoolPolicy::CheckFull(const Counts& counts, const PoolLimits& limits) const {
  Refusal r;
  r.full = counts.busy >= limits.max_clients;
  r.no_worker = !r.full && guard_.Paused() && counts.idle == 0;
  return r;
}

void PoolPolicy::OnForked(int64_t now_ms) {
  guard_.OnForkOk(now_ms);
  ++spawned_this_tick_;
}

void PoolPolicy::OnForkFailed(int err, int64_t now_ms) { guard_.OnForkFailed(err, now_ms); }

PoolPolicy::RateChange PoolPolicy::OnTick() {
  // The rate doubles each second the pool stayed short (httpd prefork).
  RateChange r;
  r.old_rate = spawn_rate_;
  r.was_short = short_this_tick_;
  spawn_rate_ = short_this_tick_ ? std::min(spawn_rate_ * 2, kMaxSpawnRate) : kInitialSpawnRate;
  r.new_rate = spawn_rate_;
  short_this_tick_ = false;
  spawned_this_tick_ = 0;
  return r;
}

DeathKind PoolPolicy::OnDeath(int status, const PoolChild& c, uint32_t generation, int64_t now_ms) {
  const DeathKind kind = ClassifyDeath(status, c.leaving);
  if (kind == DeathKind::kExpected || c.generation != generation) return kind;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  guard_.OnDeath(kind, code == static_cast<int>(worker::WorkerExit::kFatal), now_ms);
  if (code == static_cast<int>(worker::WorkerExit::kSick)) spawn_rate_ = 1;
  return kind;
}

}  // namespace poolftpd::master
