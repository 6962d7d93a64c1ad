// gpupool_compute.node: the daemon's side of remote CUDA execution, as src/compute sees it.
//
//   openDriver(path): Promise<Driver>   dlopen + cuInit + resolution, on a worker thread
//   driver.devices() / .version / .digest / .path
//   new Session(driver, onOutput, onClosed[, quota])   quota: bytes per card, by ordinal
//     .submit(buf)  queue one client message (call frames); the Buffer is kept, not copied
//     .close()      stop after the current message, tear down, then onClosed(null)
//     .stats()
//
// Each session runs its calls on one native thread of its own; replies and the end come back to
// JS through a thread-safe function. Nothing on the JS thread ever calls the driver.
#include <napi.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dispatch.h"
#include "driver.h"
#include "session.h"
#include "wire.h"

namespace {

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
                       });
  }

  explicit DriverWrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<DriverWrap>(info) {
    // Only openDriver makes drivers: JS cannot make an External.
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw Napi::TypeError::New(info.Env(), "use openDriver(path) to open a driver");
    }
    core_ = *info[0].As<Napi::External<std::shared_ptr<gp::Driver>>>().Data();
  }

  const std::shared_ptr<gp::Driver> &core() const { return core_; }

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

  std::shared_ptr<gp::Driver> core_;
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

// A client message waiting for the session's thread; the reference keeps its Buffer alive.
struct Message {
  const char *data;
  size_t size;
  Napi::Reference<Napi::Value> *ref;
};

// What the session's thread hands back to JS: the replies to one message (and the references to
// release), or the end of the session.
struct Delivery {
  std::vector<char> output;
  std::vector<Napi::Reference<Napi::Value> *> refs;
  bool closed = false;
  bool has_reason = false;
  std::string reason;
};

void Deliver(Napi::Env env, Napi::Function, SessionWrap *session, Delivery *delivery);
using Tsfn = Napi::TypedThreadSafeFunction<SessionWrap, Delivery, Deliver>;

// Shared by the JS object, the session's thread and the thread-safe function's finalizer (which
// joins the thread), so it outlives all three.
class Runner {
 public:
  Runner(std::shared_ptr<const gp::Driver> driver, std::vector<uint64_t> quota, std::vector<bool> granted)
      : session(std::move(driver), std::move(quota), std::move(granted)) {}

