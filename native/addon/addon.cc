// gpupool_compute.node: the daemon's side of remote CUDA execution, as src/compute sees it.
//
//   openDriver(path): Promise<Driver>   dlopen + cuInit + resolution, on a worker thread
//   driver.devices() / .version / .digest / .path
//   driver.configureScheduler({sliceUs, paceDepth, idleGraceUs})   before the first session
//   driver.cardStats()   the scheduler's view of each card
//   driver.cardStateFd()  the memfd of the cards' scheduling state, which each session worker maps
//   driver.releaseSchedOwner(owner)  a worker ended: its slots on the cards are freed (how many)
//   driver.emuStats()    the emulated driver's counters (gpupoolEmuCounters, found with dlsym); null on a real driver
//   new Session(driver, onOutput, onClosed[, options])
//     options: {quota: bytes per card by ordinal, share, limit, priority, paused}
//     .submit(buf)  queue one client message (call frames); the Buffer is kept, not copied
//     .close()      stop after the current message, tear down, then onClosed(null)
//     .stats()
//     .poison(ordinal, cuResult)   the card went bad: the session's later calls on it answer cuResult
//     .limitBacklog(bytes, onDrained)  from now on .backlogged is true while the messages taken and
//                   not yet run hold more than `bytes`; onDrained() once they are down to half
//     .onRefusal(fn)  fn({op, param, ptr, bytes, rc}) for the session's first bounds-check refusal
//     .attach(fd, prefix, {maxMessageBytes, maxQueuedBytes})  the session takes the connection over
//                   after the handshake (connection.h): its reader thread reads the client's frames,
//                   its thread writes the replies; onOutput gets nothing more, onClosed(reason, code)
//                   the connection's close code
//     .ping() .closeConnection(code, reason) .terminate()   asked of an attached connection
//     .connection   {idleMs, paused, pauses, bytesIn, bytesOut} of an attached connection, or null
//   peerCredentials(fd)   {pid, uid, gid} of a Unix-socket peer (local_peer.cc)
//   passDescriptor(channelFd, fd)   fd to a running session worker, SCM_RIGHTS (local_peer.cc)
//
// Each session runs its calls on one native thread of its own; replies and the end come back to
// JS through a thread-safe function, or (attached) the replies go straight to the socket and JS
// hears only of refusals and the end. Nothing on the JS thread ever calls the driver.
#include <napi.h>

#include "local_peer.h"

#include <cstdio>
#include <malloc.h>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "connection.h"
#include "dispatch.h"
#include "driver.h"
#include "extent.h"
#include "runner.h"
#include "scheduler.h"
#include "session.h"
#include "session_stats.h"
#include "wire.h"

