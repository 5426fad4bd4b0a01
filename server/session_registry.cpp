#include "server/session_registry.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <memory>
#include <vector>

namespace cvp {

session_registry::handle session_registry::add(connection& c)
{
    std::lock_guard lock{mutex_};
    return entries_.insert(entries_.end(), &c);
}

void session_registry::remove(handle h)
{
    std::lock_guard lock{mutex_};
    entries_.erase(h);
}

template <class Step>
void session_registry::for_each(Step step)
{
    // Owners of the live ones, taken under the lock. A connection whose last owner is
    // gone is about to leave the registry: skip it.
    std::vector<std::shared_ptr<connection>> alive;
    {
        std::lock_guard lock{mutex_};
        alive.reserve(entries_.size());
        for (auto* c : entries_)
            if (auto owner = c->weak_from_this().lock())
                alive.push_back(std::move(owner));
    }
    // Posted after the lock is released: a step on another thread may end the connection
    // meanwhile, and then the reference held here is its last, whose destructor takes
    // the lock to leave the registry.
    for (auto& c : alive) {
        auto ex = c->executor();
        asio::post(ex, [c = std::move(c), step] { step(*c); });
    }
}

void session_registry::begin_drain(connection::clock::time_point grace_deadline)
{
    for_each([grace_deadline](connection& c) {
        if (c.idle())
            c.set_read_deadline(std::min(c.read_deadline(), grace_deadline));
    });
}

void session_registry::close_all()
{
    for_each([](connection& c) { c.close(); });
}

} // namespace cvp
