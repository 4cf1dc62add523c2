#include "loops/sender_thread.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nmc {

namespace {

const char* policy_name(int p) {
  switch (p) {
    case SCHED_OTHER: return "SCHED_OTHER";
    case SCHED_FIFO: return "SCHED_FIFO";
    case SCHED_RR: return "SCHED_RR";
    case SCHED_BATCH: return "SCHED_BATCH";
    case SCHED_IDLE: return "SCHED_IDLE";
    default: return "unknown";
  }
}

}  // namespace

SenderThreadState place_sender_thread(const SenderPlacement& want) {
  SenderThreadState st;
  st.tid = int(::syscall(SYS_gettid));
  pthread_setname_np(pthread_self(), "nmreplay-send");  // for top -H and perf -t
  if (want.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (want.cpu < CPU_SETSIZE) CPU_SET(want.cpu, &set);
    int rc = want.cpu < CPU_SETSIZE ? pthread_setaffinity_np(pthread_self(), sizeof set, &set) : EINVAL;
    if (rc != 0)
      st.cpu_error = "--cpu " + std::to_string(want.cpu) + ": the sending thread could not be pinned (" + std::strerror(rc) +
                     "): the CPU is offline or outside this process's cpuset; sending unpinned";
  }
  if (want.realtime) {
    sched_param sp{};
    sp.sched_priority = kRealtimePriority;
    int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (rc == EPERM)
      st.realtime_error = "--realtime: SCHED_FIFO is not permitted here (" + std::string(std::strerror(rc)) +
                          "): run as root, give the binary CAP_SYS_NICE, or raise the real-time priority limit (ulimit -r " +
                          std::to_string(kRealtimePriority) + "); sending with normal scheduling";
    else if (rc != 0)
      st.realtime_error = "--realtime: SCHED_FIFO failed (" + std::string(std::strerror(rc)) + "); sending with normal scheduling";
  }
  // What the kernel says the thread has now.
  int policy = 0;
  sched_param sp{};
  if (pthread_getschedparam(pthread_self(), &policy, &sp) == 0) {
    st.policy = policy_name(policy);
    st.priority = sp.sched_priority;
  }
  cpu_set_t got;
  CPU_ZERO(&got);
  if (pthread_getaffinity_np(pthread_self(), sizeof got, &got) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &got)) st.cpus.push_back(c);
  }
  return st;
}

}  // namespace nmc
