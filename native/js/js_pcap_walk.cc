#include "js/js_pcap_walk.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <mutex>

namespace nmc {

namespace {

// Windows of files mapped for the reader (map() below), so that the SIGBUS handler can tell a
// fault on them from any other. A slot is free when its start is 0. Written under g_map_mutex on
// the JS thread (map, and the ArrayBuffer's finalizer); read lock-free by the handler.
struct MappedWindow {
  std::atomic<uintptr_t> start{0};
  std::atomic<size_t> len{0};
};
constexpr size_t kMaxWindows = 4096;
MappedWindow g_windows[kMaxWindows];
std::mutex g_map_mutex;
struct sigaction g_prev_bus;
bool g_bus_installed = false;
uintptr_t g_page_size = 4096;  // read once at install: sysconf is not async-signal-safe

// A file truncated while mapped raises SIGBUS on the pages past its new end. On one of our
// windows, those pages become zero pages (the access is retried and reads zeros, as the rest of
// the page that holds the new end does) and the reader, which compares the file's size with what
// it mapped after each chunk, ends the file there with an error; any other SIGBUS goes to the
// handler that was there before, or kills the process as it would have.
void on_sigbus(int sig, siginfo_t* si, void* ctx) {
  const uintptr_t at = uintptr_t(si->si_addr);
  const uintptr_t page = g_page_size;
  for (MappedWindow& w : g_windows) {
    const uintptr_t start = w.start.load(std::memory_order_acquire);
    const size_t len = w.len.load(std::memory_order_acquire);
    if (start == 0 || at < start || at >= start + len) continue;
    const uintptr_t from = at & ~(page - 1);
    if (mmap(reinterpret_cast<void*>(from), start + len - from, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED)
      return;
    break;
  }
  if ((g_prev_bus.sa_flags & SA_SIGINFO) != 0 && g_prev_bus.sa_sigaction != nullptr) {
    g_prev_bus.sa_sigaction(sig, si, ctx);
    return;
  }
  if (g_prev_bus.sa_handler != SIG_DFL && g_prev_bus.sa_handler != SIG_IGN) {
    g_prev_bus.sa_handler(sig);
    return;
  }
  signal(SIGBUS, SIG_DFL);  // the faulting access is retried and now takes the default action
}

void install_sigbus_handler() {
  if (g_bus_installed) return;
  g_page_size = uintptr_t(sysconf(_SC_PAGESIZE));
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, &g_prev_bus) == 0) g_bus_installed = true;
}

void unmap_window(Napi::Env, void* data, size_t* len) {
  {
    std::lock_guard<std::mutex> lock(g_map_mutex);
    for (MappedWindow& w : g_windows) {
      if (w.start.load(std::memory_order_relaxed) == uintptr_t(data)) {
        w.start.store(0, std::memory_order_release);
        w.len.store(0, std::memory_order_release);
        break;
      }
    }
  }
  munmap(data, *len);
  delete len;
}

// Slots of the state array shared with JS (src/pcap/native-walk.ts names them the same).
// kStop (walkAhead's answer, also after walk()) is left out for a state array of 4.
enum StateSlot { kPos = 0, kCount = 1, kNeed = 2, kWarnAt = 3, kStateSlots = 4, kStop = 4 };
// What walk() returns: why it stopped.
enum Stop { kStopNeed = 1, kStopFlush = 2, kStopBadCaplen = 3 };

template <typename T>
T* data_of(const Napi::Value& v) {
  return reinterpret_cast<T*>(static_cast<uint8_t*>(v.As<Napi::TypedArray>().ArrayBuffer().Data()) +
                              v.As<Napi::TypedArray>().ByteOffset());
}

}  // namespace

Napi::Function JsPcapRecordWalker::Init(Napi::Env env) {
  return DefineClass(env, "PcapRecordWalker",
                     {InstanceMethod<&JsPcapRecordWalker::Walk>("walk", napi_default_method),
                      InstanceMethod<&JsPcapRecordWalker::WalkAhead>("walkAhead", napi_default_method),
                      StaticMethod<&JsPcapRecordWalker::Map>("map", napi_default_method)});
}

