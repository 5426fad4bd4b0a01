#include "server/descriptor_budget.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <limits>

namespace cvp {

connection_budget plan_connection_budget(std::size_t asked, std::size_t per_connection, std::uint64_t open_files, std::size_t open_now)
{
    connection_budget b;
    b.asked = asked;
    b.open_files = open_files;
    b.per_connection = std::max<std::size_t>(per_connection, 1);
    b.reserved = open_now + descriptor_headroom;

    // What is left once the process's own are kept, in whole connections.
    auto const left = open_files > b.reserved ? open_files - b.reserved : 0;
    auto const room = left / b.per_connection;
    b.cap = room < asked ? static_cast<std::size_t>(room) : asked;
    return b;
}

std::size_t open_descriptors()
{
    // Every entry but the one the listing itself holds open.
    std::error_code ec;
    std::size_t n = 0;
    for (std::filesystem::directory_iterator it{"/proc/self/fd", ec}, end; !ec && it != end; it.increment(ec))
        ++n;
    return n > 0 ? n - 1 : 0;
}

std::uint64_t open_file_limit()
{
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
        return std::numeric_limits<std::uint64_t>::max();
    return lim.rlim_cur;
}

} // namespace cvp
