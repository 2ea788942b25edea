// The session's view of its scoreboard slot: the only writer of the
// worker's copy of the slot record (sb::SlotRecord) during a session. Each
// method names what happened; only State() and TransferStarted() publish
// the record under the slot's seqlock (one Publish each), the others change
// fields that the next publication carries. Transfer byte counts go to the
// slot's bytes_done and the header's total_bytes atomics as they move,
// outside the seqlock. Without a record (null) no field is written and
// nothing is published; without a scoreboard the record is kept but never
// published. Worker
// process only; one session at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "poolftpd/scoreboard/scoreboard.h"

namespace poolftpd::protocol {

class SlotStatus {
 public:
  // All pointers may be null and outlive the SlotStatus.
  SlotStatus(sb::Scoreboard* board, size_t slot, sb::SlotRecord* record)
      : board_(board), slot_(slot), rec_(record) {}
  SlotStatus(const SlotStatus&) = delete;
  SlotStatus& operator=(const SlotStatus&) = delete;

  // Sets the state and the activity time and publishes the record.
  void State(sb::SlotState state);
  // The command being served (arguments escaped; a secret one as the
  // caller's placeholder). Not published by itself.
  void Command(std::string_view verb, std::string_view arg);
  // The user name as typed (escaped); "" forgets it. Not published by itself.
  void User(std::string_view user);
  // The current virtual directory (escaped). Not published by itself.
  void Cwd(std::string_view vpath);
  // A transfer starts: direction, virtual path, size, start offset and time,
  // bytes_done 0; publishes the record in state kTransferring.
  void TransferStarted(sb::XferDir dir, std::string_view vpath, uint64_t size, uint64_t offset);
  // `bytes` of the running transfer have moved (a running total): sets
  // bytes_done and adds the increase to the header's total_bytes.
  void Progress(uint64_t bytes);
  // The transfer ended after `bytes` in all: bytes never reported through
  // Progress count once; the transfer fields are cleared (published with
  // the next State).
  void TransferEnded(uint64_t bytes);

  // The path of the running transfer ("" when none), as shown to ftpwho.
  std::string_view transfer_path() const;
  uint64_t transfer_offset() const { return rec_ ? rec_->xfer_offset : 0; }
  int64_t transfer_start_ns() const { return rec_ ? rec_->xfer_start_ns : 0; }
  // Publications so far (State and TransferStarted calls with a record):
  // the seqlock cost of the session, for tests.
  uint64_t publishes() const { return publishes_; }

 private:
  void Publish();

  sb::Scoreboard* board_;
  size_t slot_;
  sb::SlotRecord* rec_;
  uint64_t counted_ = 0;  // bytes of this transfer already in total_bytes
  uint64_t publishes_ = 0;
};

}  // namespace poolftpd::protocol