  // False once the session is stopping: the message is not taken.
  bool push(const Message &m) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return false;
      queue_.push_back(m);
    }
    cv_.notify_one();
    return true;
  }

  void request_stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
  }

  void run() {
    bool failed = false;
    std::string reason;
    // Input buffers are released on the JS thread, so each delivery carries the references of the
    // messages it covers. A delivery goes out when it has replies, or when the queue has run dry:
    // a burst of fire-and-forget messages costs one hop to the event loop, not one per message.
    auto *d = new Delivery();
    for (;;) {
      Message m;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_) break;
        m = queue_.front();
        queue_.pop_front();
      }
      d->refs.push_back(m.ref);
      try {
        gp::process_message(session, m.data, m.size, d->output);
      } catch (const gp::ProtocolError &e) {
        failed = true;
        reason = e.what();
      } catch (const std::bad_alloc &) {
        failed = true;
        reason = "out of host memory";
      } catch (const std::exception &e) {
        failed = true;
        reason = std::string("internal error: ") + e.what();
      }
      if (failed) d->output.clear();  // the connection closes with the reason instead
      session.publish();
      bool idle;
      {
        std::lock_guard<std::mutex> lock(mu_);
        idle = queue_.empty();
      }
      if (failed || idle || !d->output.empty()) {
        post(d);
        d = new Delivery();
      }
      if (failed) break;
    }
    if (!d->refs.empty()) post(d);
    else delete d;
    session.teardown();
    d = new Delivery();
    d->closed = true;
    d->has_reason = failed;
    d->reason = reason;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      for (const Message &m : queue_) d->refs.push_back(m.ref);
      queue_.clear();
    }
    post(d);
    tsfn.Release();
  }

  gp::Session session;
  Tsfn tsfn;
  std::thread thread;

 private:
  void post(Delivery *d) {
    // Fails only while the environment is going away; the references go with it.
    if (tsfn.NonBlockingCall(d) != napi_ok) delete d;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> queue_;
  bool stop_ = false;
};

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Session",
                       {
                           InstanceMethod<&SessionWrap::Submit>("submit"),
                           InstanceMethod<&SessionWrap::Close>("close"),
                           InstanceMethod<&SessionWrap::Stats>("stats"),
                       });
  }

  explicit SessionWrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<SessionWrap>(info) {
    Napi::Env env = info.Env();
    Napi::FunctionReference &driver_ctor = env.GetInstanceData<AddonData>()->driver_ctor;
    if (info.Length() < 3 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(driver_ctor.Value()) ||
        !info[1].IsFunction() || !info[2].IsFunction()) {
      throw Napi::TypeError::New(env, "new Session(driver: Driver, onOutput: (buf) => void, onClosed: (reason) => void)");
    }
    std::shared_ptr<gp::Driver> driver = DriverWrap::Unwrap(info[0].As<Napi::Object>())->core();
    // Optional: the session's memory quota per card, in bytes, by ordinal (absent: the whole card);
    // null for a card the session may not use at all.
    std::vector<uint64_t> quota;
    std::vector<bool> granted;
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      const char *usage = "quota must be an array of byte counts (or null for a card not granted), one per card";
      if (!info[3].IsArray()) throw Napi::TypeError::New(env, usage);
      Napi::Array q = info[3].As<Napi::Array>();
      for (uint32_t i = 0; i < q.Length(); i++) {
        Napi::Value v = q.Get(i);
        if (v.IsNull()) {
          quota.push_back(0);
          granted.push_back(false);
          continue;
        }
        if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0) throw Napi::TypeError::New(env, usage);
        quota.push_back((uint64_t)v.As<Napi::Number>().DoubleValue());
        granted.push_back(true);
      }
    }
    on_output_ = Napi::Persistent(info[1].As<Napi::Function>());
    on_closed_ = Napi::Persistent(info[2].As<Napi::Function>());
    runner_ = std::make_shared<Runner>(driver, std::move(quota), std::move(granted));
    runner_->tsfn = Tsfn::New(
        env, "gpupool:session", 0, 1, this,
        [](Napi::Env, std::shared_ptr<Runner> *runner, SessionWrap *) {
          // After the thread's Release (or when the environment ends): make sure it is done.
          (*runner)->request_stop();
          if ((*runner)->thread.joinable()) (*runner)->thread.join();
          delete runner;
        },
        new std::shared_ptr<Runner>(runner_));
    Runner *r = runner_.get();
    runner_->thread = std::thread([r] { r->run(); });
    // A running session stays alive until it has reported its end.
    Ref();
  }

  // On the JS thread, in the order the session's thread posted.
  void Receive(Napi::Env env, Delivery *d) {
    for (auto *ref : d->refs) delete ref;
    d->refs.clear();
    if (!d->output.empty()) {
      auto *bytes = new std::vector<char>(std::move(d->output));
      Napi::Buffer<char> buf = Napi::Buffer<char>::New(
          env, bytes->data(), bytes->size(), [](Napi::Env, char *, std::vector<char> *v) { delete v; }, bytes);
      Call(env, on_output_, {buf});
    }
    if (d->closed) {
      Napi::Value reason = d->has_reason ? Napi::String::New(env, d->reason) : env.Null();
      Napi::FunctionReference on_closed = std::move(on_closed_);
      on_output_.Reset();
      Unref();
      Call(env, on_closed, {reason});
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

  Napi::Value Submit(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "submit(buf: Buffer)");
    }
    if (closing_) return Napi::Boolean::New(env, false);
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    if (bytes.ByteLength() == 0) return Napi::Boolean::New(env, true);
    auto *ref = new Napi::Reference<Napi::Value>(Napi::Persistent(info[0]));
    Message m{reinterpret_cast<const char *>(bytes.Data()), bytes.ByteLength(), ref};
    if (!runner_->push(m)) {
      delete ref;  // the session ended on a protocol error meanwhile
      return Napi::Boolean::New(env, false);
    }
    return Napi::Boolean::New(env, true);
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    closing_ = true;
    runner_->request_stop();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    gp::SessionStats s = runner_->session.stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("calls", (double)s.calls);
    o.Set("asyncCalls", (double)s.async_calls);
    o.Set("messages", (double)s.messages);
    o.Set("handles", (double)s.handles);
    o.Set("contexts", (double)s.contexts);
    o.Set("allocations", (double)s.allocations);
    o.Set("allocatedBytes", (double)s.allocated_bytes);
    o.Set("deferredError", s.deferred_error);
    Napi::Array quota = Napi::Array::New(env, s.quota.size()), used = Napi::Array::New(env, s.used.size());
    for (size_t i = 0; i < s.quota.size(); i++) quota.Set((uint32_t)i, (double)s.quota[i]);
    for (size_t i = 0; i < s.used.size(); i++) used.Set((uint32_t)i, (double)s.used[i]);
    o.Set("quota", quota);
    o.Set("used", used);
    return o;
  }

  std::shared_ptr<Runner> runner_;
  Napi::FunctionReference on_output_;
  Napi::FunctionReference on_closed_;
  bool closing_ = false;
};

void Deliver(Napi::Env env, Napi::Function, SessionWrap *session, Delivery *delivery) {
  std::unique_ptr<Delivery> d(delivery);
  // No environment: the thread-safe function is being torn down with it; references die with it.
  if (env == nullptr || d == nullptr) return;
  session->Receive(env, d.get());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto *data = new AddonData();
  Napi::Function driver = DriverWrap::Define(env);
  data->driver_ctor = Napi::Persistent(driver);
  env.SetInstanceData<AddonData>(data);
  exports.Set("openDriver", Napi::Function::New<OpenDriver>(env, "openDriver"));
  exports.Set("Driver", driver);
  exports.Set("Session", SessionWrap::Define(env));
  exports.Set("protocolDigest", Napi::String::New(env, gp::protocol_digest()));
  return exports;
}

}  // namespace

NODE_API_MODULE(gpupool_compute, Init)
