// The reader thread of a streamed replay: reads classic pcap and pcapng files (fds that JS opened) into a
// few big native chunks, walks their records natively (loops/trace_walker.h, loops/pcapng_walker.h)
// and hands each chunk
// to the replay loop as one ReplayBatch. Chunks come back when the loop has put their packets into
// TX slots, so memory stays flat (chunks x chunk size) whatever the trace's size, nothing passes
// through JS per packet, and the garbage collector has nothing to do. JS still opens the files,
// decides the order (files, passes), and hears about link types, warnings and errors.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "loops/replay_loop.h"
#include "loops/pcapng_walker.h"
#include "loops/trace_walker.h"

namespace nmc {

// What the reader says about each file it reads (reader thread; token = JS's name for the file).
class TraceFeedEvents {
 public:
  virtual ~TraceFeedEvents() = default;
  virtual void file_started(uint32_t token, uint16_t link_type) = 0;
  // A warning (the file goes on) or a format error (the input ends there).
  virtual void problem(uint32_t token, bool is_error, const TraceProblem& p) = 0;
  virtual void file_done(uint32_t token, uint64_t packets) = 0;
};

// One chunk of file bytes and the records walked in it. Its bytes start `start` bytes into
// `storage`, placed so that each read lands at the same offset in its page as the file offset it
// reads (kPage apart): the kernel copies page cache pages one by one, and a destination a few bytes
// past the source's place in the page makes every load wait on the stores before it (4K aliasing:
// read() 3-4x slower on this VM, measured at +4 to +28 bytes, which malloc's +16 hits).
struct FeedChunk {
  static constexpr size_t kPage = 4096;
  std::vector<uint8_t> storage;
  size_t start = 0;
  size_t len = 0;
  uint8_t* bytes() { return storage.data() + start; }
  const uint8_t* bytes() const { return storage.data() + start; }
  size_t capacity() const { return storage.size() - start; }
  // Room for `want` bytes, the first `carried` of them (copied in by the caller) followed by
  // the file's bytes from `file_off` on, which then read into page-congruent places.
  void place(size_t want, size_t carried, uint64_t file_off) {
    if (storage.size() < want + kPage) storage.resize(want + kPage);
    const uintptr_t at = reinterpret_cast<uintptr_t>(storage.data()) + carried;
    start = size_t((file_off - at) % kPage);
  }
  std::vector<uint32_t> off, caplen, origlen, nsec;
  std::vector<double> sec;
  uint32_t count = 0;
  uint16_t link_type = 1;
  bool loop_start = false;
  // Room for `records` records in the arrays (they only grow: a warm chunk allocates nothing).
  void reserve(size_t records) {
    if (off.size() >= records) return;
    off.resize(records), caplen.resize(records), origlen.resize(records), nsec.resize(records), sec.resize(records);
  }
  TraceRecordArrays arrays() { return {off.data(), caplen.data(), origlen.data(), sec.data(), nsec.data()}; }
};

class TraceFeed {
 public:
  // Batch ids of the feed's chunks carry this bit (JS's own batches count up from 1).
  static constexpr uint32_t kIdBit = 0x80000000u;
  static constexpr size_t kChunkBytes = 1u << 20;
  // Each chunk is read (and walked) this much at a time: the piece just read is still in cache.
  static constexpr size_t kReadBytes = 128u << 10;
  static constexpr unsigned kChunks = 8;  // 8 MiB in flight (as the JS reader allows): ~10 ms of 64-byte packets at 10 Mpps

  TraceFeed(ReplayInput& input, TraceFeedEvents& events, size_t chunk_bytes = kChunkBytes, unsigned chunks = kChunks);
  ~TraceFeed();

  // JS thread. The feed owns fd from here on (closes it once read, or at shutdown).
  void add(int fd, bool loop_start, uint32_t token);
  // No more files: once those queued are read, the replay's input ends.
  void finish();
  // Stops the reader (if running) and joins it; files not read are closed. Idempotent.
  void shutdown();

  // Replay thread: a batch was consumed. False when the id is not one of the feed's.
  bool release(uint32_t batch_id);

  // Reads one file on the calling thread, giving each chunk to `sink` (which must be done with it
  // when it returns): the same walk the reader thread does, for the cross-check with src/pcap.
  static void read_sync(int fd, size_t chunk_bytes, TraceFeedEvents& events,
                        const std::function<void(const FeedChunk&)>& sink);

 private:
  struct File {
    int fd;
    bool loop_start;
    uint32_t token;
  };
  // The walk of one file; false when the input must end (format error, read error, shutdown).
  bool read_file(const File& f);
  uint32_t walk_pcap(PcapWalker& w, FeedChunk& c, uint64_t base, size_t& pos, uint32_t n, uint32_t token, bool& failed);
  uint32_t walk_pcapng(PcapngWalker& w, FeedChunk& c, uint64_t base, size_t& pos, uint32_t n, uint32_t token, int& announced,
                       bool& failed, bool& split);
  FeedChunk* acquire();              // a free chunk (blocks); null on shutdown
  void emit(FeedChunk* c);            // to the replay loop (or the sync sink)
  void give_back(FeedChunk* c);
  void run();

  ReplayInput* input_;
  TraceFeedEvents& events_;
  const size_t chunk_bytes_;
  std::vector<std::unique_ptr<FeedChunk>> chunks_;
  const std::function<void(const FeedChunk&)>* sink_ = nullptr;
  bool pass_start_pending_ = false;  // reader thread: the next batch begins a pass

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<File> files_;
  std::vector<FeedChunk*> free_;
  bool finished_ = false, stopping_ = false, ended_input_ = false;
  std::thread thread_;
};

}  // namespace nmc
