// The master's pool policy: how many workers to spawn and which to retire
// (MinSpareServers, MaxSpareServers, MaxClients), the spawn ramp, when the
// master answers new connections itself (full listening), and what a
// reaped worker's exit means for the pool (with SpawnGuard for the crash
// window and back-off). Pure policy over a snapshot of the child table and
// an injected monotonic clock (milliseconds): the master fills the snapshot
// from its table and the scoreboard, executes the decisions and logs them;
// the unit test (master_test.cc) drives it with fake clocks and tables.
// See docs/ARCHITECTURE.md, "Pool policy".
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "poolftpd/master/spawn_guard.h"
#include "poolftpd/scoreboard/scoreboard.h"

namespace poolftpd::master {

// A slot that shows a session (any generation).
bool IsBusy(sb::SlotState s);

// One live worker as the policy sees it.
struct PoolChild {
  pid_t pid = 0;
  size_t slot = 0;
  uint32_t generation = 0;
  bool leaving = false;  // told to leave (USR1) or TERMed
  sb::SlotState state = sb::SlotState::kEmpty;
};

// The config numbers the policy works with.
struct PoolLimits {
  int min_spare_servers = 1;
  int max_spare_servers = 1;
  int max_clients = 1;
};

// Which children a "tell the children" order reaches.
enum class Whom {
  kAll,            // every live child
  kOldGeneration,  // children of a generation before the current one
  kBusy,           // children whose slot shows a session
};
// Whether `c` is one of `whom` while `generation` is current.
bool Selected(Whom whom, const PoolChild& c, uint32_t generation);

class PoolPolicy {
 public:
  static constexpr int kInitialSpawnRate = 1024;  // workers per second
  static constexpr int kMaxSpawnRate = 8192;      // only bounds a runaway loop

  struct Counts {
    int idle = 0;  // current generation, not leaving, no session
    int busy = 0;  // a session, any generation
  };
  // One maintenance pass, in two steps: Plan (before spawning), then Settle
  // (after the master spawned what Plan asked for).
  struct Plan {
    Counts counts;
    int room = 0;  // MaxClients - busy - idle
    int want = 0;  // idle workers missing (with the per-accept extras)
    // Spawn `spawn` workers now (may be <= 0: none; stop at the first
    // failure). Set only when not paused and short.
    bool spawn_pass = false;
    int spawn = 0;
    int rate = 0;               // the spawn rate and ...
    int spawned_this_tick = 0;  // ... what this second used, when planned
    // Paused, short and no worker idle: spawn one (the trickle).
    bool trickle = false;
  };
  struct Settled {
    // Short of `want` but not spawning: "MaxClients reached" or "spawning is
    // paused (back-off)"; nullptr when not short or spawning went ahead.
    const char* not_spawning = nullptr;
    // Idle workers over MaxSpareServers to tell to leave (USR1), as indices
    // into the snapshot given to Plan (idle, current generation, Ready, not
    // already leaving; first ones in the snapshot's order). Valid until the
    // next Settle.
    std::span<const size_t> retire;
    // The master answers new connections with 421 itself (MaxClients
    // reached, or spawning paused with no worker idle).
    bool full_listening = false;
  };

  PoolPolicy() = default;
  explicit PoolPolicy(const SpawnGuard::Limits& guard_limits) : guard_(guard_limits) {}

  // Buffers sized once for `slots` children: Plan and Settle allocate nothing.
  void Reserve(size_t slots) { retire_.reserve(slots); }

  static Counts Count(std::span<const PoolChild> children, uint32_t generation);

  // `accepted`: accepts since the last pass (the wake-up bytes). Ends a
  // pause whose time is up (SpawnGuard::Poll: take its messages after).
  Plan MakePlan(std::span<const PoolChild> children, const PoolLimits& limits, uint32_t generation,
                int accepted, int64_t now_ms);
  // `trickled`: the trickle spawn of `plan` worked.
  Settled Settle(std::span<const PoolChild> children, const PoolLimits& limits, uint32_t generation,
                 const Plan& plan, bool trickled);
  // The master's RefuseFull re-check: MaxClients reached, or (`no_worker`)
  // spawning paused and nobody idle to greet the client.
  struct Refusal {
    bool full = false;
    bool no_worker = false;
  };
  Refusal CheckFull(const Counts& counts, const PoolLimits& limits) const;

  // A worker was forked / fork() failed.
  void OnForked(int64_t now_ms);
  void OnForkFailed(int err, int64_t now_ms);

  // The one-second tick: the rate doubles when the pool stayed short this
  // second, else returns to the initial rate; the second's count restarts.
  struct RateChange {
    int old_rate = 0;
    int new_rate = 0;
    bool was_short = false;
  };
  RateChange OnTick();
  // A reload replaces the pool at once.
  void OnReload() { spawn_rate_ = kMaxSpawnRate; }

  // A worker was reaped with wait `status`; `c` is its table entry. A
  // current-generation worker's unexpected death feeds the SpawnGuard, and
  // an exit with kSick drops the rate to 1/s.
  DeathKind OnDeath(int status, const PoolChild& c, uint32_t generation, int64_t now_ms);

  int spawn_rate() const { return spawn_rate_; }
  int spawned_this_tick() const { return spawned_this_tick_; }
  SpawnGuard& guard() { return guard_; }
  const SpawnGuard& guard() const { return guard_; }

 private:
  SpawnGuard guard_;
  int spawn_rate_ = kInitialSpawnRate;
  int spawned_this_tick_ = 0;
  bool short_this_tick_ = false;
  std::vector<size_t> retire_;
};

}  // namespace poolftpd::master
