// One connection on the I/O thread: connect with a deadline, TCP options, framing and validation with
// the codec core, ADDP, write batching, the hot-standby window, orderly or abortive close.
// Only long-standing libuv 1.x calls (the symbols come from the node binary, outside Node-API's ABI promise).
#include "io_conn.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tsha {
namespace io {

namespace {

constexpr size_t kReadChunk = 64 * 1024;
/// How long an orderly close waits for queued writes to drain and for the peer's FIN before it resets.
constexpr double kCloseFlushMs = 2000;
/// Index bytes charged per frame on top of its wire bytes (a record is kRecordStride doubles).
constexpr size_t kRecordBytes = kRecordStride * sizeof(double);

/// Message types never held in the hot-standby window even when they carry an EventSequenceNumber and no
/// ReferenceID: their number is a server's *position* (handshake and role reports: EventServerInfo 93,
/// EventPrimaryChanged 133; replies EventRegistered 53, EventUnregistered 54, EventAddressInfo 92; link
/// reports EventLinkDisconnected 94 / EventLinkConnected 95 carry the outage's position), and the pair must
/// see them at once. Only switch events are held. Same list as lib/transport/hold-rule.ts.
constexpr uint32_t kNeverHeld[] = {93, 53, 54, 92, 94, 95, 133};

bool IsHeldEvent(const FrameInfo& info) {
  if (info.seq < 0 || info.ref > 0) return false;  // ReferenceID 0 (or none): unsolicited
  for (uint32_t t : kNeverHeld) {
    if (info.type == t) return false;
  }
  return true;
}

std::string UvMessage(const char* what, int err) {
  return std::string(what) + ": " + uv_err_name(err) + " (" + uv_strerror(err) + ")";
}

}  // namespace

struct Conn::WriteReq {
  uv_write_t req;
  Conn* conn;
  size_t bytes;
  std::vector<std::vector<uint8_t>> chunks;
  std::vector<bool> app;  // chunk i is a frame JS wrote (not an ADDP frame of ours)
  std::vector<uv_buf_t> bufs;
};

Conn::Conn(Host* host, uint32_t id, std::unique_ptr<OpenOptions> opt) : host_(host), id_(id), opt_(std::move(opt)) {}

void Conn::Start() {
  connectStartAt_ = NowMs();
  uv_tcp_init(host_->loop(), &tcp_);
  uv_timer_init(host_->loop(), &timer_);
  tcp_.data = this;
  timer_.data = this;
  if (opt_->holdFrames > 0) Hold(opt_->holdFrames, opt_->holdBytes);
  connectDeadline_ = connectStartAt_ + opt_->connectLeftMs;
  ConnectNext();
}

void Conn::ConnectNext() {
  state_ = State::Connecting;
  const auto* addr = reinterpret_cast<const struct sockaddr*>(&opt_->addrs[nextAddr_++]);
  double left = connectDeadline_ - NowMs();
  attemptTimer_ = nextAddr_ < opt_->addrs.size() && opt_->attemptTimeoutMs < left;
  Arm(attemptTimer_ ? opt_->attemptTimeoutMs : left);
  creq_.data = this;
  int r = uv_tcp_connect(&creq_, &tcp_, addr, OnConnect);
  if (r != 0) AttemptFailed(r);  // e.g. EAFNOSUPPORT, ENETUNREACH: reported at once
}

void Conn::AttemptFailed(int err) {
  if (nextAddr_ >= opt_->addrs.size()) {
    // The last address failed: report its error (as Node does after trying every address).
    return Fail(err == UV_ECONNREFUSED ? kCloseConnectRefused : kCloseError, err, UvMessage("connect", err), false);
  }
  // Closing cancels a pending connect (its callback sees UV_ECANCELED and retrying_); the next attempt
  // starts on a fresh handle once this one is closed. The timer keeps the deadline meanwhile.
  retrying_ = true;
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnRetryClosed);
}