// map(fd, offset, length) -> an ArrayBuffer over bytes [offset, offset + length) of the file, or
// undefined (the reader then reads that window instead). offset is a multiple of the page size.
// A private, writable mapping: the page cache's own pages, neither copied nor zeroed (a cold read
// spent most of its time copying the file into fresh memory and faulting that memory in), and a
// batch may still be written to without touching the file. Unmapped when the ArrayBuffer is
// collected, that is once no chunk or batch points into it any more.
Napi::Value JsPcapRecordWalker::Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber())
    throw Napi::TypeError::New(env, "PcapRecordWalker.map(fd, offset, length)");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const double offset = info[1].As<Napi::Number>().DoubleValue();
  const double length = info[2].As<Napi::Number>().DoubleValue();
  if (!(offset >= 0) || !(length > 0) || length > double(1u << 30) || std::fmod(offset, double(sysconf(_SC_PAGESIZE))) != 0)
    throw Napi::RangeError::New(env, "PcapRecordWalker.map(): offset must be page-aligned and length in (0, 1 GiB]");
  std::lock_guard<std::mutex> lock(g_map_mutex);
  install_sigbus_handler();
  if (!g_bus_installed) return env.Undefined();
  MappedWindow* slot = nullptr;
  for (MappedWindow& w : g_windows) {
    if (w.start.load(std::memory_order_relaxed) == 0) {
      slot = &w;
      break;
    }
  }
  if (slot == nullptr) return env.Undefined();  // too many windows alive: read instead
  const size_t len = size_t(length);
  void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, off_t(offset));
  if (mem == MAP_FAILED) return env.Undefined();
  slot->len.store(len, std::memory_order_release);
  slot->start.store(uintptr_t(mem), std::memory_order_release);
  return Napi::ArrayBuffer::New(env, mem, len, unmap_window, new size_t(len));
}

JsPcapRecordWalker::JsPcapRecordWalker(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsPcapRecordWalker>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsBuffer() || !info[1].IsNumber() || !info[2].IsTypedArray())
    throw Napi::TypeError::New(env, "PcapRecordWalker(fileHeader, maxBlockLength, state)");
  auto head = info[0].As<Napi::Buffer<uint8_t>>();
  if (walker_.header(head.Data(), head.Length()) != PcapWalker::Step::kRecord)
    throw Napi::Error::New(env, "PcapRecordWalker: the file header was refused (" + walker_.error().reason + ")");
  walker_.limit_block(info[1].ToNumber().Uint32Value());
  auto state = info[2].As<Napi::TypedArray>();
  if (state.TypedArrayType() != napi_float64_array || state.ElementLength() < kStateSlots)
    throw Napi::TypeError::New(env, "PcapRecordWalker: state must be a Float64Array of 4");
  state_ref_ = Napi::Reference<Napi::Float64Array>::New(state.As<Napi::Float64Array>(), 1);
  state_ = data_of<double>(state);
  state_slots_ = state.ElementLength();
}

// walk(chunk, pos, end, base, dataOffset, capLen, origLen, tsSec, tsNsec, count, capacity) -> stop.
// Records from chunk[pos, end) go into the arrays from index `count` on; state says where it
// stopped (pos, count, need), the file offset of the first fraction carried into the seconds
// (-1 if none). kStopBadCaplen: the record at state[kPos] claims more than the file allows (JS
// reads the length there and says so in its own words).
// The walk itself, shared by walk() and walkAhead(): records from buf[pos, end) go into the
// columns from index n on until capacity, the input or an error stops it.
JsPcapRecordWalker::Result JsPcapRecordWalker::walk_records(const uint8_t* buf, size_t pos, size_t end, uint64_t base,
                                                            const Columns& out, uint32_t n, uint32_t capacity) {
  Result res;
  TraceRecord r;
  TraceProblem warning;
  for (;;) {
    if (n == capacity) {
      res.stop = kStopFlush;
      break;
    }
    size_t used = 0;
    const PcapWalker::Step step = walker_.next(buf + pos, end - pos, base + pos, r, used);
    if (step == PcapWalker::Step::kNeed) {
      res.need = walker_.need();
      break;
    }
    if (step == PcapWalker::Step::kError) {  // the only error of a record: its captured length
      res.stop = kStopBadCaplen;
      break;
    }
    if (walker_.take_warning(warning)) res.warn_at = double(warning.offset);
    out.data_offset[n] = uint32_t(pos + r.off);
    out.cap_len[n] = r.caplen;
    out.orig_len[n] = r.origlen;
    out.ts_sec[n] = r.sec;
    out.ts_nsec[n] = r.nsec;
    ++n;
    pos += used;
  }
  res.pos = pos;
  res.count = n;
  return res;
}

void JsPcapRecordWalker::publish(const Result& res) {
  state_[kPos] = double(res.pos);
  state_[kCount] = double(res.count);
  state_[kWarnAt] = res.warn_at;
  if (res.stop == kStopNeed) state_[kNeed] = double(res.need);
  if (state_slots_ > kStop) state_[kStop] = res.stop;
}

Napi::Value JsPcapRecordWalker::Walk(const Napi::CallbackInfo& info) {
  const auto chunk = info[0].As<Napi::Buffer<uint8_t>>();
  const size_t pos = info[1].As<Napi::Number>().Uint32Value();
  const size_t end = info[2].As<Napi::Number>().Uint32Value();
  const uint64_t base = uint64_t(info[3].As<Napi::Number>().DoubleValue());
  const Columns out{data_of<uint32_t>(info[4]), data_of<uint32_t>(info[5]), data_of<uint32_t>(info[6]),
                    data_of<double>(info[7]), data_of<uint32_t>(info[8])};
  const uint32_t n = info[9].As<Napi::Number>().Uint32Value();
  const uint32_t capacity = info[10].As<Napi::Number>().Uint32Value();
  if (end > chunk.Length() || pos > end || capacity > info[4].As<Napi::TypedArray>().ElementLength())
    throw Napi::RangeError::New(info.Env(), "PcapRecordWalker.walk(): window or capacity out of bounds");
  const Result res = walk_records(chunk.Data(), pos, end, base, out, n, capacity);
  publish(res);
  return Napi::Number::New(info.Env(), res.stop);
}

