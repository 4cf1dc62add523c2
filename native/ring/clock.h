// Clocks used by the loops. CLOCK_REALTIME for packet timestamps (what pcap files carry),
// CLOCK_MONOTONIC for deadlines and durations (immune to clock steps).
#pragma once

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

// Sleep until an absolute CLOCK_MONOTONIC time (ns).
inline void sleep_until_ns(uint64_t t) {
  timespec ts{time_t(t / 1000000000ull), long(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace nmc
