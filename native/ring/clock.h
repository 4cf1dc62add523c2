// Clocks used by the loops. CLOCK_REALTIME for packet timestamps (what pcap files carry),
// CLOCK_MONOTONIC for deadlines and durations (immune to clock steps).
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <cerrno>
#include <cstdint>

namespace nmc {

inline uint64_t clock_ns(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}
inline uint64_t realtime_ns() { return clock_ns(CLOCK_REALTIME); }
inline uint64_t monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }

// What the calling thread has used so far: CPU time (user + system) and the times it was
// descheduled against its will. Zero if the kernel cannot say.
struct ThreadUsage {
  uint64_t cpu_ns = 0;
  uint64_t involuntary_switches = 0;
};
inline ThreadUsage thread_usage() {
  ThreadUsage u;
  rusage ru{};
  if (getrusage(RUSAGE_THREAD, &ru) != 0) return u;
  u.cpu_ns = uint64_t(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
             uint64_t(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
  u.involuntary_switches = uint64_t(ru.ru_nivcsw);
  return u;
}

// Sleep until an absolute CLOCK_MONOTONIC time (ns).
inline void sleep_until_ns(uint64_t t) {
  timespec ts{time_t(t / 1000000000ull), long(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace nmc
