#pragma once

/// A per-thread free list for the storage a connection needs only while it has bytes to
/// parse or to send. Idle connections give theirs back, so they hold none, and busy ones
/// take it again without a trip to malloc.

#include <cstddef>
#include <memory>
#include <vector>

namespace cvp {

/// Hands out `T`s from a free list kept by the calling thread; at most `max_cached` are
/// kept, the rest are freed. A `T` may come back on another thread than it left.
template <class T, std::size_t max_cached = 64>
class recycler
{
public:
    /// A recycled `T`, or a new one when the list is empty.
    static std::unique_ptr<T> take()
    {
        auto& list = free_list();
        if (list.empty())
            return std::make_unique<T>();
        auto p = std::move(list.back());
        list.pop_back();
        return p;
    }

    /// Keeps `p` for the next take() on this thread, or frees it when enough are kept.
    static void give(std::unique_ptr<T> p)
    {
        if (!p)
            return;
        auto& list = free_list();
        if (list.size() < max_cached)
            list.push_back(std::move(p));
    }

private:
    static std::vector<std::unique_ptr<T>>& free_list()
    {
        thread_local std::vector<std::unique_ptr<T>> list;
        return list;
    }
};

} // namespace cvp