// walkAhead()'s work on a libuv thread: the walk of one window into the walker's own columns, then
// the batch's arrays in one block of exactly its length (the layout of src/pcap/batch.ts
// finishCopy: tsSec, dataOffset, capLen, origLen, iface, tsNsec as n each, then kinds). The fresh
// block's page faults, the walk and the faults on a mapped window's pages all happen there,
// while JS iterates the batch before.
class JsPcapRecordWalker::Ahead : public Napi::AsyncWorker {
 public:
  Ahead(Napi::Env env, JsPcapRecordWalker* walker, Napi::Object self, Napi::Object chunk, const uint8_t* buf, size_t pos,
        size_t end, uint64_t base, uint32_t capacity)
      : Napi::AsyncWorker(env, "nmcap.walkAhead"),
        deferred_(Napi::Promise::Deferred::New(env)),
        walker_(walker),
        buf_(buf),
        pos_(pos),
        end_(end),
        base_(base),
        capacity_(capacity) {
    self_ = Napi::Persistent(self);
    chunk_ = Napi::Persistent(chunk);
  }
  ~Ahead() override { std::free(block_); }

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    Scratch& s = walker_->scratch_;
    if (s.sec.size() < capacity_) {
      s.off.resize(capacity_), s.cap.resize(capacity_), s.orig.resize(capacity_), s.nsec.resize(capacity_);
      s.sec.resize(capacity_);
    }
    res_ = walker_->walk_records(buf_, pos_, end_, base_,
                                 Columns{s.off.data(), s.cap.data(), s.orig.data(), s.sec.data(), s.nsec.data()}, 0, capacity_);
    const size_t n = res_.count;
    if (n == 0) return;
    bytes_ = n * 29;
    block_ = static_cast<uint8_t*>(std::malloc(bytes_));
    if (block_ == nullptr) return SetError("out of memory for a batch of " + std::to_string(n) + " packets");
    std::memcpy(block_, s.sec.data(), n * 8);
    std::memcpy(block_ + n * 8, s.off.data(), n * 4);
    std::memcpy(block_ + n * 12, s.cap.data(), n * 4);
    std::memcpy(block_ + n * 16, s.orig.data(), n * 4);
    std::memset(block_ + n * 20, 0, n * 4);  // iface: classic pcap has one
    std::memcpy(block_ + n * 24, s.nsec.data(), n * 4);
    std::memset(block_ + n * 28, 0, n);  // kinds: KIND_PCAP
  }

  void OnOK() override {
    Napi::Env env = Env();
    walker_->publish(res_);
    if (block_ == nullptr) return deferred_.Resolve(env.Undefined());
    uint8_t* block = block_;
    block_ = nullptr;
    deferred_.Resolve(Napi::ArrayBuffer::New(env, block, bytes_, [](Napi::Env, void* data) { std::free(data); }));
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  JsPcapRecordWalker* walker_;
  Napi::ObjectReference self_, chunk_;  // the walker and the window stay alive while walked
  const uint8_t* buf_;
  size_t pos_, end_;
  uint64_t base_;
  uint32_t capacity_;
  Result res_;
  uint8_t* block_ = nullptr;
  size_t bytes_ = 0;
};

// walkAhead(chunk, pos, end, base, capacity) -> Promise<ArrayBuffer | undefined>: walk() of a
// window from index 0 on a libuv thread, into arrays of the batch's own (undefined: no packet);
// the state array says where it stopped, as after walk(). One walk at a time per walker.
Napi::Value JsPcapRecordWalker::WalkAhead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto chunk = info[0].As<Napi::Buffer<uint8_t>>();
  const size_t pos = info[1].As<Napi::Number>().Uint32Value();
  const size_t end = info[2].As<Napi::Number>().Uint32Value();
  const uint64_t base = uint64_t(info[3].As<Napi::Number>().DoubleValue());
  const uint32_t capacity = info[4].As<Napi::Number>().Uint32Value();
  if (end > chunk.Length() || pos > end || capacity == 0)
    throw Napi::RangeError::New(env, "PcapRecordWalker.walkAhead(): window or capacity out of bounds");
  auto* work = new Ahead(env, this, info.This().As<Napi::Object>(), chunk, chunk.Data(), pos, end, base, capacity);
  Napi::Promise p = work->promise();
  work->Queue();
  return p;
}

}  // namespace nmc
