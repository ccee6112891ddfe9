// Node-API face of the I/O thread: `exports.io = { start, open, write, close, hold, release, heartbeats,
// heartbeat, ack, ref, stats, setMemoryLimit }`.
//
// Written with the plain C Node-API on purpose: at process or worker shutdown Node
// runs a queued thread-safe-function callback once more, before the cleanup hooks, when every call fails;
// node-addon-api's wrappers would abort there. Every status in the delivery callback is ignored.
//
// Lifetime: the Binding (thread, loop, sockets, thread-safe function) is owned by an env cleanup hook —
// no static JS references, nothing shared between envs (workers each get their own thread). The hook is
// re-registered after the thread-safe function is created so it runs BEFORE the function's own teardown:
// the thread is joined while the function is still valid.
#include "io_napi.h"

#include <cstring>
#include <string>
#include <utility>

#include "io_host.h"

namespace tsha {
namespace io {

namespace {

struct Binding {
  Host host;
  napi_threadsafe_function tsfn = nullptr;
  bool refed = false;
  // [bytes: ArrayBuffer, index: Float64Array] over the Host's delivery area, made once by start().
  napi_ref area = nullptr;
};

void Cleanup(void* arg) {
  Binding* b = static_cast<Binding*>(arg);
  b->host.Shutdown();  // stops the loop, closes every socket and handle, joins the thread
  if (b->tsfn != nullptr) napi_release_threadsafe_function(b->tsfn, napi_tsfn_abort);
  delete b;
}

// Runs on the JS thread, once per block. `env` is null when the function is being torn down with the
// block still queued: the Binding may be gone then, so touch nothing. A block copied into the delivery
// area is announced by its record count alone; any other is lent as two ArrayBuffers, detached afterwards.
void CallJs(napi_env env, napi_value fn, void* /*context*/, void* data) {
  if (env == nullptr || fn == nullptr || data == nullptr) return;
  Block* block = static_cast<Block*>(data);
  napi_value argv[3] = {nullptr, nullptr, nullptr};
  napi_value undef = nullptr;
  if (napi_get_undefined(env, &undef) != napi_ok ||
      napi_create_uint32(env, static_cast<uint32_t>(block->index.size() / kRecordStride), &argv[0]) != napi_ok) {
    return;
  }
  if (block->shared) {
    napi_call_function(env, undef, fn, 1, argv, nullptr);
    return;
  }
  static uint8_t empty = 0;  // a C byte, not a JS reference: the target of zero-length buffers
  napi_value indexAb = nullptr;
  size_t nbytes = block->bytes.size();
  size_t nindex = block->index.size() * sizeof(double);
  if (napi_create_external_arraybuffer(env, nbytes ? block->bytes.data() : &empty, nbytes, nullptr, nullptr,
                                       &argv[1]) != napi_ok ||
      napi_create_external_arraybuffer(env, nindex ? static_cast<void*>(block->index.data()) : &empty, nindex,
                                       nullptr, nullptr, &indexAb) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, block->index.size(), indexAb, 0, &argv[2]) != napi_ok) {
    return;
  }
  napi_call_function(env, undef, fn, 3, argv, nullptr);
  // The memory goes back to the I/O thread on ack: detach now so no JS view can see it reused.
  napi_detach_arraybuffer(env, argv[1]);
  napi_detach_arraybuffer(env, indexAb);
}

Binding* GetBinding(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  void* data = nullptr;
  if (napi_get_cb_info(env, info, argc, argv, nullptr, &data) != napi_ok) return nullptr;
  return static_cast<Binding*>(data);
}

bool GetU32(napi_env env, napi_value v, uint32_t* out) { return napi_get_value_uint32(env, v, out) == napi_ok; }
bool GetDouble(napi_env env, napi_value v, double* out) { return napi_get_value_double(env, v, out) == napi_ok; }

napi_value Undefined(napi_env env) {
  napi_value u = nullptr;
  napi_get_undefined(env, &u);
  return u;
}

napi_value Throw(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return nullptr;
}

bool NeedStarted(napi_env env, Binding* b) {
  if (b != nullptr && b->host.started()) return true;
  napi_throw_error(env, "ERR_TRANSPORT_CLOSED", "io.start() was not called");
  return false;
}

// start(dispatch: (records, bytes?, index?) => void) → [bytes: ArrayBuffer, index: Float64Array]: creates the
// thread-safe function (unreferenced: an idle manager never keeps the process alive) and the thread, and
// returns views of the delivery area (a dispatch without `bytes` means: the block is in the area).
// The area is memory of the Host (freed only after the thread is joined), so nothing JS does to these
// ArrayBuffers (detach, transfer, GC) can make the thread write into freed memory. No public API exposes
// them; JS that digs them out of private fields and moves them to another thread with
// ArrayBuffer.prototype.transfer() could still read them after this env is gone (as it could any external
// ArrayBuffer).
napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Binding* b = GetBinding(env, info, &argc, argv);
  if (b == nullptr) return nullptr;
  if (b->tsfn != nullptr) {
    napi_value area = nullptr;
    if (b->area == nullptr || napi_get_reference_value(env, b->area, &area) != napi_ok) return Undefined(env);
    return area;
  }
  napi_valuetype t;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function) {
    return Throw(env, "io.start(dispatch) needs a function");
  }
  napi_value name;
  napi_create_string_utf8(env, "tserver-ha:io", NAPI_AUTO_LENGTH, &name);
  napi_threadsafe_function tsfn;
  if (napi_create_threadsafe_function(env, argv[0], nullptr, name, 0, 1, nullptr, nullptr, b, CallJs, &tsfn) !=
      napi_ok) {
    napi_throw_error(env, nullptr, "cannot create the thread-safe function");
    return nullptr;
  }
  napi_unref_threadsafe_function(env, tsfn);
  b->tsfn = tsfn;
  napi_remove_env_cleanup_hook(env, Cleanup, b);
  napi_add_env_cleanup_hook(env, Cleanup, b);
  if (!b->host.Start(tsfn)) {
    napi_throw_error(env, nullptr, "cannot start the I/O loop");
    return nullptr;
  }
  napi_value area, bytes, indexAb, index;
  if (napi_create_array_with_length(env, 2, &area) != napi_ok ||
      napi_create_external_arraybuffer(env, b->host.DeliveryBytes(), Host::kDeliveryBytes, nullptr, nullptr,
                                       &bytes) != napi_ok ||
      napi_create_external_arraybuffer(env, b->host.DeliveryIndex(), Host::kDeliveryDoubles * sizeof(double),
                                       nullptr, nullptr, &indexAb) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, Host::kDeliveryDoubles, indexAb, 0, &index) != napi_ok ||
      napi_set_element(env, area, 0, bytes) != napi_ok || napi_set_element(env, area, 1, index) != napi_ok ||
      napi_create_reference(env, area, 1, &b->area) != napi_ok) {
    napi_throw_error(env, nullptr, "cannot create the delivery area");
    return nullptr;
  }
  return area;
}

