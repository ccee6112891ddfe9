// The addon's I/O thread: one private libuv loop per addon instance (per Node env) that owns every socket
// of the native transports of that env. JS talks to it with one queued command per call (open, write,
// close, hold, release, ack); it talks to JS with one thread-safe-function call per delivered block.
//
// Why a thread (docs/architecture.md, "Threads and the native/JS boundary"): ADDP polls are answered and timed here, so
// a blocked JS thread causes no false disconnect on either side; framing, validation and the hot-standby
// window never touch the main thread; timestamps of connect / first byte / loss / close are exact.
//
// Delivery protocol (docs/native-transport.md; a thread-safe function left to queue freely starves timers): events and frames are appended to bounded blocks; at most
// one block is in flight to JS; JS acknowledges it (small blocks at once, others from setImmediate) and only
// then is the next block sent. A block that fits is copied into one delivery area JS keeps views of.
//
// Block layout: `bytes` holds raw frames (length prefix included) and close messages; `index` is a
// Float64Array of records of kRecordStride doubles: [kind, connId, a, b, c, d, e, f] (see RecordKind).
#ifndef TSHA_ADDON_IO_HOST_H_
#define TSHA_ADDON_IO_HOST_H_

#include <node_api.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../codec/codec.h"

namespace tsha {
namespace io {

/// Monotonic ms on the uv_hrtime clock (same clock as lib/clock.ts monotonicMs()).
double NowMs();

constexpr int kRecordStride = 8;
/// Record kinds of the block index (mirrored in lib/native/io-records.ts).
enum RecordKind : int {
  kRecFrame = 1,        // [1, id, offset, length, type, seq, ref, receivedAt]  offset/length: whole frame
  kRecConnect = 2,      // [2, id, connectedAt, connectStartAt]
  kRecFirstByte = 3,    // [3, id, at]
  kRecBackpressure = 4, // [4, id, paused (0/1), queuedBytes]
  kRecClose = 5,        // [5, id, reason, err, msgOffset, msgLength, lossDetectedAt, closedAt]
  kRecRelease = 6,      // [6, id, count, evictedUpTo, firstSeenSeq, lastSeenSeq, seqDecreased]; then `count` kRecFrame records
  kRecHeartbeat = 7,    // [7, id, rttMs, at]  our ADDP poll answered (at most one a second per connection), sent
                        // only while JS asked for them (Command::Heartbeats); the facts are kept for io.heartbeat()
  kRecOutbound = 8,     // [8, id, flushed, rttMs, at, answered]  just before the Close record of a connection that
                        // opened: bytes of the frames JS wrote (ADDP excluded) that the kernel had taken when the
                        // loss was detected, and the last heartbeat facts (rttMs/at -1: no poll answered)
};

/// Close reasons (mirrored in lib/native/io-records.ts; names are types.ts CloseReason).
enum CloseCode : int {
  kCloseLocal = 0,
  kClosePeerClosed = 1,
  kClosePeerReset = 2,
  kCloseAddpTimeout = 3,
  kCloseConnectTimeout = 4,
  kCloseConnectRefused = 5,
  kCloseProtocolError = 6,  // err = protocol errno
  kCloseQueueOverflow = 7,
  kCloseError = 8,          // err = libuv error (negative errno)
};

/// Options of one connection, as passed by JS (a Float64Array in this order; see kOpt*).
struct OpenOptions {
  /// As configured (a name or an IP literal): for messages only.
  std::string host;
  int port = 0;
  /// What to connect to, tried in this order (port included). JS resolves the name (dns.lookup, as the
  /// node transport does), so the I/O thread never waits for a resolver (docs/native-transport.md).
  std::vector<struct sockaddr_storage> addrs;
  /// As configured (for messages); the timer runs for connectLeftMs, what the lookup left of it.
  double connectTimeoutMs = 2000;
  double connectLeftMs = 2000;
  /// With more addresses to try, an attempt that has not completed by then gives way to the next one
  /// (Node's autoSelectFamilyAttemptTimeout); the last one gets whatever is left of the deadline.
  double attemptTimeoutMs = 250;
  double addpMs = 1000;       // 0 = off
  double keepIdleMs = 1000;   // 0 = keepalive off
  double keepIntervalMs = 1000;
  double keepCount = 3;
  double userTimeoutMs = 3000;  // 0 = off
  bool noDelay = true;
  Limits limits;
  double maxQueuedBytes = 32.0 * 1024 * 1024;
  double holdFrames = 0;  // > 0: start in hold mode
  double holdBytes = 0;
};
enum OptIndex : int {
  kOptConnectTimeout, kOptAddp, kOptKeepIdle, kOptKeepInterval, kOptKeepCount, kOptUserTimeout, kOptNoDelay,
  kOptMaxFrameSize, kOptMaxDepth, kOptMaxAttributes, kOptMaxQueued, kOptHoldFrames, kOptHoldBytes,
  kOptConnectLeft, kOptAttemptTimeout, kOptCount
};
/// Most addresses one connect tries (more would not fit a connect deadline anyway).
constexpr uint32_t kMaxAddresses = 64;

struct Command {
  enum Type { Open, Write, Close, Abort, Hold, Release, Heartbeats, Stop } type;
  explicit Command(Type t) : type(t) {}
  uint32_t id = 0;
  std::unique_ptr<OpenOptions> open;
  std::vector<uint8_t> data;
  double a = 0, b = 0;
};

/// The heartbeat facts of one connection (our ADDP polls answered), kept on the I/O thread and read by JS on
/// demand (io.heartbeat) so that an answered poll costs the main thread nothing unless someone listens.
struct HeartbeatFacts {
  double rttMs = -1;     // round trip of the last answered poll (-1: none yet)
  double at = -1;        // when it was answered (NowMs clock)
  double answered = 0;   // polls answered on this connection
};

/// One delivery to JS. Owned by the Host; lent to JS during one TSFN callback.
struct Block {
  std::vector<uint8_t> bytes;
  std::vector<double> index;
  /// Bytes of each connection's frames in this block (charged to its queue until handed to JS).
  std::vector<std::pair<uint32_t, size_t>> charged;
  /// Copied into the Host's delivery area when sent (JS then reads that area, not this block).
  bool shared = false;
  void Clear() {
    bytes.clear();
    index.clear();
    charged.clear();
    shared = false;
  }
};

class Conn;

class Host {
 public:
  Host() = default;
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // ---- JS thread ----
  /// Start the thread (once). `tsfn` is owned by the caller (io_napi.cc) and released after Shutdown.
  bool Start(napi_threadsafe_function tsfn);
  bool started() const { return started_; }
  void Post(Command&& cmd);
  /// Stop the loop (closing every socket), join the thread. Idempotent.
  void Shutdown();
  // ---- I/O thread ----
  uv_loop_t* loop() { return &loop_; }
  /// Append a frame record (copying `len` bytes) for connection `id`; returns the bytes charged to its queue.
  size_t AppendFrame(uint32_t id, const uint8_t* p, size_t len, const FrameInfo& info, double at);
  /// Append a record with no bytes (up to kRecordStride values; the rest are 0).
  void AppendRecord(std::initializer_list<double> rec);
  /// Append the close record (and its message text) for `id`.
  void AppendClose(uint32_t id, int reason, double err, const std::string& msg, double lossAt, double closedAt);
  /// The block new records go to, with room for `bytes` more bytes (a release may need a big one).
  Block* TailFor(size_t bytes);
  // A fresh (or recycled) block with room for `bytes`, appended to the ready queue.
  Block* NewBlock(size_t bytes);
  // A release must arrive as one block (its Release record counts the frame records that follow it):
  // StartPinned opens a fresh block sized for `bytes`, and until EndPinned every append goes into it,
  // whatever the usual block limits say.
  void StartPinned(size_t bytes);
  void EndPinned() { pinned_ = false; }
  /// `c` has writes queued: flush them at the end of this loop turn (one write per turn).
  void MarkDirty(Conn* c);
  /// `c` closed all its handles and is about to be deleted.
  void OnConnGone(Conn* c);
  /// JS is done with the block in flight (called on the JS thread).
  void Ack();
  /// The heartbeat facts of connection `id` (any thread); false when it is not (or no longer) open.
  bool ReadHeartbeat(uint32_t id, HeartbeatFacts* out);
  /// I/O thread: record an answered poll of `id` (NoteHeartbeat) or forget the connection (DropHeartbeat).
  void NoteHeartbeat(uint32_t id, double rttMs, double at);
  void DropHeartbeat(uint32_t id);
  /// The read buffer every connection of this thread reads into when it has no partial frame pending.
  uint8_t* SharedRx(size_t bytes) {
    if (sharedRx_.size() < bytes) sharedRx_.resize(bytes);
    return sharedRx_.data();
  }
  bool IsSharedRx(const uint8_t* p) const { return !sharedRx_.empty() && p == sharedRx_.data(); }
  /// The delivery area JS sees through two ArrayBuffers made once (io_napi.cc): a block that fits is
  /// copied here on the I/O thread when sent, so the main thread creates no ArrayBuffer per block — at a
  /// few events per block that creation (and the detach after it) was a large part of its cost. Allocated
  /// by Start and never moved or freed before the Host: JS only reads it between a delivery and its ack.
  uint8_t* DeliveryBytes() { return deliveryBytes_.get(); }
  double* DeliveryIndex() { return deliveryIndex_.get(); }
  static constexpr size_t kDeliveryBytes = 256 * 1024;        // = kBlockBytes
  static constexpr size_t kDeliveryDoubles = 8192 * 8;         // = kBlockRecords * kRecordStride
  bool stopping() const { return stopping_; }

