#include "loops/trace_feed.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nmc {

TraceFeed::TraceFeed(ReplayInput& input, TraceFeedEvents& events, size_t chunk_bytes, unsigned chunks)
    : input_(&input), events_(events), chunk_bytes_(chunk_bytes) {
  for (unsigned i = 0; i < chunks; ++i) {
    chunks_.push_back(std::make_unique<FeedChunk>());
    free_.push_back(chunks_.back().get());
  }
}

TraceFeed::~TraceFeed() { shutdown(); }

void TraceFeed::add(int fd, bool loop_start, uint32_t token) {
  {
    std::lock_guard<std::mutex> lk(m_);
    if (stopping_ || ended_input_) {
      ::close(fd);
      return;
    }
    files_.push_back(File{fd, loop_start, token});
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_all();
}

void TraceFeed::finish() {
  bool end_now = false;
  {
    std::lock_guard<std::mutex> lk(m_);
    finished_ = true;
    // Nothing queued and no reader: the input ends here (the reader ends it otherwise).
    if (!thread_.joinable() && !ended_input_) end_now = ended_input_ = true;
  }
  cv_.notify_all();
  if (end_now) input_->end_input();
}

void TraceFeed::shutdown() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lk(m_);
  for (const File& f : files_) ::close(f.fd);
  files_.clear();
}

bool TraceFeed::release(uint32_t batch_id) {
  if (!(batch_id & kIdBit)) return false;
  uint32_t i = batch_id & ~kIdBit;
  if (i < chunks_.size()) give_back(chunks_[i].get());
  return true;
}

void TraceFeed::give_back(FeedChunk* c) {
  {
    std::lock_guard<std::mutex> lk(m_);
    free_.push_back(c);
  }
  cv_.notify_all();
}

FeedChunk* TraceFeed::acquire() {
  std::unique_lock<std::mutex> lk(m_);
  cv_.wait(lk, [&] { return stopping_ || !free_.empty(); });
  if (stopping_) return nullptr;
  FeedChunk* c = free_.back();
  free_.pop_back();
  return c;
}

void TraceFeed::emit(FeedChunk* c) {
  if (sink_) {
    (*sink_)(*c);
    give_back(c);
    return;
  }
  ReplayBatch b;
  b.id = kIdBit | uint32_t(std::find_if(chunks_.begin(), chunks_.end(), [&](auto& p) { return p.get() == c; }) - chunks_.begin());
  b.data = c->bytes();
  b.data_len = c->len;
  b.off = c->off.data();
  b.caplen = c->caplen.data();
  b.origlen = c->origlen.data();
  b.sec = c->sec.data();
  b.nsec = c->nsec.data();
  b.count = c->count;
  b.loop_start = c->loop_start;
  b.link_type = c->link_type;
  input_->push(b);
}

void TraceFeed::run() {
  pthread_setname_np(pthread_self(), "nmreplay-read");
  for (;;) {
    File f;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return stopping_ || !files_.empty() || finished_; });
      if (stopping_) return;
      if (files_.empty()) break;  // finished, all read
      f = files_.front();
      files_.pop_front();
    }
    bool go_on = read_file(f);
    ::close(f.fd);
    if (!go_on) {
      std::lock_guard<std::mutex> lk(m_);
      if (stopping_) return;
      for (const File& g : files_) ::close(g.fd);
      files_.clear();
      break;
    }
  }
  {
    std::lock_guard<std::mutex> lk(m_);
    if (ended_input_) return;
    ended_input_ = true;
  }
  input_->end_input();
}

