// The capture loop: drains every RX ring of a port into pcapng EPBs, on a native thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loops/bpf.h"
#include "ring/port.h"
#include "ring/stop_signal.h"

namespace nmc {

struct CaptureConfig {
  uint32_t snaplen = 262144;    // bytes kept per packet
  uint64_t count = 0;           // stop after this many packets (0 = no limit)
  uint64_t duration_ns = 0;     // stop after this long (0 = no limit)
  uint32_t flush_ms = 100;      // hand a partly filled buffer over after this long
  std::vector<uint32_t> iface;  // pcapng interface id of each RX ring
  std::vector<uint32_t> ts_div; // ns per if_tsresol unit of each ring's interface (1 = ns, 1000 = us)
  // A checked classic-BPF program run on every packet (empty = keep all). Set only where the
  // backend did not filter in the kernel. Its result also caps the bytes kept, as in the kernel.
  std::vector<BpfInsn> filter;
  // The benchmarks' baseline receiver (bench/pipe.bench.mjs), as netmap's pkt-gen -f rx: wait,
  // count each ring's new slots by their flags alone, hand them back. No EPBs, no slot checks, no
  // buffers to JS: what draining the rings costs by itself.
  bool count_only = false;
  // With count_only: also load one byte of every 64-byte line of each whole-slot packet, so the
  // baseline includes bringing the data into this core's cache (what any copy of it pays first).
  bool count_reads = false;
};

// Running totals, handed to JS with every batch.
struct CaptureProgress {
  uint64_t packets = 0;     // written as EPBs
  uint64_t taken = 0;       // taken from the rings (head moved past them): written, filtered, invalid
  uint64_t wire_bytes = 0;  // their lengths on the wire
  uint64_t truncated = 0;   // cut to snaplen
  uint64_t invalid = 0;     // slots naming no valid buffer (skipped)
  uint64_t filtered = 0;    // rejected by the filter run here (0 when the kernel filters)
  uint64_t first_ts_ns = 0; // timestamps of the first and last packet (0 = none yet)
  uint64_t last_ts_ns = 0;
};

enum class CaptureEnd : uint8_t { kStopped, kCount, kDuration, kPeerClosed, kError };

struct CaptureResult {
  CaptureEnd end = CaptureEnd::kStopped;
  std::string error_code;
  std::string error;
  CaptureProgress progress;
  PortCounters counters;
};

// An output buffer JS lent us. The loop fills it with whole EPBs.
struct OutBuffer {
  uint8_t* data = nullptr;
  size_t capacity = 0;
  uint32_t id = 0;
};

// Where filled buffers go (the JS session). Calls come from the capture thread.
class CaptureSink {
 public:
  virtual ~CaptureSink() = default;
  // Blocks until JS has an empty buffer for us; nullptr once a stop was requested.
  virtual OutBuffer* take_buffer(StopSignal& stop) = 0;
  // Hands a filled buffer to JS without blocking. `last_at` is the offset of its last EPB, so JS
  // finds the batch's last timestamp without walking every block.
  virtual void deliver(OutBuffer* buf, size_t used, size_t last_at, const CaptureProgress& progress) = 0;
};

CaptureResult run_capture(Port& port, const CaptureConfig& cfg, CaptureSink& sink, StopSignal& stop);

}  // namespace nmc
