#include "js/js_pcap_walk.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
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
enum StateSlot { kPos = 0, kCount = 1, kNeed = 2, kWarnAt = 3, kStateSlots = 4 };
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
                      StaticMethod<&JsPcapRecordWalker::Map>("map", napi_default_method)});
}

// map(fd, offset, length) -> an ArrayBuffer over bytes [offset, offset + length) of the file, or
// undefined (the reader then reads that window instead: over 1 GiB, too many windows alive, or
// mmap refused). offset is a multiple of the page size.
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
  if (!(offset >= 0) || !(length > 0) || std::fmod(offset, double(sysconf(_SC_PAGESIZE))) != 0)
    throw Napi::RangeError::New(env, "PcapRecordWalker.map(): offset must be page-aligned and length above 0");
  if (length > double(1u << 30)) return env.Undefined();  // a giant chunkSize: read instead
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
}

// walk(chunk, pos, end, base, dataOffset, capLen, origLen, tsSec, tsNsec, count, capacity) -> stop.
// Records from chunk[pos, end) go into the arrays from index `count` on; state says where it
// stopped (pos, count, need), the file offset of the first fraction carried into the seconds
// (-1 if none). kStopBadCaplen: the record at state[kPos] claims more than the file allows (JS
// reads the length there and says so in its own words).
Napi::Value JsPcapRecordWalker::Walk(const Napi::CallbackInfo& info) {
  const auto chunk = info[0].As<Napi::Buffer<uint8_t>>();
  const uint8_t* buf = chunk.Data();
  size_t pos = info[1].As<Napi::Number>().Uint32Value();
  const size_t end = info[2].As<Napi::Number>().Uint32Value();
  const uint64_t base = uint64_t(info[3].As<Napi::Number>().DoubleValue());
  uint32_t* data_offset = data_of<uint32_t>(info[4]);
  uint32_t* cap_len = data_of<uint32_t>(info[5]);
  uint32_t* orig_len = data_of<uint32_t>(info[6]);
  double* ts_sec = data_of<double>(info[7]);
  uint32_t* ts_nsec = data_of<uint32_t>(info[8]);
  uint32_t n = info[9].As<Napi::Number>().Uint32Value();
  const uint32_t capacity = info[10].As<Napi::Number>().Uint32Value();
  if (end > chunk.Length() || pos > end || capacity > info[4].As<Napi::TypedArray>().ElementLength())
    throw Napi::RangeError::New(info.Env(), "PcapRecordWalker.walk(): window or capacity out of bounds");
  state_[kWarnAt] = -1;
  int stop = kStopNeed;
  TraceRecord r;
  TraceProblem warning;
  for (;;) {
    if (n == capacity) {
      stop = kStopFlush;
      break;
    }
    size_t used = 0;
    const PcapWalker::Step step = walker_.next(buf + pos, end - pos, base + pos, r, used);
    if (step == PcapWalker::Step::kNeed) {
      state_[kNeed] = double(walker_.need());
      break;
    }
    if (step == PcapWalker::Step::kError) {  // the only error of a record: its captured length
      stop = kStopBadCaplen;
      break;
    }
    if (walker_.take_warning(warning)) state_[kWarnAt] = double(warning.offset);
    data_offset[n] = uint32_t(pos + r.off);
    cap_len[n] = r.caplen;
    orig_len[n] = r.origlen;
    ts_sec[n] = r.sec;
    ts_nsec[n] = r.nsec;
    ++n;
    pos += used;
  }
  state_[kPos] = double(pos);
  state_[kCount] = double(n);
  return Napi::Number::New(info.Env(), stop);
}

}  // namespace nmc
