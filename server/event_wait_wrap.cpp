/// The waits Asio makes for events, timed for the calling thread's wait_meter. Asio is
/// compiled into our own objects (it is header-only), so the linker's --wrap redirects its
/// calls here, and only its calls and ours (see CMakeLists.txt): libraries keep theirs.
/// Node's libuv times its epoll_wait in the same place for eventLoopUtilization.
///   epoll_wait: the reactor's wait. A timeout of 0 is a poll, not a wait, and is not timed.
///   pthread_cond_wait: a thread of a shared io_context (`pool`, offload's pool) waiting
///   for work while another holds the reactor; the only such call in our code is Asio's
///   (std::condition_variable waits inside libstdc++, which --wrap does not reach).

#include "server/wait_meter.hpp"

#include <pthread.h>
#include <sys/epoll.h>

// NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp,readability-identifier-naming): the names --wrap defines
extern "C" {
int __real_epoll_wait(int epfd, epoll_event* events, int max_events, int timeout);
int __real_pthread_cond_wait(pthread_cond_t* cond, pthread_mutex_t* mutex);

int __wrap_epoll_wait(int epfd, epoll_event* events, int max_events, int timeout)
{
    if (timeout == 0 || cvp::current_wait_meter() == nullptr)
        return __real_epoll_wait(epfd, events, max_events, timeout);
    cvp::event_wait_scope waiting;
    return __real_epoll_wait(epfd, events, max_events, timeout);
}

int __wrap_pthread_cond_wait(pthread_cond_t* cond, pthread_mutex_t* mutex)
{
    cvp::event_wait_scope waiting;
    return __real_pthread_cond_wait(cond, mutex);
}
}
// NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp,readability-identifier-naming)