bool TraceFeed::read_file(const File& f) {
  ::posix_fadvise(f.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  PcapWalker w;
  PcapngWalker ng;
  bool format_known = false, pcapng = false;
  int announced = -1;  // the link type last said with file_started (pcapng: once per change)
  std::vector<uint8_t> carry;  // an incomplete header or record, carried to the front of the next chunk
  uint64_t carry_at = 0;       // its file offset
  uint64_t file_len = 0;       // bytes read so far
  bool eof = false;
  if (f.loop_start) pass_start_pending_ = true;  // an empty first file hands it on
  uint64_t packets = 0;
  TraceProblem p;
  for (;;) {
    FeedChunk* c = acquire();
    if (!c) return false;
    c->count = 0;
    const size_t want = std::max(chunk_bytes_, std::max(carry.size(), pcapng ? ng.need() : w.need()));
    c->place(want, carry.size(), file_len);
    if (!carry.empty()) std::memcpy(c->bytes(), carry.data(), carry.size());
    c->len = carry.size();
    // Arrays for 64-byte packets to start with; grown (and kept) when a chunk holds more.
    c->reserve(std::max<size_t>(1024, c->capacity() / 80));
    const uint64_t base = carry_at;
    const uint8_t* d = c->bytes();
    size_t pos = 0;
    bool failed = false, split = false;
    uint32_t n = 0;
    // Read the chunk a piece at a time and walk each piece at once, while its bytes are still in
    // this core's cache (a whole chunk read first would have left its start in a slower cache by
    // the time the walk reached it); stop at the chunk's end, the file's, an error, or a change
    // of link type.
    for (;;) {
      if (!format_known && (c->len >= 4 || eof)) {
        format_known = true;
        pcapng = PcapngWalker::is_pcapng(d, c->len);
      }
      if (format_known && pcapng) {
        n = walk_pcapng(ng, *c, base, pos, n, f.token, announced, failed, split);
      } else if (format_known) {
        if (!w.started()) {
          PcapWalker::Step s = w.header(d, c->len);
          if (s == PcapWalker::Step::kError) {
            give_back(c);
            events_.problem(f.token, true, w.error());
            return false;
          }
          if (s == PcapWalker::Step::kRecord) {
            pos = kPcapFileHeaderLen;
            events_.file_started(f.token, w.link_type());
          }
        }
        if (w.started()) n = walk_pcap(w, *c, base, pos, n, f.token, failed);
      }
      if (failed || split || eof || c->len == c->capacity()) break;
      const size_t piece = std::min(kReadBytes, c->capacity() - c->len);
      ssize_t got = ::read(f.fd, c->bytes() + c->len, piece);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        int e = errno;
        give_back(c);
        events_.problem(f.token, true, TraceProblem{"ERR_TRACE_UNREADABLE", file_len, std::string("read failed: ") + std::strerror(e)});
        return false;
      }
      if (got == 0) eof = true;
      c->len += size_t(got);
      file_len += uint64_t(got);
    }
    carry.assign(d + pos, d + c->len);
    carry_at = base + pos;
    c->count = n;
    packets += c->count;
    if (c->count > 0) {
      c->loop_start = pass_start_pending_;
      pass_start_pending_ = false;
      emit(c);  // packets before an error are kept
    } else {
      give_back(c);
    }
    if (failed) {
      events_.problem(f.token, true, pcapng ? ng.error() : w.error());
      return false;
    }
    if (eof && !split) {
      TraceEnd e = pcapng ? ng.end_of_input(carry_at, carry.size(), file_len, p) : w.end_of_input(carry_at, carry.size(), file_len, p);
      if (e == TraceEnd::kError) {
        events_.problem(f.token, true, p);
        return false;
      }
      if (e == TraceEnd::kWarning) events_.problem(f.token, false, p);
      events_.file_done(f.token, packets);
      return true;
    }
  }
}

// The classic pcap records of one chunk from `pos` (n of them already in c's arrays): the count.
uint32_t TraceFeed::walk_pcap(PcapWalker& w, FeedChunk& c, uint64_t base, size_t& pos, uint32_t n, uint32_t token, bool& failed) {
  c.link_type = w.link_type();
  PcapWalker::Step s;
  // kFull: the arrays grow (and stay grown) and the walk goes on.
  while ((s = w.walk(c.bytes(), pos, c.len, base, c.arrays(), n, uint32_t(c.off.size()))) == PcapWalker::Step::kFull)
    c.reserve(std::max<size_t>(1024, 2 * size_t(n)));
  TraceProblem p;
  if (w.take_warning(p)) events_.problem(token, false, p);
  failed = s == PcapWalker::Step::kError;
  return n;
}

// The pcapng blocks of one chunk from `pos` (n packets already in c's arrays): the count, all of
// one link type; `split` when the chunk stops before a packet of another link type.
uint32_t TraceFeed::walk_pcapng(PcapngWalker& w, FeedChunk& c, uint64_t base, size_t& pos, uint32_t n, uint32_t token,
                                int& announced, bool& failed, bool& split) {
  const uint8_t* d = c.bytes();
  for (;;) {
    TraceRecord r;
    uint16_t lt = 0;
    size_t used = 0;
    PcapngWalker::Step s = w.next(d + pos, c.len - pos, base + pos, r, lt, used, n > 0 ? int(c.link_type) : -1);
    for (const TraceProblem& p : w.warnings()) events_.problem(token, false, p);
    w.warnings().clear();
    if (s == PcapngWalker::Step::kNeed) break;
    if (s == PcapngWalker::Step::kLinkChange) {
      split = true;
      break;
    }
    if (s == PcapngWalker::Step::kError) {
      failed = true;
      break;
    }
    if (s == PcapngWalker::Step::kRecord) {
      if (n == 0) c.link_type = lt;
      if (int(lt) != announced) events_.file_started(token, lt), announced = lt;
      if (n == c.off.size()) c.reserve(2 * size_t(n));
      c.off[n] = uint32_t(pos + r.off);
      c.caplen[n] = r.caplen;
      c.origlen[n] = r.origlen;
      c.sec[n] = r.sec;
      c.nsec[n] = r.nsec;
      ++n;
    }
    pos += used;
  }
  return n;
}

void TraceFeed::read_sync(int fd, size_t chunk_bytes, TraceFeedEvents& events,
                          const std::function<void(const FeedChunk&)>& sink) {
  ReplayInput unused;
  TraceFeed feed(unused, events, chunk_bytes, 1);
  feed.sink_ = &sink;
  feed.read_file(File{fd, true, 0});
}

}  // namespace nmc