void Conn::OnRetryClosed(uv_handle_t* h) {
  Conn* c = static_cast<Conn*>(h->data);
  c->retrying_ = false;
  if (c->state_ == State::Closed) {
    // Failed or stopped while the old socket closed: CloseHandles counted this close.
    if (--c->pendingCloses_ == 0) c->Finish();
    return;
  }
  uv_tcp_init(c->host_->loop(), &c->tcp_);
  c->tcp_.data = c;
  c->ConnectNext();
}

void Conn::OnConnect(uv_connect_t* req, int status) {
  Conn* c = static_cast<Conn*>(req->data);
  // Timed out, closed, or given up for the next address meanwhile (status UV_ECANCELED).
  if (c->state_ != State::Connecting || c->retrying_ || status == UV_ECANCELED) return;
  if (status != 0) return c->AttemptFailed(status);
  c->OnOpen();
}

void Conn::OnOpen() {
  state_ = State::Open;
  opened_ = true;
  double now = NowMs();
  uv_timer_stop(&timer_);
  ApplySocketOptions();
  lastRx_ = now;
  host_->AppendRecord({kRecConnect, static_cast<double>(id_), now, connectStartAt_});
  int r = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), OnAlloc, OnRead);
  if (r != 0) return Fail(kCloseError, r, UvMessage("read", r), true);
  if (opt_->addpMs > 0) Arm(opt_->addpMs / 2);
}

void Conn::ApplySocketOptions() {
  uv_tcp_nodelay(&tcp_, opt_->noDelay ? 1 : 0);
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) != 0) return;
  if (opt_->keepIdleMs > 0) {
    unsigned idle = static_cast<unsigned>(std::max(1.0, std::ceil(opt_->keepIdleMs / 1000)));
    uv_tcp_keepalive(&tcp_, 1, idle);
#if defined(__linux__)
    // Interval and count are not reachable through libuv (nor Node): set them on the fd.
    int intvl = static_cast<int>(std::max(1.0, std::ceil(opt_->keepIntervalMs / 1000)));
    int cnt = static_cast<int>(std::max(1.0, opt_->keepCount));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
#endif
  }
#if defined(TCP_USER_TIMEOUT)
  if (opt_->userTimeoutMs > 0) {
    unsigned ut = static_cast<unsigned>(opt_->userTimeoutMs);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof ut);
  }
#endif
  // Elsewhere TCP_USER_TIMEOUT does not exist: ADDP and keepalive still detect a dead peer.
}

void Conn::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  Conn* c = static_cast<Conn*>(h->data);
  if (c->rxStart_ == c->rxEnd_) {
    // Nothing pending: read into the thread's shared buffer (reads are sequential on this thread, and
    // every frame is copied out before the next read). An idle connection then holds no read buffer.
    // (A connection's own buffer, once a partial frame made it grow, is kept: freeing it at every read
    // that ends on a frame boundary would churn the allocator under a stream.)
    c->rxStart_ = c->rxEnd_ = 0;
    buf->base = reinterpret_cast<char*>(c->host_->SharedRx(kReadChunk));
    buf->len = kReadChunk;
    return;
  }
  // A partial frame is pending: read into this connection's own buffer, behind it.
  if (c->rx_.size() - c->rxEnd_ < kReadChunk) {
    if (c->rxStart_ > 0) {
      std::memmove(c->rx_.data(), c->rx_.data() + c->rxStart_, c->rxEnd_ - c->rxStart_);
      c->rxEnd_ -= c->rxStart_;
      c->rxStart_ = 0;
    }
    // Grows only to hold one partial frame (its length was checked against maxFrameSize) plus a chunk.
    if (c->rx_.size() - c->rxEnd_ < kReadChunk) c->rx_.resize(c->rxEnd_ + kReadChunk);
  }
  buf->base = reinterpret_cast<char*>(c->rx_.data() + c->rxEnd_);
  buf->len = c->rx_.size() - c->rxEnd_;
}

