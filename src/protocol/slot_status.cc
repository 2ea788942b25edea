#include "poolftpd/protocol/slot_status.h"

#include "poolftpd/util/io.h"
#include "poolftpd/util/strings.h"

namespace poolftpd::protocol {

void SlotStatus::Publish() {
  ++publishes_;
  if (board_) board_->Publish(slot_, *rec_);
}

void SlotStatus::State(sb::SlotState state) {
  if (rec_ == nullptr) return;
  rec_->state = state;
  rec_->last_activity_ns = util::RealtimeNs();
  Publish();
}

void SlotStatus::Command(std::string_view verb, std::string_view arg) {
  if (rec_ == nullptr) return;
  util::CopyTruncated(rec_->cmd, sizeof rec_->cmd, verb);
  util::CopyTruncated(rec_->arg, sizeof rec_->arg, util::EscapeControl(arg));
}

void SlotStatus::User(std::string_view user) {
  if (rec_ == nullptr) return;
  util::CopyTruncated(rec_->user, sizeof rec_->user, util::EscapeControl(user));
}

void SlotStatus::Cwd(std::string_view vpath) {
  if (rec_ == nullptr) return;
  util::CopyTruncated(rec_->cwd, sizeof rec_->cwd, util::EscapeControl(vpath));
}

void SlotStatus::TransferStarted(sb::XferDir dir, std::string_view vpath, uint64_t size,
                                 uint64_t offset) {
  counted_ = 0;
  if (rec_ == nullptr) return;
  rec_->xfer_dir = dir;
  util::CopyTruncated(rec_->xfer_path, sizeof rec_->xfer_path, util::EscapeControl(vpath));
  rec_->xfer_size = size;
  rec_->xfer_offset = offset;
  rec_->xfer_start_ns = util::RealtimeNs();
  if (board_) board_->SetBytesDone(slot_, 0);
  rec_->state = sb::SlotState::kTransferring;
  rec_->last_activity_ns = util::RealtimeNs();
  Publish();
}

void SlotStatus::Progress(uint64_t bytes) {
  // Each step's bytes go into the header as they move (one relaxed
  // fetch_add per step), so a rate read from total_bytes is smooth over a
  // long transfer.
  if (!board_) return;
  board_->SetBytesDone(slot_, bytes);
  if (bytes > counted_) board_->AddTotalBytes(bytes - counted_);
  counted_ = bytes;
}

void SlotStatus::TransferEnded(uint64_t bytes) {
  if (board_ && bytes > counted_) board_->AddTotalBytes(bytes - counted_);
  counted_ = 0;
  if (rec_ == nullptr) return;
  rec_->xfer_dir = sb::XferDir::kNone;
  rec_->xfer_path[0] = '\0';
  rec_->xfer_size = 0;
}

std::string_view SlotStatus::transfer_path() const { return rec_ ? rec_->xfer_path : ""; }

}  // namespace poolftpd::protocol
