// The I/O thread: command queue in, paced block delivery out. See io_host.h.
#include "io_host.h"

#include <cstring>
#include <utility>

#include "io_conn.h"

namespace tsha {
namespace io {

double NowMs() { return static_cast<double>(uv_hrtime()) / 1e6; }

Host::~Host() {
  Shutdown();
  for (Block* b : ready_) delete b;
  for (Block* b : free_) delete b;
  // (blocksAlive is not maintained past this point: the Host is going away.)
  // A block still queued inside the thread-safe function is never touched again: its callback sees a null
  // env once the function is torn down (io_napi.cc), so it is safe to free it here.
  delete inflight_;
}

bool Host::Start(napi_threadsafe_function tsfn) {
  if (started_) return true;
  tsfn_ = tsfn;
  if (uv_loop_init(&loop_) != 0) return false;
  // Before the thread exists: it only ever reads these pointers.
  deliveryBytes_.reset(new uint8_t[kDeliveryBytes]);
  deliveryIndex_.reset(new double[kDeliveryDoubles]);
  async_.data = this;
  check_.data = this;
  uv_async_init(&loop_, &async_, OnAsync);
  uv_check_init(&loop_, &check_);
  uv_check_start(&check_, OnCheck);
  thread_ = std::thread(ThreadMain, this);
  started_ = true;
  return true;
}

void Host::ThreadMain(Host* self) {
  uv_run(&self->loop_, UV_RUN_DEFAULT);
  // Every handle is closed by now (Stop closes them and the loop ran until none was left).
  uv_loop_close(&self->loop_);
}

void Host::Post(Command&& cmd) {
  if (!started_ || joined_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cmds_.push_back(std::move(cmd));
  }
  uv_async_send(&async_);
}

void Host::Shutdown() {
  if (!started_ || joined_) return;
  Command stop{Command::Stop};
  Post(std::move(stop));
  thread_.join();
  joined_ = true;
}

void Host::OnAsync(uv_async_t* h) { static_cast<Host*>(h->data)->Drain(); }

void Host::OnCheck(uv_check_t* h) { static_cast<Host*>(h->data)->Flush(); }

void Host::Drain() {
  std::vector<Command> cmds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cmds.swap(cmds_);
  }
  for (Command& cmd : cmds) {
    if (stopping_) break;
    auto it = conns_.find(cmd.id);
    Conn* c = it == conns_.end() ? nullptr : it->second;
    switch (cmd.type) {
      case Command::Open: {
        if (c != nullptr) break;  // ids are never reused by JS
        c = new Conn(this, cmd.id, std::move(cmd.open));
        connsAlive++;
        conns_[cmd.id] = c;
        c->Start();
        break;
      }
      case Command::Write:
        if (c) c->Write(std::move(cmd.data));
        break;
      case Command::Close:
      case Command::Abort:
        if (c) c->Close(cmd.type == Command::Abort);
        break;
      case Command::Hold:
        if (c) c->Hold(cmd.a, cmd.b);
        break;
      case Command::Release:
        if (c) c->Release(cmd.a);
        else AppendRecord({kRecRelease, static_cast<double>(cmd.id), 0, -1, -1});
        break;
      case Command::Heartbeats:
        if (c) c->DeliverHeartbeats(cmd.a != 0);
        break;
      case Command::Stop: {
        stopping_ = true;
        std::vector<Conn*> all;
        for (auto& kv : conns_) all.push_back(kv.second);
        for (Conn* x : all) x->Stop();
        uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
        break;
      }
    }
  }
}

void Host::MarkDirty(Conn* c) {
  if (c->dirty) return;
  c->dirty = true;
  dirty_.push_back(c);
}

void Host::Flush() {
  // One write per connection per loop turn: everything queued in this turn goes out in one writev.
  std::vector<Conn*> dirty;
  dirty.swap(dirty_);
  for (Conn* c : dirty) {
    if (c != nullptr) c->Flush();
  }
  Deliver();
}

void Host::Ack() {
  if (!started_ || joined_) return;
  acked_.store(true);
  if (wakeOnAck_.exchange(false)) uv_async_send(&async_);
}

bool Host::TakeAck() {
  if (inflight_ == nullptr) return true;
  if (!acked_.exchange(false)) {
    if (ready_.empty()) return false;
    // A block waits: ask JS to wake us on its ack, then look once more (it may have acked meanwhile).
    wakeOnAck_.store(true);
    if (!acked_.exchange(false)) return false;
    wakeOnAck_.store(false);
  }
  Recycle(inflight_);
  inflight_ = nullptr;
  return true;
}

void Host::Deliver() {
  for (;;) {
    if (stopping_ || deliveryDead_ || ready_.empty() || !TakeAck()) return;
    DeliverFront();
    if (ready_.empty()) return;  // the next data calls Deliver again
    // More is ready: the ack of the block just sent must wake this thread. JS may have acked already
    // (before the flag was set, so without waking us): then go again.
    wakeOnAck_.store(true);
    if (!acked_.load()) return;
    wakeOnAck_.store(false);
  }
}

void Host::DeliverFront() {
  Block* b = ready_.front();
  ready_.pop_front();
  inflight_ = b;
  // The previous block was acknowledged (TakeAck), so JS is not reading the area now. Blocks bigger than
  // the area (a large frame, a pinned release) go out as their own ArrayBuffers.
  if (b->bytes.size() <= kDeliveryBytes && b->index.size() <= kDeliveryDoubles) {
    if (!b->bytes.empty()) std::memcpy(deliveryBytes_.get(), b->bytes.data(), b->bytes.size());
    if (!b->index.empty()) std::memcpy(deliveryIndex_.get(), b->index.data(), b->index.size() * sizeof(double));
    b->shared = true;
  }
  // Charged to the process even if the connection is gone (its frames still reach JS); subtracted first
  // so each connection's resume check below sees the new process total.
  for (auto& ch : b->charged) queuedTotal.fetch_sub(static_cast<int64_t>(ch.second), std::memory_order_relaxed);
  for (auto& ch : b->charged) {
    auto it = conns_.find(ch.first);
    if (it != conns_.end()) it->second->Uncharge(ch.second);
  }
  if (budgetPaused_ && BelowLowWater()) {
    budgetPaused_ = false;
    std::vector<Conn*> all;
    for (auto& kv : conns_) all.push_back(kv.second);
    for (Conn* c : all) c->MaybeResume();  // may pause again (NoteBudgetPause) if still over budget
  }
  // Non-blocking, unbounded queue: at most one block is ever queued, so this never waits.
  if (napi_call_threadsafe_function(tsfn_, b, napi_tsfn_nonblocking) != napi_ok) {
    // The env is shutting down (napi_closing): nothing will be delivered any more.
    deliveryDead_ = true;
  }
}

void Host::Recycle(Block* b) {
  if (free_.size() < 2 && b->bytes.capacity() <= 4 * kBlockBytes) {
    b->Clear();
    free_.push_back(b);
  } else {
    delete b;
    blocksAlive--;
  }
}

Block* Host::NewBlock(size_t bytes) {
  Block* t;
  if (!free_.empty()) {
    t = free_.back();
    free_.pop_back();
  } else {
    t = new Block();
    blocksAlive++;
    t->index.reserve(1024);
  }
  t->bytes.reserve(std::max(bytes, kBlockBytes));
  ready_.push_back(t);
  return t;
}

void Host::StartPinned(size_t bytes) {
  NewBlock(bytes);
  pinned_ = true;
}

Block* Host::TailFor(size_t bytes) {
  Block* t = ready_.empty() ? nullptr : ready_.back();
  if (pinned_ && t != nullptr) return t;
  if (t == nullptr || (!t->bytes.empty() && t->bytes.size() + bytes > kBlockBytes) ||
      t->index.size() >= kBlockRecords * kRecordStride) {
    t = NewBlock(bytes);
  }
  return t;
}

size_t Host::AppendFrame(uint32_t id, const uint8_t* p, size_t len, const FrameInfo& info, double at) {
  Block* b = TailFor(len);
  double off = static_cast<double>(b->bytes.size());
  b->bytes.insert(b->bytes.end(), p, p + len);
  double rec[kRecordStride] = {kRecFrame, static_cast<double>(id), off, static_cast<double>(len),
                               static_cast<double>(info.type), static_cast<double>(info.seq),
                               static_cast<double>(info.ref), at};
  b->index.insert(b->index.end(), rec, rec + kRecordStride);
  size_t charge = len + kRecordStride * sizeof(double);
  if (!b->charged.empty() && b->charged.back().first == id) b->charged.back().second += charge;
  else b->charged.emplace_back(id, charge);
  queuedTotal.fetch_add(static_cast<int64_t>(charge), std::memory_order_relaxed);
  NotePeak();
  return charge;
}

void Host::AppendRecord(std::initializer_list<double> rec) {
  Block* b = TailFor(0);
  size_t n = 0;
  for (double v : rec) {
    if (n == kRecordStride) break;
    b->index.push_back(v);
    n++;
  }
  for (; n < kRecordStride; n++) b->index.push_back(0);
}

void Host::AppendClose(uint32_t id, int reason, double err, const std::string& msg, double lossAt, double closedAt) {
  Block* b = TailFor(msg.size());
  double off = static_cast<double>(b->bytes.size());
  b->bytes.insert(b->bytes.end(), msg.begin(), msg.end());
  double rec[kRecordStride] = {kRecClose, static_cast<double>(id), static_cast<double>(reason), err, off,
                               static_cast<double>(msg.size()), lossAt, closedAt};
  b->index.insert(b->index.end(), rec, rec + kRecordStride);
}

bool Host::ReadHeartbeat(uint32_t id, HeartbeatFacts* out) {
  std::lock_guard<std::mutex> lock(hbMu_);
  auto it = hb_.find(id);
  if (it == hb_.end()) return false;
  *out = it->second;
  return true;
}

void Host::NoteHeartbeat(uint32_t id, double rttMs, double at) {
  std::lock_guard<std::mutex> lock(hbMu_);
  HeartbeatFacts& f = hb_[id];
  f.rttMs = rttMs;
  f.at = at;
  f.answered += 1;
}

void Host::DropHeartbeat(uint32_t id) {
  std::lock_guard<std::mutex> lock(hbMu_);
  hb_.erase(id);
}

void Host::OnConnGone(Conn* c) {
  DropHeartbeat(c->id());
  conns_.erase(c->id());
  connsAlive--;
  if (c->dirty) {
    for (auto& d : dirty_) {
      if (d == c) d = nullptr;
    }
  }
  // Close callbacks run after the loop's check phase: deliver now or the close would wait a whole turn.
  Deliver();
}

}  // namespace io
}  // namespace tsha
