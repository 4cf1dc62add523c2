// --threads N (netmap pkt-gen's -p): one sending thread per TX queue, each running the replay
// loop (loops/replay_loop.h) on its own Port opened on that queue, fed by one dispatch stage.
//
// The dispatcher (on the session's thread) takes the batches as the single-ring loop does
// (RecordCursor: JS batches, the native reader's chunks, preloaded passes) and, per record:
//   due time from ONE schedule (the pacer's Schedule over all rings, so the total rate is exact)
//   -> the emulated link (one link for the whole replay) -> the flow's ring (flow_ring below)
//   -> the record's index, lengths and deadline appended to that ring's sub-batch.
// Sub-batches point into the parent batch's bytes; the parent goes back to JS (or to the
// native reader) once every ring has consumed its part. Each ring's loop runs "scheduled":
// the deadline comes with the record, counted from a start shared by all rings.
//
// A flow is what has the same flow key, whichever direction it goes (so a request and its
// reply stay in order too): for IPv4/IPv6 the protocol, both addresses and, for TCP, UDP and
// SCTP, both ports (in unfragmented IPv4 packets, and in IPv6 packets whose next header is the
// TCP/UDP/SCTP header itself: a fragment, or a packet with extension headers, goes by next header
// and addresses alone); for anything else the two MAC
// addresses and the ethertype. 802.1Q/802.1ad tags are skipped to find the IP header and
// their VLAN IDs are part of the key. Packets of one flow always go to the same ring, where
// they leave in trace order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "loops/replay_loop.h"

namespace nmc {

// The flow key's hash of one record (of LINKTYPE_ link_type) as described above.
uint64_t flow_hash(uint16_t link_type, const uint8_t* data, uint32_t len);

// TX queues the port's interface has (a pipe or a port without interface: its TX rings).
uint32_t tx_queues_of(Port& port);

struct RingReport {
  ReplayEnd end = ReplayEnd::kDone;
  uint64_t queued = 0, sent = 0, pending = 0, failed = 0;
  uint64_t thread_cpu_ns = 0;
  SenderThreadState sender;
};

class RingDispatch {
 public:
  // ports[k] sends ring k's packets (one TX ring each); ring_cpus[k] (if given) pins ring k.
  RingDispatch(std::vector<std::shared_ptr<Port>> ports, std::vector<int> ring_cpus);
  ~RingDispatch();

  // The whole replay: returns totals (ReplayResult::stats) and fills `rings`.
  ReplayResult run(const ReplayConfig& cfg, ReplayInput& input, ReplayEvents& events, StopSignal& stop,
                   std::vector<RingReport>* rings);
  // After stop.request(): wakes the dispatcher and every ring that waits for input.
  void wake();

 private:
  struct Sub;
  struct Parent {
    uint32_t id = 0;
    uint32_t refs = 0;
    bool give_back = false;  // streamed: back to JS once every ring is done with it
  };
  class RingEvents;

  void emit(ReplayEvents& events);
  void sub_done(uint32_t sub_id, ReplayEvents& events);
  void ring_progress(uint32_t ring, const ReplayStats& st, ReplayEvents& events);
  void ring_ended(uint32_t ring, ReplayEnd end, StopSignal& stop);
  Sub* take_sub(uint32_t ring);

  std::vector<std::shared_ptr<Port>> ports_;
  std::vector<int> cpus_;
  std::vector<std::unique_ptr<ReplayInput>> inputs_;
  std::vector<std::unique_ptr<RingEvents>> ring_events_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> shared_start_{0};

  std::mutex m_;
  std::condition_variable cv_;                     // a parent was released, or a ring ended
  std::vector<std::unique_ptr<Sub>> subs_;         // by id - 1
  std::vector<uint32_t> free_subs_;
  std::unordered_map<uint32_t, Parent> parents_;   // by the dispatcher's own parent number
  uint32_t next_parent_ = 1;
  bool ring_failed_ = false;
  ReplayEnd halt_ = ReplayEnd::kDone;              // the first ring that ended on its own, and why
  std::vector<ReplayStats> progress_;              // the latest progress of each ring

  // Dispatcher thread only: the sub-batch being filled for each ring, and its parent.
  std::vector<Sub*> filling_;
  uint32_t filling_parent_ = 0;
};

}  // namespace nmc