// A typed array of element type `want` with at least `minLength` elements: its data and length. The one
// check every entry point that takes a typed array makes (open's options, write's frame, heartbeat's out).
bool GetTypedArray(napi_env env, napi_value v, napi_typedarray_type want, size_t minLength, void** data, size_t* length) {
  bool isTa = false;
  napi_typedarray_type tt;
  *data = nullptr;
  *length = 0;
  if (napi_is_typedarray(env, v, &isTa) != napi_ok || !isTa ||
      napi_get_typedarray_info(env, v, &tt, length, data, nullptr, nullptr) != napi_ok || tt != want ||
      *length < minLength) {
    return false;
  }
  // A zero-length array may have no backing store; only then is data allowed to be null.
  return *data != nullptr || *length == 0;
}

// (id: uint32, flag: boolean): close's and heartbeats' arguments.
bool GetIdAndFlag(napi_env env, size_t argc, napi_value* argv, uint32_t* id, bool* flag) {
  return argc >= 2 && GetU32(env, argv[0], id) && napi_get_value_bool(env, argv[1], flag) == napi_ok;
}

// Parse `addresses` (an array of 1..kMaxAddresses IP literal strings) into opt->addrs.
bool GetAddresses(napi_env env, napi_value v, OpenOptions* opt) {
  bool isArray = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &isArray) != napi_ok || !isArray || napi_get_array_length(env, v, &n) != napi_ok ||
      n < 1 || n > kMaxAddresses) {
    return false;
  }
  opt->addrs.resize(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    // An IPv6 literal with a zone (fe80::1%eth0) fits in 64 bytes; anything longer is not an address.
    char ip[64];
    size_t len = 0;
    if (napi_get_element(env, v, i, &e) != napi_ok ||
        napi_get_value_string_utf8(env, e, ip, sizeof ip, &len) != napi_ok || len + 1 >= sizeof ip) {
      return false;
    }
    auto* ss = &opt->addrs[i];
    std::memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(ip, opt->port, reinterpret_cast<sockaddr_in*>(ss)) != 0 &&
        uv_ip6_addr(ip, opt->port, reinterpret_cast<sockaddr_in6*>(ss)) != 0) {
      return false;
    }
  }
  return true;
}

