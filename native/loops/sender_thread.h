// Where and how the replay's sending thread runs: --realtime (SCHED_FIFO, as netmap nmreplay's
// -C) and --cpu N (pinned to one CPU). Applied by the sending thread to itself before its first
// packet, and read back from the kernel afterwards, so the report says what the thread really got
// (not what was asked for).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nmc {

struct SenderPlacement {
  bool realtime = false;
  int cpu = -1;  // -1 = wherever the scheduler puts it
};

struct SenderThreadState {
  int tid = 0;
  std::string policy;  // as the kernel reports it: "SCHED_OTHER", "SCHED_FIFO", ...
  int priority = 0;    // the real-time priority (0 for the normal policies)
  std::vector<int> cpus;  // the CPUs the thread may run on
  std::string realtime_error;  // --realtime could not be had: why, and what to do
  std::string cpu_error;       // --cpu could not be had
};

// The SCHED_FIFO priority --realtime asks for: above every normal thread, below the kernel's own
// real-time threads (which use 50 and up for interrupts).
inline constexpr int kRealtimePriority = 40;

// Applies `want` to the calling thread and reads back what it got.
SenderThreadState place_sender_thread(const SenderPlacement& want);

}  // namespace nmc