void Conn::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  Conn* c = static_cast<Conn*>(s->data);
  const bool shared = buf != nullptr && c->host_->IsSharedRx(reinterpret_cast<const uint8_t*>(buf->base));
  if (nread == 0) return;
  if (c->state_ == State::Closing) {
    // Orderly close: our FIN is out; discard what the peer still sends until its FIN, then close. Closing
    // with unread bytes would make the kernel send RST instead.
    c->rxStart_ = c->rxEnd_ = 0;
    if (nread < 0) c->Fail(kCloseLocal, 0, "", nread != UV_EOF);
    return;
  }
  if (c->state_ != State::Open) return;
  if (nread < 0) {
    int e = static_cast<int>(nread);
    if (e == UV_EOF) return c->Fail(kClosePeerClosed, 0, "peer closed the connection", false);
    if (e == UV_ECONNRESET) return c->Fail(kClosePeerReset, e, "connection reset by peer (ECONNRESET)", false);
    return c->Fail(kCloseError, e, UvMessage("socket error", e), false);
  }
  double now = NowMs();
  c->lastRx_ = now;
  if (!c->sawFirstByte_) {
    c->sawFirstByte_ = true;
    c->host_->AppendRecord({kRecFirstByte, static_cast<double>(c->id_), now});
  }
  if (shared) {
    // Whole frames straight from the shared buffer; only a trailing partial frame is kept, in our own.
    const uint8_t* base = reinterpret_cast<const uint8_t*>(buf->base);
    size_t used = c->ConsumeFrom(base, static_cast<size_t>(nread), now);
    if (c->state_ != State::Open || used == static_cast<size_t>(nread)) return;
    c->rx_.assign(base + used, base + nread);
    c->rxStart_ = 0;
    c->rxEnd_ = c->rx_.size();
    return;
  }
  c->rxEnd_ += static_cast<size_t>(nread);
  c->Consume(now);
}

void Conn::Consume(double now) {
  size_t used = ConsumeFrom(rx_.data() + rxStart_, rxEnd_ - rxStart_, now);
  rxStart_ += used;
}

size_t Conn::ConsumeFrom(const uint8_t* base, size_t len, double now) {
  struct Sink : SplitSink {
    Conn* c;
    const uint8_t* base;
    double now;
    bool OnFrame(const FrameRecord& f) override {
      c->OnFrame(base + f.offset, kLengthBytes + f.length, f.info, now);
      return c->state_ == State::Open;
    }
  } sink;
  sink.c = this;
  sink.base = base;
  sink.now = now;
  SplitResult r = SplitFrames(base, len, opt_->limits, &sink);
  if (state_ != State::Open) return r.consumed;
  if (r.error != ErrorCode::Ok) {
    // Frames before the bad one were delivered; the stream can no longer be trusted: reset it.
    std::string msg = std::string(ErrorCodeName(r.error)) + ": invalid frame from the peer";
    Fail(kCloseProtocolError, static_cast<double>(r.error), msg, true);
    return r.consumed;
  }
  MaybePause();
  return r.consumed;
}

void Conn::OnFrame(const uint8_t* p, size_t len, const FrameInfo& info, double now) {
  if (info.kind == kKindAddpPoll) return QueueAddp(kKindAddpReply, info.token);
  if (info.kind == kKindAddpReply) return OnAddpReply(info.token, now);
  if (info.kind != kKindMessage) return;  // an ADDP reply only proves life, which every byte does
  // Only switch events are held; replies and server reports pass even with a seq (kNeverHeld).
  if (holding_ && IsHeldEvent(info)) return HoldFrame(p, len, info, now);
  queued_ += host_->AppendFrame(id_, p, len, info, now);
}

void Conn::MaybePause() {
  if (paused_) return;
  bool overProcess = host_->OverBudget();
  if (!overProcess && static_cast<double>(queued_) <= opt_->maxQueuedBytes) return;
  // JS is not draining: stop reading. Our ADDP polls keep going out and unread kernel bytes count as
  // proof of life (docs/native-transport.md, backpressure), so a stalled consumer does not look like a dead server.
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  paused_ = true;
  if (overProcess) host_->NoteBudgetPause();
  host_->AppendRecord({kRecBackpressure, static_cast<double>(id_), 1, static_cast<double>(queued_)});
}

