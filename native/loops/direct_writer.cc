#include "loops/direct_writer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace nmc {

DirectWriter::DirectWriter(size_t chunk, uint64_t prealloc_ahead) : chunk_(chunk), ahead_(prealloc_ahead) {
  // 64 KiB .. 1 MiB, a multiple of the alignment.
  if (chunk_ < (size_t(64) << 10)) chunk_ = size_t(64) << 10;
  if (chunk_ > (size_t(1) << 20)) chunk_ = size_t(1) << 20;
  chunk_ &= ~(kAlign - 1);
}

DirectWriter::~DirectWriter() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  if (plain_fd_ >= 0) ::close(plain_fd_);
  std::free(stage_);
}

DirectWriter::OpenResult DirectWriter::open(const std::string& path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    errno_ = errno;
    return errno_ == EINVAL ? OpenResult::kUnsupported : OpenResult::kError;
  }
  // tmpfs and ramfs accept O_DIRECT (tmpfs since Linux 6.6) but are memory: bypassing the page
  // cache gains nothing there, and buffered writes avoid the extra copy through the stage.
  struct statfs sf;
  if (::fstatfs(fd_, &sf) == 0 && (sf.f_type == 0x01021994 /* TMPFS_MAGIC */ || sf.f_type == 0x858458f6 /* RAMFS_MAGIC */)) {
    ::close(fd_);
    fd_ = -1;
    errno_ = 0;
    memory_fs_ = true;
    return OpenResult::kUnsupported;
  }
  plain_fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  // The stage in one transparent huge page where the kernel allows it: every direct write pins
  // the stage's pages, and one huge page is pinned in one step instead of 256.
  constexpr size_t kHuge = size_t(2) << 20;
  if (plain_fd_ >= 0 && posix_memalign(reinterpret_cast<void**>(&stage_), kHuge, kHuge) == 0) ::madvise(stage_, kHuge, MADV_HUGEPAGE);
  if (plain_fd_ < 0 || stage_ == nullptr) {
    errno_ = plain_fd_ < 0 ? errno : ENOMEM;
    return OpenResult::kError;
  }
  thread_ = std::thread([this] { run(); });
  return OpenResult::kOk;
}

uint64_t DirectWriter::durable() const {
  std::lock_guard<std::mutex> lk(m_);
  return durable_;
}

void DirectWriter::append(const uint8_t* data, size_t len, Done done) {
  {
    std::lock_guard<std::mutex> lk(m_);
    jobs_.push_back(Job{data, len, std::move(done)});
  }
  cv_.notify_all();
}

int DirectWriter::finish() {
  std::unique_lock<std::mutex> lk(m_);
  idle_cv_.wait(lk, [&] { return jobs_.empty() && !busy_; });
  uint64_t size = durable_;
  lk.unlock();
  // After a failure the caller has cut the file where its last whole block ends: leave it.
  if (failed_) return failed_;
  // The padding of the last block and the preallocated space beyond the end go.
  if (::ftruncate(plain_fd_, off_t(size)) != 0) return errno;
  return 0;
}

void DirectWriter::run() {
  std::unique_lock<std::mutex> lk(m_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;
    Job j = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lk.unlock();
    int err = failed_ ? failed_ : write_job(j);
    if (err && !failed_) failed_ = err;
    uint64_t d = base_ + staged_;
    lk.lock();
    if (!err) durable_ = d;
    uint64_t report = durable_;
    lk.unlock();
    j.done(err, report);
    lk.lock();
    busy_ = false;
    if (jobs_.empty()) idle_cv_.notify_all();
  }
}

void DirectWriter::preallocate(uint64_t upto) {
  if (allocated_ >= upto || ahead_ == 0) return;
  uint64_t to = upto + ahead_;
  // Not supported, or no room: the writes themselves will say so.
  if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, off_t(allocated_), off_t(to - allocated_)) == 0) allocated_ = to;
  else ahead_ = 0;
}

int DirectWriter::write_aligned(const uint8_t* p, size_t len, uint64_t at) {
  preallocate(at + len);
  size_t off = 0;
  while (off < len) {
    ssize_t n = ::pwrite(fd_, p + off, len - off, off_t(at + off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    off += size_t(n);
    if (off < len && (off % kAlign) != 0) return ENOSPC;  // a short direct write: the disk is full
  }
  return 0;
}

int DirectWriter::write_job(const Job& j) {
  size_t used = 0;
  while (used < j.len) {
    size_t n = std::min(chunk_ - staged_, j.len - used);
    std::memcpy(stage_ + staged_, j.data + used, n);
    staged_ += n;
    used += n;
    if (staged_ == chunk_) {
      if (int e = write_aligned(stage_, chunk_, base_)) {
        staged_ -= n;  // what is on disk ends where this chunk began
        return e;
      }
      base_ += chunk_;
      staged_ = 0;
      std::lock_guard<std::mutex> lk(m_);
      durable_ = base_;
    }
  }
  if (staged_ == 0) return 0;
  // The rest goes out padded to whole blocks; its last partial block stays staged, to be
  // rewritten with what follows it.
  size_t padded = (staged_ + kAlign - 1) & ~(kAlign - 1);
  std::memset(stage_ + staged_, 0, padded - staged_);
  if (int e = write_aligned(stage_, padded, base_)) return e;
  size_t whole = staged_ & ~(kAlign - 1);
  if (whole) {
    std::memmove(stage_, stage_ + whole, staged_ - whole);
    base_ += whole;
    staged_ -= whole;
  }
  return 0;
}

}  // namespace nmc
