// The replay loop: streams records into TX slots at a controlled rate, on a native thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "loops/frame_rewrite.h"
#include "loops/histogram.h"
#include "loops/link_emu.h"
#include "loops/pacer.h"
#include "loops/sender_thread.h"
#include "ring/port.h"
#include "ring/stop_signal.h"

namespace nmc {

// A batch of records parsed by src/pcap: packet bytes live in one chunk; per-packet arrays say
// where. The memory belongs to JS, which keeps it alive until the batch is given back.
struct ReplayBatch {
  uint32_t id = 0;
  const uint8_t* data = nullptr;
  size_t data_len = 0;
  const uint32_t* off = nullptr;
  const uint32_t* caplen = nullptr;
  const uint32_t* origlen = nullptr;
  const double* sec = nullptr;    // whole seconds
  const uint32_t* nsec = nullptr; // 0xFFFFFFFF = no timestamp
  uint32_t count = 0;
  bool loop_start = false;        // first batch of a new pass over the trace (streamed loops)
  uint16_t link_type = 1;         // LINKTYPE_ of every record in the batch (1 = Ethernet)
};

struct ReplayConfig {
  RateMode mode = RateMode::kTopspeed;
  uint64_t rate_num = 0, rate_den = 1;  // packets/s or bits/s
  uint64_t mult_num = 1, mult_den = 1;
  uint64_t limit = 0;          // packets (0 = no limit)
  uint64_t duration_ns = 0;    // 0 = no limit
  bool preload = false;        // batches stay; the loop passes over them `loops` times
  uint64_t loops = 1;          // preload only; 0 = forever
  uint32_t burst = 0;          // most packets per txsync (0 = automatic)
  bool truncate_oversize = false;  // send the first max_frame bytes of larger packets
  uint64_t progress_ns = 250000000;
  uint64_t drain_timeout_ns = 0;   // after a stop: how long to wait for pending packets (0 = 2 s)
  uint64_t drain_idle_ns = 0;      // after the last packet: give up once nothing left for this long (0 = wait)
  MacRewrite mac;                  // --dmac / --smac
  LinkEmuConfig emu;               // --delay / --loss / --bandwidth / --seed
  SenderPlacement placement;       // --realtime / --cpu
};

enum class ReplayEnd : uint8_t { kDone, kLimit, kDuration, kStopped, kPeerClosed, kError };

struct ReplayStats {
  uint64_t queued = 0;        // packets put into TX slots
  uint64_t queued_bytes = 0;
  uint64_t sent = 0;          // packets that left (queued minus still pending)
  uint64_t sent_bytes = 0;
  uint64_t failed = 0;        // not sent (too big for the port, empty records)
  uint64_t truncated = 0;     // sent shorter than their original length
  uint64_t unconvertible = 0; // of the failed: no Ethernet frame can be made of them (link type)
  uint64_t syncs = 0;         // txsyncs that handed packets over (bursts)
  uint64_t burst_max = 0;
  uint64_t loops_done = 0;    // passes over the trace made in full
  uint64_t start_ns = 0;      // CLOCK_MONOTONIC of the first departure
  uint64_t end_ns = 0;        // when the last packet had left (or we gave up waiting)
  uint64_t last_sync_ns = 0;  // when the last packet was handed over
  uint64_t pending = 0;       // still pending at the end (never counted as sent)
  uint64_t input_waits = 0;   // times the loop had to wait for JS to parse more records
  uint64_t ring_full_waits = 0;  // times the TX ring was full and we waited for the port
  uint64_t ring_full_ns = 0;     // time spent in those waits
  uint64_t thread_cpu_ns = 0;  // CPU time of the sending thread (set at the end)
  uint64_t preemptions = 0;    // times the sending thread was descheduled against its will
  uint64_t emu_dropped = 0;    // lost on purpose by the emulated link (--loss)
  LatencyHistogram departure;  // paced modes: handed-over time minus deadline, per packet
};

struct ReplayResult {
  ReplayEnd end = ReplayEnd::kDone;
  std::string error_code;
  std::string error;
  ReplayStats stats;
  SenderThreadState sender;  // what the sending thread got (policy, CPUs)
};

// Batches from JS, consumed by the replay thread.
class ReplayInput {
 public:
  void push(const ReplayBatch& b);
  void end_input();
  // Next batch, blocking while none is queued; false at the end of input or on stop.
  bool next(ReplayBatch& out, StopSignal& stop, bool* waited);
  void wake();  // after stop.request()
  bool ended() const;
  std::vector<ReplayBatch> take_all();  // preload: everything pushed so far

 private:
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<ReplayBatch> q_;
  bool ended_ = false;
};

// Calls from the replay thread to the JS session.
class ReplayEvents {
 public:
  virtual ~ReplayEvents() = default;
  virtual void consumed(uint32_t batch_id) = 0;         // JS may drop or reuse the batch
  virtual void progress(const ReplayStats& stats) = 0;  // non-blocking
};

ReplayResult run_replay(Port& port, const ReplayConfig& cfg, ReplayInput& input, ReplayEvents& events, StopSignal& stop);

}  // namespace nmc