void Conn::Uncharge(size_t n) {
  queued_ = n > queued_ ? 0 : queued_ - n;
  MaybeResume();
}

void Conn::MaybeResume() {
  if (!paused_ || state_ != State::Open || static_cast<double>(queued_) > opt_->maxQueuedBytes / 2) return;
  // Under its own mark but the process is still over half its budget: the host resumes it later.
  if (!host_->BelowLowWater()) return host_->NoteBudgetPause();
  Resume();
}

void Conn::Resume() {
  paused_ = false;
  int r = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), OnAlloc, OnRead);
  if (r != 0) return Fail(kCloseError, r, UvMessage("read", r), true);
  host_->AppendRecord({kRecBackpressure, static_cast<double>(id_), 0, static_cast<double>(queued_)});
}

// ---- hot-standby window ----

void Conn::Hold(double maxFrames, double maxBytes) {
  holding_ = true;
  holdMaxFrames_ = maxFrames;
  holdMaxBytes_ = maxBytes;
  ClearWindow();
  evictedUpTo_ = -1;
  firstSeenSeq_ = -1;
  lastSeenSeq_ = -1;
  seqDecreased_ = false;
}

void Conn::HoldFrame(const uint8_t* p, size_t len, const FrameInfo& info, double now) {
  double seq = static_cast<double>(info.seq);
  if (firstSeenSeq_ < 0 || seq < firstSeenSeq_) firstSeenSeq_ = seq;
  if (lastSeenSeq_ >= 0 && seq <= lastSeenSeq_) seqDecreased_ = true;
  lastSeenSeq_ = seq;
  window_.push_back(Held{info.seq, info.ref, info.type, now, std::vector<uint8_t>(p, p + len)});
  windowBytes_ += len;
  host_->windowTotal.fetch_add(static_cast<int64_t>(len), std::memory_order_relaxed);
  // The window yields to the process budget too: its oldest frames go first, recorded in evictedUpTo.
  while (!window_.empty() && (static_cast<double>(window_.size()) > holdMaxFrames_ ||
                              static_cast<double>(windowBytes_) > holdMaxBytes_ || host_->OverBudget())) {
    PopHeld();
  }
  host_->NotePeak();
}

void Conn::PopHeld() {
  double s = static_cast<double>(window_.front().seq);
  if (s > evictedUpTo_) evictedUpTo_ = s;
  size_t n = window_.front().bytes.size();
  windowBytes_ -= n;
  host_->windowTotal.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
  window_.pop_front();
}

void Conn::ClearWindow() {
  host_->windowTotal.fetch_sub(static_cast<int64_t>(windowBytes_), std::memory_order_relaxed);
  window_.clear();
  windowBytes_ = 0;
}

void Conn::Release(double afterSeq) {
  size_t count = 0, bytes = 0;
  for (const Held& h : window_) {
    if (seqDecreased_ || static_cast<double>(h.seq) > afterSeq) {
      count++;
      bytes += h.bytes.size();
    }
  }
  // The released bytes move from the window's charge to the queue's (AppendFrame).
  host_->windowTotal.fetch_sub(static_cast<int64_t>(windowBytes_), std::memory_order_relaxed);
  windowBytes_ = 0;
  // One block holds the whole release, ordered before any frame read after this command.
  host_->StartPinned(bytes);
  host_->AppendRecord({kRecRelease, static_cast<double>(id_), static_cast<double>(count), evictedUpTo_, firstSeenSeq_,
                       lastSeenSeq_, seqDecreased_ ? 1.0 : 0.0});
  for (const Held& h : window_) {
    if (!seqDecreased_ && static_cast<double>(h.seq) <= afterSeq) continue;
    FrameInfo fi;
    fi.kind = kKindMessage;
    fi.type = h.type;
    fi.seq = h.seq;
    fi.ref = h.ref;
    // Charged to this connection's queue like any frame read now: the block is uncharged from the
    // connection when it is handed to JS (Host::Deliver), so an uncharged release would later wipe the
    // charge of newer, still undelivered frames, and the connection would read past maxQueuedBytes.
    queued_ += host_->AppendFrame(id_, h.bytes.data(), h.bytes.size(), fi, h.at);
  }
  host_->EndPinned();
  holding_ = false;
  window_.clear();
  // A release larger than maxQueuedBytes pauses reading until JS takes it (as a read past it would).
  // Not while closing: that drain must keep reading until the peer's FIN.
  if (state_ == State::Open) MaybePause();
}

