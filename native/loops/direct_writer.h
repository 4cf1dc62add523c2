// A file written with O_DIRECT in large aligned chunks from a thread of its own, the way
// high-rate recorders (n2disk, stenographer, Arkime) write: no page cache, so a long capture
// runs at the disk's speed instead of write-back speed once dirty pages pile up.
//
// Appends go through an aligned staging chunk (1 MiB by default). Every append is on disk when it
// completes: the chunk's last partial 4 KiB block is written padded with zeros and kept, and the
// next append rewrites it with the bytes that follow. So a completed append never leaves bytes
// only in memory, and after a failure the file holds exactly `durable()` bytes of what was sent
// (plus padding, which the caller truncates). The file is preallocated ahead (fallocate
// KEEP_SIZE); finish() truncates it to its exact length.
//
// Where the file system refuses O_DIRECT (EINVAL), or is memory anyway (tmpfs, ramfs), open()
// fails with kUnsupported and the caller writes the ordinary buffered way.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace nmc {

class DirectWriter {
 public:
  static constexpr size_t kAlign = 4096;

  enum class OpenResult { kOk, kUnsupported, kError };

  // Called on the writer thread when an append is done: errno (0 = ok), bytes on disk.
  using Done = std::function<void(int err, uint64_t durable)>;

  explicit DirectWriter(size_t chunk = size_t(1) << 20, uint64_t prealloc_ahead = uint64_t(64) << 20);
  ~DirectWriter();

  // Creates (truncates) `path` with mode 0600 and O_DIRECT. On kError/kUnsupported, errno_ says why.
  OpenResult open(const std::string& path);

  // Queues `len` bytes at `data` (the caller keeps them alive until `done` runs).
  void append(const uint8_t* data, size_t len, Done done);

  // Waits for every append, then cuts the file to its exact length; returns errno or 0.
  int finish();

  int open_errno() const { return errno_; }
  // kUnsupported because the file is on tmpfs or ramfs (memory), not because O_DIRECT failed.
  bool memory_fs() const { return memory_fs_; }
  // The plain (buffered) descriptor of the same file: for small writes at arbitrary offsets and
  // truncation. Valid after open() until the writer is destroyed.
  int plain_fd() const { return plain_fd_; }
  uint64_t durable() const;
  size_t chunk() const { return chunk_; }

 private:
  struct Job {
    const uint8_t* data;
    size_t len;
    Done done;
  };

  void run();
  int write_job(const Job& j);
  int write_aligned(const uint8_t* p, size_t len, uint64_t at);
  void preallocate(uint64_t upto);

  size_t chunk_;
  uint64_t ahead_;
  int fd_ = -1;
  int plain_fd_ = -1;
  int errno_ = 0;
  bool memory_fs_ = false;
  uint8_t* stage_ = nullptr;  // chunk_ bytes, kAlign-aligned
  size_t staged_ = 0;         // bytes in stage_ (the first belong to the block at base_)
  uint64_t base_ = 0;         // file offset of stage_[0] (aligned)
  uint64_t allocated_ = 0;
  int failed_ = 0;            // errno of the first failure: later appends fail at once

  mutable std::mutex m_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Job> jobs_;
  bool busy_ = false;
  bool stop_ = false;
  uint64_t durable_ = 0;
  std::thread thread_;
};

}  // namespace nmc