// open(id, host, port, options: Float64Array(kOptCount), addresses: string[]): `host` names the server in
// messages; `addresses` (IP literals, resolved by JS) are what is connected to, in order.
napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  Binding* b = GetBinding(env, info, &argc, argv);
  if (!NeedStarted(env, b)) return nullptr;
  auto opt = std::make_unique<OpenOptions>();
  uint32_t id, port;
  if (argc < 5 || !GetU32(env, argv[0], &id) || !GetU32(env, argv[2], &port) || port > 65535) {
    return Throw(env, "io.open(id, host, port, options, addresses)");
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[1], nullptr, 0, &len) != napi_ok) return Throw(env, "host must be a string");
  opt->host.resize(len);
  napi_get_value_string_utf8(env, argv[1], &opt->host[0], len + 1, &len);
  opt->port = static_cast<int>(port);
  size_t n = 0;
  void* data = nullptr;
  if (!GetTypedArray(env, argv[3], napi_float64_array, kOptCount, &data, &n)) {
    return Throw(env, "options must be a Float64Array");
  }
  const double* o = static_cast<const double*>(data);
  opt->connectTimeoutMs = o[kOptConnectTimeout];
  opt->connectLeftMs = o[kOptConnectLeft];
  opt->attemptTimeoutMs = o[kOptAttemptTimeout];
  opt->addpMs = o[kOptAddp];
  opt->keepIdleMs = o[kOptKeepIdle];
  opt->keepIntervalMs = o[kOptKeepInterval];
  opt->keepCount = o[kOptKeepCount];
  opt->userTimeoutMs = o[kOptUserTimeout];
  opt->noDelay = o[kOptNoDelay] != 0;
  opt->maxQueuedBytes = o[kOptMaxQueued];
  opt->holdFrames = o[kOptHoldFrames];
  opt->holdBytes = o[kOptHoldBytes];
  if (!LimitFromDouble(o[kOptMaxFrameSize], &opt->limits.maxFrameSize) ||
      !LimitFromDouble(o[kOptMaxDepth], &opt->limits.maxDepth) ||
      !LimitFromDouble(o[kOptMaxAttributes], &opt->limits.maxAttributes) || !LimitsValid(opt->limits)) {
    return Throw(env, "invalid codec limits: integers in [1, 2^32 - 1], maxDepth <= 255");
  }
  if (!GetAddresses(env, argv[4], opt.get())) {
    return Throw(env, "addresses must be an array of 1..64 IP address strings");
  }
  Command cmd{Command::Open};
  cmd.id = id;
  cmd.open = std::move(opt);
  b->host.Post(std::move(cmd));
  return Undefined(env);
}