// ---- writes ----

void Conn::Write(std::vector<uint8_t>&& data) { Queue(std::move(data), true); }

void Conn::Queue(std::vector<uint8_t>&& data, bool app) {
  if (state_ != State::Open || data.empty()) return;
  outBytes_ += data.size();
  outq_.push_back(std::move(data));
  outqApp_.push_back(app);
  host_->MarkDirty(this);
  if (static_cast<double>(outBytes_) > opt_->maxQueuedBytes) {
    Fail(kCloseQueueOverflow, 0,
         std::to_string(outBytes_) + " unsent bytes exceed maxQueuedBytes (peer not reading)", true);
  }
}

void Conn::QueueAddp(uint8_t kind, uint32_t token) {
  std::vector<uint8_t> f = {0, 0, 0, 6, kWireVersion, kind, static_cast<uint8_t>(token >> 24),
                            static_cast<uint8_t>(token >> 16), static_cast<uint8_t>(token >> 8),
                            static_cast<uint8_t>(token)};
  Queue(std::move(f), false);
}

void Conn::Flush() {
  dirty = false;
  if (state_ != State::Open || outq_.empty()) return;
  WriteReq* w = new WriteReq();
  w->conn = this;
  w->bytes = 0;
  w->chunks.swap(outq_);
  w->app.swap(outqApp_);
  outqApp_.clear();
  w->bufs.reserve(w->chunks.size());
  for (auto& ch : w->chunks) {
    w->bufs.push_back(uv_buf_init(reinterpret_cast<char*>(ch.data()), static_cast<unsigned>(ch.size())));
    w->bytes += ch.size();
  }
  w->req.data = w;
  int r = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), w->bufs.data(),
                   static_cast<unsigned>(w->bufs.size()), OnWrite);
  if (r != 0) {
    // Refused before anything was written (the stream is not writable): none of it reached the kernel.
    outBytes_ -= w->bytes;
    delete w;
    Fail(r == UV_EPIPE || r == UV_ECONNRESET ? kClosePeerReset : kCloseError, r, UvMessage("write", r), true);
    return;
  }
  inflight_.push_back(w);
}

double Conn::AppBytesFlushed() const {
  // libuv writes its queue in order and only the oldest unfinished write can be partly written, so the
  // bytes of the writes in flight that reached the kernel are a prefix of them: their total minus the
  // unwritten remainder libuv keeps in write_queue_size. A write that failed is no longer in flight here
  // (OnWrite drops it before this is asked), so its partial progress is not counted: understated, safe.
  double inflightBytes = 0;
  for (const WriteReq* w : inflight_) inflightBytes += static_cast<double>(w->bytes);
  double unwritten = static_cast<double>(tcp_.write_queue_size);
  double written = inflightBytes > unwritten ? inflightBytes - unwritten : 0;
  double app = appDone_;
  for (const WriteReq* w : inflight_) {
    if (written <= 0) break;
    for (size_t i = 0; i < w->chunks.size() && written > 0; i++) {
      double n = std::min(written, static_cast<double>(w->chunks[i].size()));
      if (w->app[i]) app += n;
      written -= n;
    }
  }
  return app;
}

