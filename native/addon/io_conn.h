// One native transport connection, living entirely on the I/O thread (io_host.h).
#ifndef TSHA_ADDON_IO_CONN_H_
#define TSHA_ADDON_IO_CONN_H_

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "io_host.h"

namespace tsha {
namespace io {

class Conn {
 public:
  Conn(Host* host, uint32_t id, std::unique_ptr<OpenOptions> opt);
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  uint32_t id() const { return id_; }
  /// Connect to the first address under the deadline (the next ones if it fails).
  void Start();
  /// Queue bytes; they go out with everything else queued this loop turn.
  void Write(std::vector<uint8_t>&& data);
  /// Local close: orderly (flush, FIN) or abortive (RST).
  void Close(bool abort);
  /// Host is stopping (env teardown): drop the connection now.
  void Stop();
  void Hold(double maxFrames, double maxBytes);
  void Release(double afterSeq);
  /// One uv_write of everything queued since the last flush.
  void Flush();
  /// `n` bytes of this connection's frames were handed to JS.
  void Uncharge(size_t n);
  /// Resume reading if paused and under both the connection's and the process's low-water marks.
  void MaybeResume();
  /// Send a Heartbeat record per answered poll (sampled) to JS, or not: the facts are kept either way.
  void DeliverHeartbeats(bool on) { deliverHeartbeats_ = on; }
  bool dirty = false;

 private:
  enum class State { Idle, Connecting, Open, Closing, Closed };
  struct Held {
    int64_t seq;
    int64_t ref;
    uint32_t type;
    double at;
    std::vector<uint8_t> bytes;
  };
  struct WriteReq;

  static void OnConnect(uv_connect_t* req, int status);
  static void OnRetryClosed(uv_handle_t* h);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnShutdown(uv_shutdown_t* req, int status);
  static void OnTimer(uv_timer_t* t);
  static void OnClosed(uv_handle_t* h);

  /// Connect to opt_->addrs[nextAddr_++], under the attempt timeout if more addresses remain.
  void ConnectNext();
  /// The current attempt failed with `err`: try the next address on a fresh socket, or fail with `err`.
  void AttemptFailed(int err);
  void OnOpen();
  void ApplySocketOptions();
  void Consume(double now);
  /// Split and hand over every whole frame of [base, base + len); returns the bytes used.
  size_t ConsumeFrom(const uint8_t* base, size_t len, double now);
  void OnFrame(const uint8_t* p, size_t len, const FrameInfo& info, double now);
  void HoldFrame(const uint8_t* p, size_t len, const FrameInfo& info, double now);
  void OnAddpTimer();
  void OnAddpReply(uint32_t token, double now);
  void Arm(double ms);
  void QueueAddp(uint8_t kind, uint32_t token);
  /// Queue one chunk for the next flush; `app`: a frame JS wrote (counted in the outbound stream).
  void Queue(std::vector<uint8_t>&& data, bool app);
  int UnreadKernelBytes();
  /// Bytes of JS's frames (ADDP excluded) the kernel has taken so far: completed writes plus libuv's exact
  /// progress in the writes in flight (tcp_.write_queue_size is their unwritten remainder).
  double AppBytesFlushed() const;
  void MaybePause();
  void Resume();
  /// End the connection: record why, close the handles; the close record goes up when they are closed.
  void Fail(int reason, double err, const std::string& msg, bool abortive);
  void CloseHandles();
  void Finish();
  /// Drop the whole hold window (and its charge to the process budget).
  void ClearWindow();
  void PopHeld();

  Host* host_;
  uint32_t id_;
  std::unique_ptr<OpenOptions> opt_;
  State state_ = State::Idle;

  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_connect_t creq_{};
  uv_shutdown_t sreq_{};
  int pendingCloses_ = 0;
  // Connect attempts: the next address to try; the deadline (NowMs clock); whether the timer is armed for
  // the attempt timeout rather than the deadline; whether tcp_ is being closed to be re-initialized for
  // the next attempt (a socket of one family cannot connect to the other, nor retry after a failure).
  size_t nextAddr_ = 0;
  double connectDeadline_ = 0;
  bool attemptTimer_ = false;
  bool retrying_ = false;

  // Read side: reads land in the thread's shared buffer; only a partial frame is kept here, in
  // [rxStart_, rxEnd_), and further reads go behind it until it is whole.
  std::vector<uint8_t> rx_;
  size_t rxStart_ = 0, rxEnd_ = 0;
  bool paused_ = false;
  size_t queued_ = 0;  // bytes read and framed, not yet handed to JS

  // Write side. Each queued chunk is either one frame JS wrote or one ADDP frame of ours (outqApp_).
  std::vector<std::vector<uint8_t>> outq_;
  std::vector<bool> outqApp_;
  size_t outBytes_ = 0;  // queued + in flight
  // Writes handed to uv_write whose callback has not run, oldest first (libuv completes them in order).
  std::deque<WriteReq*> inflight_;
  // Bytes of JS's frames in writes that completed successfully (the kernel took all of them).
  double appDone_ = 0;
  // AppBytesFlushed() when the connection ended (-1 while open): reported in the Outbound record.
  double flushedAtLoss_ = -1;
  bool opened_ = false;

  // ADDP (ms on the uv_hrtime clock).
  double lastRx_ = 0;
  double pollAt_ = -1;
  uint32_t pollToken_ = 0;
  bool pollPending_ = false;      // our last poll is not answered yet
  double heartbeatAt_ = -1e300;   // when the last round trip was reported to JS
  bool deliverHeartbeats_ = false;  // JS listens: send Heartbeat records (else only the facts are kept)
  HeartbeatFacts hb_;             // this thread's copy (the Host's map is what JS reads)

  // Hot-standby window.
  bool holding_ = false;
  double holdMaxFrames_ = 0, holdMaxBytes_ = 0;
  std::deque<Held> window_;
  size_t windowBytes_ = 0;
  double evictedUpTo_ = -1, firstSeenSeq_ = -1, lastSeenSeq_ = -1;
  // A frame entered the window with a seq not above the previous one: the numbering restarted, and
  // Release returns every held frame ("above afterSeq" means nothing across two numberings).
  bool seqDecreased_ = false;

  // Timestamps and the close record.
  double connectStartAt_ = 0;
  bool sawFirstByte_ = false;
  double lossAt_ = -1;
  int closeReason_ = kCloseLocal;
  double closeErr_ = 0;
  std::string closeMsg_;
};

}  // namespace io
}  // namespace tsha

#endif  // TSHA_ADDON_IO_CONN_H_
