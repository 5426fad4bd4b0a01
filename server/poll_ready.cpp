#include "server/poll_ready.hpp"

#include <boost/beast/core/error.hpp>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace cvp {

error_code last_errno()
{
    return {errno, boost::system::system_category()};
}

error_code poll_ready(int fd, short events, std::chrono::steady_clock::time_point deadline)
{
    for (;;) {
        auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return beast::error::timeout;
        pollfd p{fd, events, 0};
        // One millisecond more, so that a wait never ends just before its deadline.
        int const n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count() + 1, 1 << 30)));
        if (n > 0)
            return {};
        if (n < 0 && errno != EINTR)
            return last_errno();
    }
}

} // namespace cvp
