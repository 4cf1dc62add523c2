// The dispatch stage of --threads N (see ring_dispatch.h).
#include "loops/ring_dispatch.h"

#include <algorithm>
#include <cstring>

#include "loops/frame_rewrite.h"
#include "ports/af_xdp/xdp_prog.h"
#include "ring/clock.h"
#include "ring/walkers.h"

namespace nmc {

// --- flows ------------------------------------------------------------------------------------

namespace {

inline uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

// One end of a flow: address bytes then port bytes, compared as bytes to order the two ends.
struct FlowEnd {
  uint8_t b[18];
  uint32_t n = 0;
  void put(const uint8_t* p, uint32_t len) {
    std::memcpy(b + n, p, len);
    n += len;
  }
};

inline uint64_t fnv(uint64_t h, const uint8_t* p, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
  return h;
}

// Both ends in a fixed order, so the two directions of a conversation hash alike.
uint64_t hash_ends(uint64_t h, const FlowEnd& x, const FlowEnd& y) {
  bool swap = std::memcmp(x.b, y.b, x.n) > 0;
  const FlowEnd& lo = swap ? y : x;
  const FlowEnd& hi = swap ? x : y;
  h = fnv(h, lo.b, lo.n);
  h = fnv(h, hi.b, hi.n);
  // splitmix64's finaliser: every bit of the key reaches the low bits the ring is taken from.
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

inline bool has_ports(uint8_t proto) { return proto == 6 || proto == 17 || proto == 132; }

}  // namespace

uint64_t flow_hash(uint16_t link_type, const uint8_t* d, uint32_t len) {
  uint64_t h = 0xCBF29CE484222325ull;
  uint32_t at = 0;
  uint16_t ethertype = 0;
  if (link_type == kLinkEthernet) {
    if (len < 14) return hash_ends(fnv(h, d, len), FlowEnd{}, FlowEnd{});
    ethertype = be16(d + 12);
    at = 14;
    while ((ethertype == 0x8100 || ethertype == 0x88A8 || ethertype == 0x9100) && len >= at + 4) {
      uint8_t vid[2] = {uint8_t(d[at] & 0x0F), d[at + 1]};
      h = fnv(h, vid, 2);
      ethertype = be16(d + at + 2);
      at += 4;
    }
  } else if (link_type == kLinkNull || link_type == kLinkLoop || link_type == kLinkRaw || link_type == kLinkIpv4 ||
             link_type == kLinkIpv6) {
    at = link_type == kLinkNull || link_type == kLinkLoop ? 4 : 0;
    if (len > at) ethertype = (d[at] >> 4) == 4 ? 0x0800 : (d[at] >> 4) == 6 ? 0x86DD : 0;
  }
  FlowEnd src, dst;
  if (ethertype == 0x0800 && len >= at + 20 && (d[at] >> 4) == 4) {
    const uint8_t* ip = d + at;
    const uint32_t ihl = uint32_t(ip[0] & 0x0F) * 4;
    const uint8_t proto = ip[9];
    const bool fragment = (be16(ip + 6) & 0x3FFF) != 0;  // more fragments, or an offset
    src.put(ip + 12, 4);
    dst.put(ip + 16, 4);
    if (has_ports(proto) && !fragment && ihl >= 20 && len >= at + ihl + 4) {
      src.put(ip + ihl, 2);
      dst.put(ip + ihl + 2, 2);
    }
    return hash_ends(fnv(h, &proto, 1), src, dst);
  }
  if (ethertype == 0x86DD && len >= at + 40 && (d[at] >> 4) == 6) {
    const uint8_t* ip = d + at;
    const uint8_t next = ip[6];
    src.put(ip + 8, 16);
    dst.put(ip + 24, 16);
    if (has_ports(next) && len >= at + 44) {
      src.put(ip + 40, 2);
      dst.put(ip + 42, 2);
    }
    return hash_ends(fnv(h, &next, 1), src, dst);
  }
  if (link_type != kLinkEthernet) return hash_ends(fnv(h, d, std::min<uint32_t>(len, 16)), src, dst);
  uint8_t et[2] = {uint8_t(ethertype >> 8), uint8_t(ethertype)};
  dst.put(d, 6);
  src.put(d + 6, 6);
  return hash_ends(fnv(h, et, 2), src, dst);
}

uint32_t tx_queues_of(Port& port) {
  const std::string& ifname = port.info().ifname;
  uint32_t rings = uint32_t(port.tx_rings().size());
  if (ifname.empty()) return rings;
  try {
    // The interface's TX queues as the driver reports them (the count AF_XDP checks queues against).
    return std::max(rings, xdp::queue_counts(ifname, xdp::query_link(ifname)).tx);
  } catch (const std::exception&) {
    return rings;
  }
}

// --- sub-batches --------------------------------------------------------------------------------

struct RingDispatch::Sub {
  uint32_t id = 0;
  uint32_t ring = 0;
  uint32_t parent = 0;
  ReplayBatch from;  // the parent's bytes
  std::vector<uint32_t> off, caplen, origlen, nsec;
  std::vector<double> sec;
  std::vector<uint64_t> due;

