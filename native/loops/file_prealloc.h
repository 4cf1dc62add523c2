// Keeps a capture file allocated ahead of its writer, on a thread of its own. On tmpfs (and
// most file systems) a write into a new page pays for allocating and zeroing it; at 10 Mpps of
// pcapng that is a core's worth of work in the writing thread. fallocate(KEEP_SIZE) does it
// earlier, elsewhere, in big extents; the file's size does not change, and the writer trims the
// unused tail when it closes the file. Where fallocate is not supported it simply stops.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace nmc {

class FilePreallocator {
 public:
  // fd: the file (owned by the caller, kept open until this is destroyed); `from`: its current
  // end. Returns null-equivalent (enabled() false) for anything but a regular file.
  FilePreallocator(int fd, uint64_t from, uint64_t ahead = uint64_t(64) << 20, uint64_t chunk = uint64_t(4) << 20)
      : fd_(fd), produced_(from), allocated_(from), ahead_(ahead), chunk_(chunk) {
    struct stat st;
    if (fd_ < 0 || ::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) return;
    thread_ = std::thread([this] { run(); });
  }

  ~FilePreallocator() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  bool enabled() const { return thread_.joinable(); }

  // The writer has been handed this many more bytes.
  void produced(uint64_t bytes) {
    {
      std::lock_guard<std::mutex> lk(m_);
      produced_ += bytes;
    }
    cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || produced_ + ahead_ / 2 > allocated_; });
      if (stop_) return;
      uint64_t at = allocated_;
      lk.unlock();
      int rc = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, off_t(at), off_t(chunk_));
      lk.lock();
      if (rc != 0) return;  // not supported here, or the disk is full: the writer will say so
      allocated_ = at + chunk_;
    }
  }

  int fd_;
  std::mutex m_;
  std::condition_variable cv_;
  uint64_t produced_;
  uint64_t allocated_;
  uint64_t ahead_;
  uint64_t chunk_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace nmc