namespace {

// Writes figures into an object (gp::write_session_stats, session_stats.h).
struct NapiWriter {
  Napi::Env env;
  Napi::Object o;
  void number(const char *key, double v) { o.Set(key, v); }
  void flag(const char *key, bool v) { o.Set(key, v); }
  template <class T>
  void numbers(const char *key, const std::vector<T> &values) {
    Napi::Array a = Napi::Array::New(env, values.size());
    for (size_t i = 0; i < values.size(); i++) a.Set((uint32_t)i, (double)values[i]);
    o.Set(key, a);
  }
  template <class Fn>
  void objects(const char *key, size_t count, Fn fill) {
    Napi::Array a = Napi::Array::New(env, count);
    for (size_t i = 0; i < count; i++) {
      NapiWriter item{env, Napi::Object::New(env)};
      fill(item, i);
      a.Set((uint32_t)i, item.o);
    }
    o.Set(key, a);
  }
};

struct AddonData {
  Napi::FunctionReference driver_ctor;
};

// ---- Driver ----------------------------------------------------------------------------------------

class DriverWrap : public Napi::ObjectWrap<DriverWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Driver",
                       {
                           InstanceMethod<&DriverWrap::Devices>("devices"),
                           InstanceAccessor<&DriverWrap::Version>("version"),
                           InstanceAccessor<&DriverWrap::Digest>("digest"),
                           InstanceAccessor<&DriverWrap::Path>("path"),
                           InstanceMethod<&DriverWrap::ConfigureScheduler>("configureScheduler"),
                           InstanceMethod<&DriverWrap::CardStats>("cardStats"),
                           InstanceMethod<&DriverWrap::CardStateFd>("cardStateFd"),
                           InstanceMethod<&DriverWrap::ReleaseSchedOwner>("releaseSchedOwner"),
                           InstanceMethod<&DriverWrap::EmuStats>("emuStats"),
                       });
  }

  explicit DriverWrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<DriverWrap>(info) {
    // Only openDriver makes drivers: JS cannot make an External.
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw Napi::TypeError::New(info.Env(), "use openDriver(path) to open a driver");
    }
    core_ = *info[0].As<Napi::External<std::shared_ptr<gp::Driver>>>().Data();
    scheduler_ = std::make_shared<gp::Scheduler>(*core_, core_->devices().size());
  }

  const std::shared_ptr<gp::Driver> &core() const { return core_; }
  const std::shared_ptr<gp::Scheduler> &scheduler() const { return scheduler_; }

 private:
  Napi::Value Devices(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    const auto &devices = core_->devices();
    Napi::Array out = Napi::Array::New(env, devices.size());
    for (size_t i = 0; i < devices.size(); i++) {
      const gp::DeviceInfo &d = devices[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("ordinal", d.ordinal);
      o.Set("name", d.name);
      o.Set("uuid", Napi::Buffer<unsigned char>::Copy(env, d.uuid, sizeof d.uuid));
      o.Set("pciDomain", d.pci_domain);
      o.Set("pciBus", d.pci_bus);
      o.Set("pciDevice", d.pci_device);
      o.Set("totalMem", (double)d.total_mem);
      Napi::Array attrs = Napi::Array::New(env, d.attributes.size());
      for (size_t a = 0; a < d.attributes.size(); a++) {
        Napi::Array pair = Napi::Array::New(env, 2);
        pair.Set(0u, d.attributes[a].first);
        pair.Set(1u, d.attributes[a].second);
        attrs.Set((uint32_t)a, pair);
      }
      o.Set("attributes", attrs);
      out.Set((uint32_t)i, o);
    }
    return out;
  }

  Napi::Value Version(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), core_->version()); }
  Napi::Value Digest(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), gp::protocol_digest()); }
  Napi::Value Path(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), core_->path()); }

  static uint64_t Field(const Napi::Object &o, const char *key, uint64_t fallback, uint64_t scale) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a number >= 0");
    return (uint64_t)(v.As<Napi::Number>().DoubleValue() * (double)scale);
  }

  Napi::Value ConfigureScheduler(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "configureScheduler({sliceUs, paceDepth, idleGraceUs})");
    Napi::Object o = info[0].As<Napi::Object>();
    gp::SchedulerOptions opts = scheduler_->options();
    opts.slice_ns = Field(o, "sliceUs", opts.slice_ns / 1000, 1000);
    opts.pace_depth = (unsigned)Field(o, "paceDepth", opts.pace_depth, 1);
    opts.idle_grace_ns = Field(o, "idleGraceUs", opts.idle_grace_ns / 1000, 1000);
    if (opts.slice_ns == 0) throw Napi::RangeError::New(env, "sliceUs must be more than 0");
    scheduler_->configure(opts);
    return env.Undefined();
  }

  Napi::Value CardStats(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env, scheduler_->size());
    for (size_t i = 0; i < scheduler_->size(); i++) {
      gp::CardStats c = scheduler_->card((int)i)->stats();
      Napi::Object o = Napi::Object::New(env);
      o.Set("ordinal", (double)i);
      o.Set("clients", c.clients);
      o.Set("waiting", c.waiting);
      o.Set("busy", c.busy);
      o.Set("deviceNs", (double)c.device_ns);
      out.Set((uint32_t)i, o);
    }
    return out;
  }

  Napi::Value CardStateFd(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), scheduler_->state_fd()); }

  Napi::Value ReleaseSchedOwner(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "releaseSchedOwner(owner)");
    const double owner = info[0].As<Napi::Number>().DoubleValue();
    if (!(owner >= 1) || owner != (double)(uint64_t)owner) throw Napi::RangeError::New(env, "releaseSchedOwner: owner must be a whole number from 1");
    return Napi::Number::New(env, scheduler_->release_owner((uint64_t)owner));
  }

  Napi::Value EmuStats(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    gp::Driver::EmuCounters counters;
    if (!core_->emu_stats(&counters)) return env.Null();
    NapiWriter w{env, Napi::Object::New(env)};
    gp::write_emu_counters(w, counters);
    return w.o;
  }

  std::shared_ptr<gp::Driver> core_;
  std::shared_ptr<gp::Scheduler> scheduler_;
};