  void reset(uint32_t parent_no, const ReplayBatch& b) {
    parent = parent_no;
    from = b;
    off.clear(), caplen.clear(), origlen.clear(), nsec.clear(), sec.clear(), due.clear();
  }
  void add(uint32_t i, uint64_t deadline) {
    off.push_back(from.off[i]);
    caplen.push_back(from.caplen[i]);
    origlen.push_back(from.origlen[i]);
    sec.push_back(from.sec[i]);
    nsec.push_back(from.nsec[i]);
    due.push_back(deadline);
  }
  ReplayBatch view() const {
    ReplayBatch v;
    v.id = id;
    v.data = from.data;
    v.data_len = from.data_len;
    v.off = off.data();
    v.caplen = caplen.data();
    v.origlen = origlen.data();
    v.sec = sec.data();
    v.nsec = nsec.data();
    v.count = uint32_t(off.size());
    v.link_type = from.link_type;
    v.due = due.data();
    return v;
  }
};

// What a ring's loop says, routed back to the dispatcher.
class RingDispatch::RingEvents : public ReplayEvents {
 public:
  RingEvents(RingDispatch& d, uint32_t ring) : d_(d), ring_(ring) {}
  void consumed(uint32_t sub_id) override { d_.sub_done(sub_id, *up_); }
  void progress(const ReplayStats& st) override { d_.ring_progress(ring_, st, *up_); }
  ReplayEvents* up_ = nullptr;