  // ---- process budget (I/O thread; the atomics are read by stats() on the JS thread) ----
  /// Bytes held for JS by every connection of this env: framed-not-delivered plus hold windows.
  int64_t heldTotal() const { return queuedTotal.load(std::memory_order_relaxed) + windowTotal.load(std::memory_order_relaxed); }
  bool OverBudget() const { return static_cast<double>(heldTotal()) > maxTotalBytes.load(std::memory_order_relaxed); }
  /// A connection paused on the process budget: resume it (and any other) once below the low-water mark.
  void NoteBudgetPause() { budgetPaused_ = true; }
  /// Low-water mark: framed-not-delivered bytes at or below half the budget. Hold windows are left out
  /// so a full standby window can never keep the other connections paused (it yields on its own).
  bool BelowLowWater() const {
    return static_cast<double>(queuedTotal.load(std::memory_order_relaxed)) <= maxTotalBytes.load(std::memory_order_relaxed) / 2;
  }

  /// Live native objects, readable from any thread (leak checks in tests).
  std::atomic<int> connsAlive{0};
  std::atomic<int> blocksAlive{0};
  /// Per-process budget (io.setMemoryLimit); bytes charged to it (written on the I/O thread only).
  std::atomic<double> maxTotalBytes{256.0 * 1024 * 1024};
  std::atomic<int64_t> queuedTotal{0};
  std::atomic<int64_t> windowTotal{0};
  /// High-water mark of heldTotal() (tests check the bound held).
  std::atomic<int64_t> peakTotal{0};
  void NotePeak() {
    int64_t t = heldTotal();
    if (t > peakTotal.load(std::memory_order_relaxed)) peakTotal.store(t, std::memory_order_relaxed);
  }

