#include "server/http_date.hpp"

#include <ctime>

namespace cvp {

std::string_view http_date_now() noexcept
{
    struct cache
    {
        std::time_t second = -1;
        char text[32] = {};
        std::size_t size = 0;
    };
    thread_local cache c;

    // The coarse clock is a memory read; format only when the second has changed.
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != c.second) {
        std::tm tm{};
        ::gmtime_r(&ts.tv_sec, &tm);
        c.size = std::strftime(c.text, sizeof c.text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        c.second = ts.tv_sec;
    }
    return {c.text, c.size};
}

} // namespace cvp