// openDriver's work, on a libuv worker thread.
class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env, "gpupool:openDriver"), path_(std::move(path)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      driver_ = gp::Driver::open(path_);
    } catch (const gp::DriverError &e) {
      code_ = e.code;
      SetError(e.what());
    } catch (const std::exception &e) {
      SetError(path_ + ": " + e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object driver = env.GetInstanceData<AddonData>()->driver_ctor.New({Napi::External<std::shared_ptr<gp::Driver>>::New(env, &driver_)});
    deferred_.Resolve(driver);
  }

  void OnError(const Napi::Error &e) override {
    if (code_ >= 0) e.Value().Set("code", Napi::Number::New(Env(), code_));
    deferred_.Reject(e.Value());
  }

 private:
  std::string path_;
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<gp::Driver> driver_;
  int code_ = -1;
};

Napi::Value OpenDriver(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "openDriver(path: string)");
  auto *worker = new OpenWorker(info.Env(), info[0].As<Napi::String>().Utf8Value());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// ---- Session ---------------------------------------------------------------------------------------

class SessionWrap;

// Buffers at least this large are mapped on their own and returned to the system when freed.
constexpr int kMapThresholdBytes = 1 << 20;

// The session core (runner.h) hands its deliveries to JS through a thread-safe function; a message's
// token is the reference that keeps its JS Buffer alive until it has run.
using JsRef = Napi::Reference<Napi::Value>;
void Deliver(Napi::Env env, Napi::Function, SessionWrap *session, gp::Delivery *delivery);
using Tsfn = Napi::TypedThreadSafeFunction<SessionWrap, gp::Delivery, Deliver>;

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Session",
                       {
                           InstanceMethod<&SessionWrap::Submit>("submit"),
                           InstanceMethod<&SessionWrap::Close>("close"),
                           InstanceMethod<&SessionWrap::Stats>("stats"),
                           InstanceMethod<&SessionWrap::SetSchedule>("setSchedule"),
                           InstanceMethod<&SessionWrap::Poison>("poison"),
                           InstanceMethod<&SessionWrap::LimitBacklog>("limitBacklog"),
                           InstanceAccessor<&SessionWrap::Backlogged>("backlogged"),
                           InstanceMethod<&SessionWrap::OnRefusal>("onRefusal"),
                           InstanceMethod<&SessionWrap::Attach>("attach"),
                           InstanceMethod<&SessionWrap::Ping>("ping"),
                           InstanceMethod<&SessionWrap::CloseConnection>("closeConnection"),
                           InstanceMethod<&SessionWrap::Terminate>("terminate"),
                           InstanceAccessor<&SessionWrap::ConnectionFigures>("connection"),
                       });
  }

  // share in (0, 1], limit and paused booleans, priority an integer 0-29 (docs/sharing.md).
  static gp::SchedParams ReadParams(const Napi::Object &o, gp::SchedParams p) {
    Napi::Env env = o.Env();
    Napi::Value share = o.Get("share"), limit = o.Get("limit"), priority = o.Get("priority"), paused = o.Get("paused");
    if (!share.IsUndefined()) {
      double v = share.IsNumber() ? share.As<Napi::Number>().DoubleValue() : -1;
      if (!(v > 0 && v <= 1)) throw Napi::RangeError::New(env, "share must be a number in (0, 1]");
      p.share = v;
    }
    if (!priority.IsUndefined()) {
      double v = priority.IsNumber() ? priority.As<Napi::Number>().DoubleValue() : -1;
      if (!(v >= 0 && v <= 29) || v != (int)v) throw Napi::RangeError::New(env, "priority must be an integer 0-29");
      p.priority = (int)v;
    }
    if (!limit.IsUndefined()) p.limit = limit.ToBoolean().Value();
    if (!paused.IsUndefined()) p.paused = paused.ToBoolean().Value();
    return p;
  }

  explicit SessionWrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<SessionWrap>(info) {
    Napi::Env env = info.Env();
    Napi::FunctionReference &driver_ctor = env.GetInstanceData<AddonData>()->driver_ctor;
    if (info.Length() < 3 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(driver_ctor.Value()) ||
        !info[1].IsFunction() || !info[2].IsFunction()) {
      throw Napi::TypeError::New(env, "new Session(driver: Driver, onOutput: (buf) => void, onClosed: (reason) => void)");
    }
    DriverWrap *driver_wrap = DriverWrap::Unwrap(info[0].As<Napi::Object>());
    std::shared_ptr<gp::Driver> driver = driver_wrap->core();
    // Optional: {quota: bytes per card by ordinal (absent: the whole card), share, limit, priority}.
    std::vector<uint64_t> quota;
    gp::SchedParams params;
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      if (!info[3].IsObject() || info[3].IsArray()) throw Napi::TypeError::New(env, "options must be an object {quota, share, limit, priority}");
      Napi::Object o = info[3].As<Napi::Object>();
      Napi::Value qv = o.Get("quota");
      if (!qv.IsUndefined()) {
        if (!qv.IsArray()) throw Napi::TypeError::New(env, "quota must be an array of byte counts, one per card");
        Napi::Array q = qv.As<Napi::Array>();
        for (uint32_t i = 0; i < q.Length(); i++) {
          Napi::Value v = q.Get(i);
          if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0) throw Napi::TypeError::New(env, "quota must be an array of byte counts, one per card");
          quota.push_back((uint64_t)v.As<Napi::Number>().DoubleValue());
        }
      }
      params = ReadParams(o, params);
    }
    on_output_ = Napi::Persistent(info[1].As<Napi::Function>());
    on_closed_ = Napi::Persistent(info[2].As<Napi::Function>());
    current_params_ = params;
    runner_ = std::make_shared<gp::Runner>(driver, std::move(quota), driver_wrap->scheduler(), params);
    // A waiter may call it while this session is being torn down: the weak pointer keeps that safe.
    runner_->session.set_wake([weak = std::weak_ptr<gp::Runner>(runner_)] {
      if (auto r = weak.lock()) r->wake();
    });
    Tsfn tsfn = Tsfn::New(
        env, "gpupool:session", 0, 1, this,
        [](Napi::Env, std::shared_ptr<gp::Runner> *runner, SessionWrap *) {
          // After the thread's Release (or when the environment ends): make sure it is done.
          (*runner)->join();
          delete runner;
        },
        new std::shared_ptr<gp::Runner>(runner_));
    // Fails only while the environment is going away; the references go with it.
    runner_->set_sink({[tsfn](gp::Delivery *d) mutable { return tsfn.NonBlockingCall(d) == napi_ok; },
                       [tsfn]() mutable { tsfn.Release(); }, nullptr});
    runner_->start();
    // A running session stays alive until it has reported its end.
    Ref();
  }

  // On the JS thread, in the order the session's thread posted.
  void Receive(Napi::Env env, gp::Delivery *d) {
    for (void *ref : d->tokens) delete static_cast<JsRef *>(ref);
    d->tokens.clear();
    Release(env, d->released);
    if (d->has_refusal) ReportRefusal(env, d->refusal);
    if (!d->output.empty()) {
      auto *bytes = new gp::Output(std::move(d->output));
      // V8 learns what the reply holds, so that its collector frees spent replies as it would Buffers
      // of that size, rather than keeping gigabytes behind a few small objects (issue 12, item 11).
      const int64_t held = (int64_t)bytes->capacity();
      Napi::MemoryManagement::AdjustExternalMemory(env, held);
      Napi::Buffer<char> buf = Napi::Buffer<char>::New(
          env, bytes->data(), bytes->size(),
          [held](Napi::Env e, char *, gp::Output *v) {
            delete v;
            Napi::MemoryManagement::AdjustExternalMemory(e, -held);
          },
          bytes);
      Call(env, on_output_, {buf});
    }
    if (d->closed) {
      Napi::Value reason = d->has_reason ? Napi::String::New(env, d->reason) : env.Null();
      Napi::Value code = d->close_code >= 0 ? Napi::Number::New(env, d->close_code) : env.Null();
      Napi::FunctionReference on_closed = std::move(on_closed_);
      on_output_.Reset();
      on_drained_.Reset();
      on_refusal_.Reset();
      Unref();
      Call(env, on_closed, {reason, code});
    }
  }

 private:
  // A callback that throws is the application's uncaught exception, not the session's end.
  static void Call(Napi::Env env, Napi::FunctionReference &fn, const std::initializer_list<napi_value> &args) {
    if (fn.IsEmpty()) return;
    try {
      fn.Call(args);
    } catch (const Napi::Error &e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  // The backlog (JS thread only): what the messages taken and not yet released hold.
  void Release(Napi::Env env, size_t bytes) {
    held_ -= bytes < held_ ? bytes : held_;
    if (backlogged_ && held_ <= backlog_limit_ / 2) {
      backlogged_ = false;
      Call(env, on_drained_, {});
    }
  }

  void ReportRefusal(Napi::Env env, const gp::Session::Refusal &r) {
    if (on_refusal_.IsEmpty()) return;
    Napi::Object o = Napi::Object::New(env);
    const gp::OpInfo *info = gp::op_info(r.op);
    o.Set("op", info != nullptr ? info->name : "?");
    o.Set("param", r.param);
    char ptr[32];
    snprintf(ptr, sizeof ptr, "0x%llx", (unsigned long long)r.ptr);
    o.Set("ptr", ptr);
    // The extent: bytes, or null when the call states none, or "overflow".
    if (r.extent.exact()) o.Set("bytes", (double)r.extent.bytes());
    else if (r.extent.overflowed()) o.Set("bytes", "overflow");
    else o.Set("bytes", env.Null());
    o.Set("rc", (int)r.rc);
    Call(env, on_refusal_, {o});
  }

  Napi::Value LimitBacklog(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 1 || !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "limitBacklog(bytes: number, onDrained: () => void)");
    }
    backlog_limit_ = (size_t)info[0].As<Napi::Number>().DoubleValue();
    on_drained_ = Napi::Persistent(info[1].As<Napi::Function>());
    return env.Undefined();
  }

  Napi::Value Backlogged(const Napi::CallbackInfo &info) { return Napi::Boolean::New(info.Env(), backlogged_); }

  Napi::Value OnRefusal(const Napi::CallbackInfo &info) {
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "onRefusal(fn: (refusal) => void)");
    on_refusal_ = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  }

  Napi::Value Submit(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "submit(buf: Buffer)");
    }
    if (closing_) return Napi::Boolean::New(env, false);
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    if (bytes.ByteLength() == 0) return Napi::Boolean::New(env, true);
    auto *ref = new JsRef(Napi::Persistent(info[0]));
    gp::Message m{reinterpret_cast<const char *>(bytes.Data()), bytes.ByteLength(), ref};
    if (!runner_->push(m)) {
      delete ref;  // the session ended on a protocol error meanwhile
      return Napi::Boolean::New(env, false);
    }
    held_ += gp::backlog_cost(m);
    if (backlog_limit_ > 0 && held_ > backlog_limit_) backlogged_ = true;
    return Napi::Boolean::New(env, true);
  }

  // attach(fd, bytesAlreadyRead, {maxMessageBytes, maxQueuedBytes}): the session takes over the
  // connection after the handshake; the caller closes its own descriptor (a duplicate is kept).
  Napi::Value Attach(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsObject()) {
      throw Napi::TypeError::New(env, "attach(fd: number, prefix: Buffer, limits: {maxMessageBytes, maxQueuedBytes})");
    }
    if (runner_->connection()) throw Napi::Error::New(env, "attach: the session has a connection already");
    if (closing_) throw Napi::Error::New(env, "attach: the session is closing");
    Napi::Object o = info[2].As<Napi::Object>();
    Napi::Value max_message = o.Get("maxMessageBytes"), max_queued = o.Get("maxQueuedBytes");
    if (!max_message.IsNumber() || !max_queued.IsNumber()) throw Napi::TypeError::New(env, "attach: maxMessageBytes and maxQueuedBytes must be numbers");
    gp::Connection::Limits limits;
    limits.max_message = (uint64_t)max_message.As<Napi::Number>().DoubleValue();
    limits.max_queued = (size_t)max_queued.As<Napi::Number>().DoubleValue();
    // Optional: without them the session refuses shared memory.
    Napi::Value shm_bytes = o.Get("sharedMemoryBytes"), shm_regions = o.Get("sharedMemoryRegions");
    if (shm_bytes.IsNumber()) limits.shared_memory.max_bytes = (uint64_t)shm_bytes.As<Napi::Number>().DoubleValue();
    if (shm_regions.IsNumber()) limits.shared_memory.max_regions = (uint32_t)shm_regions.As<Napi::Number>().DoubleValue();
    Napi::Value ring_bytes = o.Get("callRingBytes"), ring_spin = o.Get("callRingSpinUs");
    if (ring_bytes.IsNumber()) limits.shared_memory.call_ring_bytes = (uint64_t)ring_bytes.As<Napi::Number>().DoubleValue();
    if (ring_spin.IsNumber()) limits.shared_memory.call_ring_spin_ns = (uint64_t)ring_spin.As<Napi::Number>().DoubleValue() * 1000;
    Napi::Buffer<char> prefix = info[1].As<Napi::Buffer<char>>();
    try {
      auto c = gp::Connection::open(info[0].As<Napi::Number>().Int32Value(), limits, std::string(prefix.Data(), prefix.Length()), gp::Runner::events_for(runner_));
      // The session's thread must see the connection before the first message comes from it: its
      // replies go there, not to onOutput.
      runner_->attach(c);
      c->start();
    } catch (const std::system_error &e) {
      throw Napi::Error::New(env, std::string("attach: ") + e.what());
    }
    return env.Undefined();
  }

  Napi::Value Ping(const Napi::CallbackInfo &info) {
    if (auto &c = runner_->connection()) c->ping();
    return info.Env().Undefined();
  }

  // closeConnection(code, reason): the close frame goes out (from a native thread), and the session
  // ends when the reader sees the connection end: at the peer's answer, whose code is the end's as on
  // the JS path, or after the close grace (1006). Stopping here would race the answer.
  Napi::Value CloseConnection(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) throw Napi::TypeError::New(env, "closeConnection(code: number, reason: string)");
    closing_ = true;
    auto &c = runner_->connection();
    if (c) c->close((uint16_t)info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::String>().Utf8Value());
    else runner_->request_stop();
    return env.Undefined();
  }

  Napi::Value Terminate(const Napi::CallbackInfo &info) {
    if (auto &c = runner_->connection()) c->terminate();
    closing_ = true;
    runner_->request_stop();
    return info.Env().Undefined();
  }

  // {idleMs, paused, pauses, bytesIn, bytesOut}, or null before attach.
  Napi::Value ConnectionFigures(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    const auto &c = runner_->connection();
    if (!c) return env.Null();
    NapiWriter w{env, Napi::Object::New(env)};
    gp::write_connection_figures(w, c->figures());
    return w.o;
  }

  Napi::Value SetSchedule(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "setSchedule({share, limit, priority, paused})");
    current_params_ = ReadParams(info[0].As<Napi::Object>(), current_params_);
    runner_->session.set_sched_params(current_params_);
    return env.Undefined();
  }

  // From the JS thread when the vendor library reports the card unhealthy; the session's thread reads
  // it before each call (dispatch.cc).
  Napi::Value Poison(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "poison(ordinal: number, cuResult: number)");
    int ordinal = info[0].As<Napi::Number>().Int32Value();
    int code = info[1].As<Napi::Number>().Int32Value();
    if (code <= 0) throw Napi::RangeError::New(env, "poison: cuResult must be an error (more than 0)");
    if (!runner_->session.poison(ordinal, (CUresult)code)) throw Napi::RangeError::New(env, "poison: no card " + std::to_string(ordinal));
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    closing_ = true;
    runner_->request_stop();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    NapiWriter w{env, Napi::Object::New(env)};
    gp::write_session_stats(w, runner_->session.stats());
    return w.o;
  }

  std::shared_ptr<gp::Runner> runner_;
  gp::SchedParams current_params_;
  Napi::FunctionReference on_output_;
  Napi::FunctionReference on_closed_;
  bool closing_ = false;
  // The backlog: bytes of messages submitted and not yet released, against limitBacklog's limit.
  size_t held_ = 0;
  size_t backlog_limit_ = 0;
  bool backlogged_ = false;
  Napi::FunctionReference on_drained_;
  Napi::FunctionReference on_refusal_;
};

