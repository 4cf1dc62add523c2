// How a loop on a native thread is told to stop: an atomic flag it checks between batches, plus
// an eventfd it polls alongside its port, so a sleeping loop wakes at once.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>

namespace nmc {

class StopSignal {
 public:
  StopSignal() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) throw std::runtime_error("eventfd failed");
  }
  ~StopSignal() { ::close(fd_); }
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  void request() {
    flag_.store(true, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(fd_, &one, sizeof one);
  }
  bool requested() const { return flag_.load(std::memory_order_acquire); }
  int fd() const { return fd_; }

 private:
  std::atomic<bool> flag_{false};
  int fd_;
};

}  // namespace nmc