 private:
  static void ThreadMain(Host* self);
  static void OnAsync(uv_async_t* h);
  static void OnCheck(uv_check_t* h);
  void Drain();
  void Flush();
  void Deliver();
  /// Hand the oldest ready block to JS (one in flight).
  void DeliverFront();
  /// Take the ack of the block in flight if JS gave it; true when no block is in flight any more.
  bool TakeAck();
  void Recycle(Block* b);

  std::mutex mu_;
  std::vector<Command> cmds_;  // guarded by mu_
  // Heartbeat facts per open connection: written by the I/O thread at each answered poll (a few a second
  // per connection), read by JS on demand. A plain mutex: neither side holds it for more than a map lookup.
  std::mutex hbMu_;
  std::unordered_map<uint32_t, HeartbeatFacts> hb_;  // guarded by hbMu_
  // The ack of the block in flight, without a command or a wakeup per block: JS sets `acked_`; the I/O
  // thread takes it when it next wants to deliver, and asks to be woken (`wakeOnAck_`) only if it has a
  // block ready meanwhile. Both sides write their flag, then read the other's (sequentially consistent):
  // at least one of them sees the other, so an ack is never missed and a wakeup costs only when needed.
  std::atomic<bool> acked_{false};
  std::atomic<bool> wakeOnAck_{false};
  bool started_ = false;
  bool joined_ = false;
  std::thread thread_;
  napi_threadsafe_function tsfn_ = nullptr;

  // Owned by the I/O thread once started.
  uv_loop_t loop_{};
  uv_async_t async_{};
  uv_check_t check_{};
  bool stopping_ = false;
  std::unordered_map<uint32_t, Conn*> conns_;
  std::vector<Conn*> dirty_;
  std::deque<Block*> ready_;
  bool pinned_ = false;
  Block* inflight_ = nullptr;
  bool deliveryDead_ = false;
  std::vector<Block*> free_;
  std::vector<uint8_t> sharedRx_;
  std::unique_ptr<uint8_t[]> deliveryBytes_;  // uninitialized: pages become resident only when written
  std::unique_ptr<double[]> deliveryIndex_;
  bool budgetPaused_ = false;
};

/// Block size above which a new block is started (a few hundred KiB: bigger blocks made timers lag).
constexpr size_t kBlockBytes = 256 * 1024;
/// Records above which a new block is started.
constexpr size_t kBlockRecords = 8192;
static_assert(Host::kDeliveryBytes == kBlockBytes && Host::kDeliveryDoubles == kBlockRecords * kRecordStride,
              "an ordinary block must fit the delivery area");

}  // namespace io
}  // namespace tsha

#endif  // TSHA_ADDON_IO_HOST_H_