void Conn::OnWrite(uv_write_t* req, int status) {
  WriteReq* w = static_cast<WriteReq*>(req->data);
  Conn* c = w->conn;
  c->outBytes_ -= w->bytes;
  for (auto it = c->inflight_.begin(); it != c->inflight_.end(); ++it) {
    if (*it == w) {
      c->inflight_.erase(it);
      break;
    }
  }
  if (status == 0) {
    for (size_t i = 0; i < w->chunks.size(); i++) {
      if (w->app[i]) c->appDone_ += static_cast<double>(w->chunks[i].size());
    }
  }
  delete w;
  if (status == 0 || status == UV_ECANCELED) return;
  bool reset = status == UV_EPIPE || status == UV_ECONNRESET;
  c->Fail(reset ? kClosePeerReset : kCloseError, status,
          reset ? std::string("connection reset by peer (") + uv_err_name(status) + ")" : UvMessage("write", status),
          !reset);
}

// ---- ADDP and deadlines (one timer per connection) ----

void Conn::Arm(double ms) {
  uv_timer_start(&timer_, OnTimer, static_cast<uint64_t>(std::max(1.0, std::ceil(ms))), 0);
}

int Conn::UnreadKernelBytes() {
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) != 0) return 0;
  int n = 0;
  if (ioctl(fd, FIONREAD, &n) != 0) return 0;
  return n;
}

void Conn::OnTimer(uv_timer_t* t) {
  Conn* c = static_cast<Conn*>(t->data);
  switch (c->state_) {
    case State::Connecting:
      if (c->attemptTimer_) return c->AttemptFailed(UV_ETIMEDOUT);  // this address is slow: the next one
      return c->Fail(kCloseConnectTimeout, UV_ETIMEDOUT,
                     "no connection to " + c->opt_->host + ":" + std::to_string(c->opt_->port) + " within " +
                         std::to_string(static_cast<long>(c->opt_->connectTimeoutMs)) + " ms",
                     false);
    case State::Open:
      return c->OnAddpTimer();
    case State::Closing:  // the orderly close did not drain in time
      return c->Fail(kCloseLocal, 0, "", true);
    default:
      return;
  }
}

// ADDP (docs/protocol.md): poll after T/2 of silence, declare the peer lost after T of silence. A live peer
// answers the poll within T/2, so detection comes T after the last byte, not anywhere in T..2T.
void Conn::OnAddpTimer() {
  double now = NowMs();
  double T = opt_->addpMs;
  double P = T / 2;
  // While reading is paused the peer's bytes (and polls) wait in the kernel: their presence is the proof
  // of life we cannot read yet.
  if (paused_ && UnreadKernelBytes() > 0) lastRx_ = now;
  double idle = now - lastRx_;
  if (idle < P) return Arm(P - idle);
  // The peer is lost only if it stayed silent for T/2 after a poll. If this process stalled (SIGSTOP, an
  // overloaded machine) past T/2 before the poll went out, the peer gets its T/2 now.
  if (pollAt_ < lastRx_) {
    pollAt_ = now;
    pollPending_ = true;
    QueueAddp(kKindAddpPoll, ++pollToken_);
    // Timers run before the loop blocks for I/O; the end-of-turn flush would come only after the next
    // wakeup, so the poll goes out now.
    Flush();
    if (state_ != State::Open) return;
    return Arm(T - idle > P ? T - idle : P);
  }
  if (idle < T) return Arm(T - idle);
  if (now - pollAt_ < P) return Arm(P - (now - pollAt_));
  // Bytes that arrived in this very loop turn have not been read yet: they still count.
  if (UnreadKernelBytes() > 0) {
    lastRx_ = now;
    return Arm(P);
  }
  Fail(kCloseAddpTimeout, 0,
       "no byte from the peer for " + std::to_string(static_cast<long>(T)) + " ms (ADDP poll sent after " +
           std::to_string(static_cast<long>(P)) + " ms)",
       true);
}