 private:
  RingDispatch& d_;
  uint32_t ring_;
};

namespace {

// The cursor's own hand-backs are ignored: the dispatcher gives a parent back once every ring
// has consumed its part of it.
class HeldBatches : public ReplayEvents {
 public:
  void consumed(uint32_t) override {}
  void progress(const ReplayStats&) override {}
};

// Parents in flight (being sent by the rings) before the dispatcher waits: bounds the memory of
// preloaded passes; streamed input is bounded by its source (JS's high water, the feed's chunks).
constexpr size_t kParentsInFlight = 16;

void add_ring_stats(ReplayStats& t, const ReplayStats& s) {
  t.queued += s.queued;
  t.queued_bytes += s.queued_bytes;
  t.sent += s.sent;
  t.sent_bytes += s.sent_bytes;
  t.failed += s.failed;
  t.truncated += s.truncated;
  t.unconvertible += s.unconvertible;
  t.syncs += s.syncs;
  t.burst_max = std::max(t.burst_max, s.burst_max);
  if (s.start_ns && (!t.start_ns || s.start_ns < t.start_ns)) t.start_ns = s.start_ns;
  t.end_ns = std::max(t.end_ns, s.end_ns);
  t.last_sync_ns = std::max(t.last_sync_ns, s.last_sync_ns);
  t.pending += s.pending;
  t.ring_full_waits += s.ring_full_waits;
  t.ring_full_ns += s.ring_full_ns;
  t.thread_cpu_ns += s.thread_cpu_ns;
  t.wait_cpu_ns += s.wait_cpu_ns;
  t.sleep_cpu_ns += s.sleep_cpu_ns;
  t.preemptions += s.preemptions;
  t.departure.merge(s.departure);
}

}  // namespace

// --- the dispatcher ------------------------------------------------------------------------------

RingDispatch::RingDispatch(std::vector<std::shared_ptr<Port>> ports, std::vector<int> ring_cpus)
    : ports_(std::move(ports)), cpus_(std::move(ring_cpus)) {
  for (uint32_t k = 0; k < ports_.size(); ++k) {
    inputs_.push_back(std::make_unique<ReplayInput>());
    ring_events_.push_back(std::make_unique<RingEvents>(*this, k));
  }
  progress_.resize(ports_.size());
  filling_.assign(ports_.size(), nullptr);
}

RingDispatch::~RingDispatch() {
  for (auto& in : inputs_) in->end_input();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void RingDispatch::wake() {
  for (auto& in : inputs_) in->end_input();  // under the input's lock: no wake-up is lost
  std::lock_guard<std::mutex> lk(m_);
  cv_.notify_all();
}

RingDispatch::Sub* RingDispatch::take_sub(uint32_t ring) {
  std::lock_guard<std::mutex> lk(m_);
  Sub* s;
  if (!free_subs_.empty()) {
    s = subs_[free_subs_.back() - 1].get();
    free_subs_.pop_back();
  } else {
    subs_.push_back(std::make_unique<Sub>());
    s = subs_.back().get();
    s->id = uint32_t(subs_.size());
  }
  s->ring = ring;
  return s;
}

// Hands the filled sub-batches of the current parent to their rings.
void RingDispatch::emit(ReplayEvents& events) {
  if (!filling_parent_) return;
  uint32_t n = 0;
  for (Sub* s : filling_) n += s != nullptr;
  bool give_back = false;
  uint32_t id = 0;
  {
    std::lock_guard<std::mutex> lk(m_);
    Parent& p = parents_[filling_parent_];
    p.refs = n;  // before any ring can consume its part
    if (n == 0) {
      give_back = p.give_back;
      id = p.id;
      parents_.erase(filling_parent_);
    }
  }
  if (give_back) events.consumed(id);
  for (uint32_t k = 0; k < filling_.size(); ++k) {
    if (!filling_[k]) continue;
    inputs_[k]->push(filling_[k]->view());
    filling_[k] = nullptr;
  }
  filling_parent_ = 0;
}

void RingDispatch::sub_done(uint32_t sub_id, ReplayEvents& events) {
  bool give_back = false;
  uint32_t id = 0;
  {
    std::lock_guard<std::mutex> lk(m_);
    if (sub_id == 0 || sub_id > subs_.size()) return;
    auto it = parents_.find(subs_[sub_id - 1]->parent);
    free_subs_.push_back(sub_id);
    if (it != parents_.end() && --it->second.refs == 0) {
      give_back = it->second.give_back;
      id = it->second.id;
      parents_.erase(it);
    }
    cv_.notify_all();
  }
  if (give_back) events.consumed(id);
}

void RingDispatch::ring_progress(uint32_t ring, const ReplayStats& st, ReplayEvents& events) {
  ReplayStats total;
  {
    std::lock_guard<std::mutex> lk(m_);
    progress_[ring] = st;
    for (const ReplayStats& s : progress_) add_ring_stats(total, s);
  }
  events.progress(total);
}

// A ring that ends on its own before its input did (a port error, --duration at topspeed)
// ends the whole replay.
void RingDispatch::ring_ended(uint32_t, ReplayEnd end, StopSignal& stop) {
  if (end == ReplayEnd::kDone || end == ReplayEnd::kStopped) return;
  {
    std::lock_guard<std::mutex> lk(m_);
    if (halt_ == ReplayEnd::kDone) halt_ = end;
    cv_.notify_all();
  }
  stop.request();
  wake();
}

ReplayResult RingDispatch::run(const ReplayConfig& cfg, ReplayInput& input, ReplayEvents& events, StopSignal& stop,
                               std::vector<RingReport>* rings) {
  const uint32_t n = uint32_t(ports_.size());
  for (auto& e : ring_events_) e->up_ = &events;

  // Every ring runs the replay loop, scheduled: deadlines, the emulated link and the limit are
  // the dispatcher's.
  std::vector<ReplayConfig> ring_cfg(n, cfg);
  std::vector<ReplayResult> results(n);
  for (uint32_t k = 0; k < n; ++k) {
    ring_cfg[k].preload = false;
    ring_cfg[k].loops = 1;
    ring_cfg[k].limit = 0;
    ring_cfg[k].shared_start = &shared_start_;
    if (!cpus_.empty()) ring_cfg[k].placement.cpu = cpus_[k % cpus_.size()];
  }
  for (uint32_t k = 0; k < n; ++k) {
    threads_.emplace_back([&, k] {
      results[k] = run_replay(*ports_[k], ring_cfg[k], *inputs_[k], *ring_events_[k], stop);
      ring_ended(k, results[k].end, stop);
    });
  }

  // The dispatcher's own counts (records it could not send, the emulated link's losses, passes,
  // waits for JS); the rings add the rest.
  ReplayStats own;
  HeldBatches held;
  RecordCursor src(cfg, input, held, stop, own);
  src.take_preload();
  Schedule sched(cfg.mode, cfg.rate_num, cfg.rate_den, cfg.mult_num, cfg.mult_den);
  const bool paced = sched.paced() || cfg.emu.shapes_time();
  const bool trace_timed = cfg.mode == RateMode::kMultiplier;
  LinkEmu emu(cfg.emu);
  FrameRewrite rewrite(cfg.edits);
  Port& first = *ports_[0];
  const bool rewrite_on = first.info().link_type == kLinkEthernet;
  const uint32_t max_frame = first.tx_rings().empty() ? 0 : tx_max_frame(first.info(), first.tx_rings()[0]);
  uint64_t packets = 0, bits = 0, dispatched = 0, batches_seen = 0;

  ReplayEnd end = ReplayEnd::kDone;
  for (;;) {
    if (stop.requested()) {
      end = ReplayEnd::kStopped;
      break;
    }
    Record p;
    if (!src.peek(p, [&] { emit(events); })) {
      end = stop.requested() ? ReplayEnd::kStopped : ReplayEnd::kDone;
      break;
    }
    if (src.batches_fetched() != batches_seen) {  // a new parent batch
      emit(events);
      batches_seen = src.batches_fetched();
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return parents_.size() < kParentsInFlight || stop.requested(); });
      filling_parent_ = next_parent_++;
      if (next_parent_ == 0) next_parent_ = 1;
      parents_[filling_parent_] = Parent{src.batch().id, 0, !cfg.preload};
      if (stop.requested()) continue;
    }
    if (cfg.limit && dispatched + own.failed + own.emu_dropped >= cfg.limit) {
      end = ReplayEnd::kLimit;
      break;
    }
    const uint32_t i = src.index();
    const uint16_t link = src.batch().link_type;
    uint32_t len = 0;
    FrameFit fit = fit_frame_length(rewrite, rewrite_on, link, max_frame, cfg.truncate_oversize, p, &len);
    if (fit != FrameFit::kOk) {  // counted here; the rings never see it
      ++own.failed;
      if (fit == FrameFit::kUnconvertible) ++own.unconvertible;
      src.advance();
      continue;
    }
    uint64_t due = sched.deadline(packets, bits, trace_timed ? src.trace().rel_ns(p.sec, p.nsec) : 0);
    ++packets;
    bits += uint64_t(len) * 8;
    if (emu.active()) {
      LinkEmu::Out out = emu.pass(due, len);
      if (out.lost) {
        ++own.emu_dropped;
        src.advance();
        continue;
      }
      due = out.at_ns;
    }
    if (paced && cfg.duration_ns && due >= cfg.duration_ns) {
      end = ReplayEnd::kDuration;
      break;
    }
    const uint32_t ring = n == 1 ? 0 : uint32_t(flow_hash(link, p.data, p.caplen) % n);
    Sub*& s = filling_[ring];
    if (!s) {
      s = take_sub(ring);
      std::lock_guard<std::mutex> lk(m_);
      s->reset(filling_parent_, src.batch());
    }
    s->add(i, due);
    ++dispatched;
    src.advance();
  }
  emit(events);
  for (auto& in : inputs_) in->end_input();
  for (auto& t : threads_) t.join();
  threads_.clear();

  ReplayResult res;
  res.stats = own;
  rings->assign(n, RingReport{});
  for (uint32_t k = 0; k < n; ++k) {
    const ReplayResult& r = results[k];
    add_ring_stats(res.stats, r.stats);
    RingReport& rr = (*rings)[k];
    rr.end = r.end;
    rr.queued = r.stats.queued;
    rr.sent = r.stats.sent;
    rr.pending = r.stats.pending;
    rr.failed = r.stats.failed;
    rr.thread_cpu_ns = r.stats.thread_cpu_ns;
    rr.sender = r.sender;
    if ((r.end == ReplayEnd::kError || r.end == ReplayEnd::kPeerClosed) && res.error_code.empty()) {
      res.end = r.end;
      res.error_code = r.error_code;
      res.error = r.error;
    }
  }
  res.stats.thread_cpu_ns += thread_usage().cpu_ns;  // the dispatcher is part of the sender's cost
  if (res.error_code.empty()) res.end = halt_ != ReplayEnd::kDone ? halt_ : end;
  res.sender = results[0].sender;
  return res;
}

}  // namespace nmc