void Deliver(Napi::Env env, Napi::Function, SessionWrap *session, gp::Delivery *delivery) {
  std::unique_ptr<gp::Delivery> d(delivery);
  // No environment: the thread-safe function is being torn down with it; references die with it.
  if (env == nullptr || d == nullptr) return;
  session->Receive(env, d.get());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#ifdef __GLIBC__
  // Copies pass through the daemon in buffers of megabytes (messages, replies, staging). glibc would
  // raise its mapping threshold after the first is freed and serve the next ones from its heaps,
  // which keep their peak: the daemon would sit at the size of its largest burst of copies (issue
  // 12, item 11). A fixed threshold maps every large buffer, and its free returns it.
  mallopt(M_MMAP_THRESHOLD, kMapThresholdBytes);
#endif
  auto *data = new AddonData();
  Napi::Function driver = DriverWrap::Define(env);
  data->driver_ctor = Napi::Persistent(driver);
  env.SetInstanceData<AddonData>(data);
  exports.Set("openDriver", Napi::Function::New<OpenDriver>(env, "openDriver"));
  exports.Set("Driver", driver);
  exports.Set("Session", SessionWrap::Define(env));
  exports.Set("protocolDigest", Napi::String::New(env, gp::protocol_digest()));
  gp::RegisterLocalPeer(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(gpupool_compute, Init)