// write(id, frame: Uint8Array): one copy, one queued command.
napi_value Write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Binding* b = GetBinding(env, info, &argc, argv);
  if (!NeedStarted(env, b)) return nullptr;
  uint32_t id;
  size_t n = 0;
  void* data = nullptr;
  if (argc < 2 || !GetU32(env, argv[0], &id) || !GetTypedArray(env, argv[1], napi_uint8_array, 0, &data, &n)) {
    return Throw(env, "io.write(id, Uint8Array)");
  }
  Command cmd{Command::Write};
  cmd.id = id;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  cmd.data.assign(p, p + n);
  b->host.Post(std::move(cmd));
  return Undefined(env);
}

// close(id, abort: boolean)
napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Binding* b = GetBinding(env, info, &argc, argv);
  if (!NeedStarted(env, b)) return nullptr;
  uint32_t id;
  bool abort = false;
  if (!GetIdAndFlag(env, argc, argv, &id, &abort)) return Throw(env, "io.close(id, abort)");
  Command cmd{abort ? Command::Abort : Command::Close};
  cmd.id = id;
  b->host.Post(std::move(cmd));
  return Undefined(env);
}

// hold(id, maxFrames, maxBytes) and release(id, afterSeq)
napi_value HoldOrRelease(napi_env env, napi_callback_info info, bool hold) {
  size_t argc = 3;
  napi_value argv[3];
  Binding* b = GetBinding(env, info, &argc, argv);
  if (!NeedStarted(env, b)) return nullptr;
  uint32_t id;
  Command cmd{hold ? Command::Hold : Command::Release};
  if (argc < (hold ? 3u : 2u) || !GetU32(env, argv[0], &id) || !GetDouble(env, argv[1], &cmd.a) ||
      (hold && !GetDouble(env, argv[2], &cmd.b))) {
    return Throw(env, hold ? "io.hold(id, maxFrames, maxBytes)" : "io.release(id, afterSeq)");
  }
  cmd.id = id;
  b->host.Post(std::move(cmd));
  return Undefined(env);
}
napi_value Hold(napi_env env, napi_callback_info info) { return HoldOrRelease(env, info, true); }
napi_value Release(napi_env env, napi_callback_info info) { return HoldOrRelease(env, info, false); }

// heartbeats(id, on: boolean): deliver Heartbeat records of `id` to JS (while it has listeners) or not.
napi_value Heartbeats(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Binding* b = GetBinding(env, info, &argc, argv);
  if (!NeedStarted(env, b)) return nullptr;
  uint32_t id;
  bool on = false;
  if (!GetIdAndFlag(env, argc, argv, &id, &on)) return Throw(env, "io.heartbeats(id, on)");
  Command cmd{Command::Heartbeats};
  cmd.id = id;
  cmd.a = on ? 1 : 0;
  b->host.Post(std::move(cmd));
  return Undefined(env);
}

// heartbeat(id, out: Float64Array(3)) → boolean: fills out with [rttMs, at, answered] of connection `id`'s
// last answered ADDP poll; false (out untouched) when the connection is not open or no poll was answered.
napi_value Heartbeat(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Binding* b = GetBinding(env, info, &argc, argv);
  if (!NeedStarted(env, b)) return nullptr;
  uint32_t id;
  size_t n = 0;
  void* data = nullptr;
  if (argc < 2 || !GetU32(env, argv[0], &id) || !GetTypedArray(env, argv[1], napi_float64_array, 3, &data, &n)) {
    return Throw(env, "io.heartbeat(id, Float64Array(3))");
  }
  HeartbeatFacts f;
  bool found = b->host.ReadHeartbeat(id, &f) && f.answered > 0;
  if (found) {
    double* out = static_cast<double*>(data);
    out[0] = f.rttMs;
    out[1] = f.at;
    out[2] = f.answered;
  }
  napi_value v;
  napi_get_boolean(env, found, &v);
  return v;
}

// ack(): JS is done with the last block (called from setImmediate: the event loop got a turn).
napi_value Ack(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Binding* b = GetBinding(env, info, &argc, nullptr);
  if (!NeedStarted(env, b)) return nullptr;
  b->host.Ack();
  return Undefined(env);
}