// An answer to our last poll: its round trip goes to JS (HeartbeatEvent), at most once a second per
// connection so an idle hot pair does not wake the event loop per poll.
// The facts (round trip, when, how many) are kept here and in the Host's map for io.heartbeat(); a record
// crosses to JS only while JS listens (DeliverHeartbeats), so idle connections do not wake the main thread.
void Conn::OnAddpReply(uint32_t token, double now) {
  if (!pollPending_ || token != pollToken_) return;
  pollPending_ = false;
  hb_.rttMs = now - pollAt_;
  hb_.at = now;
  hb_.answered += 1;
  host_->NoteHeartbeat(id_, hb_.rttMs, now);
  if (!deliverHeartbeats_ || now - heartbeatAt_ < 1000) return;
  heartbeatAt_ = now;
  host_->AppendRecord({kRecHeartbeat, static_cast<double>(id_), hb_.rttMs, now});
}

// ---- close ----

void Conn::Close(bool abort) {
  if (state_ == State::Closed || (state_ == State::Closing && !abort)) return;
  if (abort || state_ != State::Open) return Fail(kCloseLocal, 0, "", abort);
  Flush();
  if (state_ != State::Open) return;
  state_ = State::Closing;
  if (paused_) {
    paused_ = false;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), OnAlloc, OnRead);
  }
  sreq_.data = this;
  int r = uv_shutdown(&sreq_, reinterpret_cast<uv_stream_t*>(&tcp_), OnShutdown);
  if (r != 0) return Fail(kCloseLocal, 0, "", true);
  Arm(kCloseFlushMs);
}

void Conn::OnShutdown(uv_shutdown_t* req, int status) {
  Conn* c = static_cast<Conn*>(req->data);
  // Success: wait for the peer's FIN in OnRead (bounded by the close timer).
  if (c->state_ == State::Closing && status != 0) c->Fail(kCloseLocal, 0, "", true);
}

void Conn::Stop() {
  if (state_ == State::Closed) return;
  Fail(kCloseLocal, 0, "", false);
}

void Conn::Fail(int reason, double err, const std::string& msg, bool abortive) {
  if (state_ == State::Closed) return;
  if (state_ == State::Closing) {
    // Whatever happens while our own orderly close runs, the close is ours (as the node transport).
    reason = kCloseLocal;
  }
  // How far our outbound stream got, before the handles close (closing cancels the writes in flight).
  if (opened_ && flushedAtLoss_ < 0) flushedAtLoss_ = AppBytesFlushed();
  closeReason_ = reason;
  closeErr_ = reason == kCloseLocal ? 0 : err;
  closeMsg_ = reason == kCloseLocal ? std::string() : msg;
  if (reason != kCloseLocal) lossAt_ = NowMs();
  if (abortive && (state_ == State::Open || state_ == State::Closing)) {
    // RST instead of FIN: used when failing away from a server (SO_LINGER 0).
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0) {
      struct linger l = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
  }
  CloseHandles();
}

void Conn::CloseHandles() {
  state_ = State::Closed;
  outq_.clear();
  outqApp_.clear();
  pendingCloses_ = 2;
  // Between two connect attempts tcp_ is already closing; OnRetryClosed counts it then.
  if (!retrying_) uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClosed);
}

void Conn::OnClosed(uv_handle_t* h) {
  Conn* c = static_cast<Conn*>(h->data);
  if (--c->pendingCloses_ == 0) c->Finish();
}

void Conn::Finish() {
  // The fd is closed before JS hears of the close (so fd counts in tests are exact).
  ClearWindow();
  if (opened_) {
    host_->AppendRecord({kRecOutbound, static_cast<double>(id_), flushedAtLoss_ < 0 ? 0 : flushedAtLoss_, hb_.rttMs, hb_.at,
                         hb_.answered});
  }
  host_->AppendClose(id_, closeReason_, closeErr_, closeMsg_, lossAt_, NowMs());
  host_->OnConnGone(this);
  delete this;
}

}  // namespace io
}  // namespace tsha