// ref(on): keep the process alive while any connection is open (as `net` does), not when idle.
napi_value Ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Binding* b = GetBinding(env, info, &argc, argv);
  if (!NeedStarted(env, b)) return nullptr;
  bool on = false;
  if (argc < 1 || napi_get_value_bool(env, argv[0], &on) != napi_ok) return Throw(env, "io.ref(boolean)");
  if (on != b->refed) {
    if (on) napi_ref_threadsafe_function(env, b->tsfn);
    else napi_unref_threadsafe_function(env, b->tsfn);
    b->refed = on;
  }
  return Undefined(env);
}

// setMemoryLimit(bytes): the per-process budget of bytes held for JS (io_host.h). Callable before or after
// start(); applies from the next read. JS validates the value (lib/native/native-transport.ts).
napi_value SetMemoryLimit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Binding* b = GetBinding(env, info, &argc, argv);
  if (b == nullptr) return nullptr;
  double v = 0;
  if (argc < 1 || !GetDouble(env, argv[0], &v) || !(v > 0)) return Throw(env, "io.setMemoryLimit(bytes > 0)");
  b->host.maxTotalBytes.store(v);
  b->host.peakTotal.store(b->host.heldTotal());  // the high-water mark restarts with the new limit
  return Undefined(env);
}

// stats(): { conns, blocks } alive on the I/O thread (leak checks).
napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Binding* b = GetBinding(env, info, &argc, nullptr);
  if (b == nullptr) return nullptr;
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_int32(env, b->host.connsAlive.load(), &v);
  napi_set_named_property(env, o, "conns", v);
  napi_create_int32(env, b->host.blocksAlive.load(), &v);
  napi_set_named_property(env, o, "blocks", v);
  napi_get_boolean(env, b->host.started(), &v);
  napi_set_named_property(env, o, "started", v);
  struct {
    const char* name;
    double value;
  } nums[] = {{"queuedBytes", static_cast<double>(b->host.queuedTotal.load())},
              {"heldBytes", static_cast<double>(b->host.windowTotal.load())},
              {"peakBytes", static_cast<double>(b->host.peakTotal.load())},
              {"memoryLimit", b->host.maxTotalBytes.load()}};
  for (auto& n : nums) {
    napi_create_double(env, n.value, &v);
    napi_set_named_property(env, o, n.name, v);
  }
  return o;
}

}  // namespace

napi_value InitTransport(napi_env env, napi_value exports) {
  Binding* b = new Binding();
  if (napi_add_env_cleanup_hook(env, Cleanup, b) != napi_ok) {
    delete b;
    return exports;
  }
  napi_value io;
  napi_create_object(env, &io);
  struct Fn {
    const char* name;
    napi_callback cb;
  } fns[] = {{"start", Start}, {"open", Open}, {"write", Write}, {"close", Close}, {"hold", Hold},
             {"release", Release}, {"ack", Ack}, {"ref", Ref}, {"stats", Stats},
             {"setMemoryLimit", SetMemoryLimit}, {"heartbeats", Heartbeats}, {"heartbeat", Heartbeat}};
  for (const Fn& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, b, &fn);
    napi_set_named_property(env, io, f.name, fn);
  }
  napi_value v;
  napi_create_uint32(env, kRecordStride, &v);
  napi_set_named_property(env, io, "recordStride", v);
  napi_create_uint32(env, kOptCount, &v);
  napi_set_named_property(env, io, "optionCount", v);
  // Bumped whenever the JS side of this interface must change with it (lib/native/loader.ts refuses any
  // other): 2 = start() returns the delivery area and dispatch gets the record count first. Additions that
  // an older JS side ignores and a newer one detects (heartbeats/heartbeat, the Outbound record) keep 2.
  constexpr uint32_t kInterfaceVersion = 2;
  napi_create_uint32(env, kInterfaceVersion, &v);
  napi_set_named_property(env, io, "interfaceVersion", v);
  napi_set_named_property(env, exports, "io", io);
  return exports;
}

}  // namespace io
}  // namespace tsha
