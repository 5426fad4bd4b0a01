#pragma once

/// The asynchronous connections of one event loop (or of every thread of a model whose
/// connections have no fixed loop), so that a drain can reach them.

#include "server/connection.hpp"

#include <list>
#include <mutex>

namespace cvp {

/// Any thread may call it: it hands each connection its part on the connection's own
/// executor.
class session_registry
{
public:
    using handle = std::list<connection*>::iterator;

    handle add(connection& c);
    void remove(handle h);

    /// A drain began: connections waiting for a request get until `grace_deadline` to
    /// deliver one; connections busy with a request finish it.
    void begin_drain(connection::clock::time_point grace_deadline);
    /// Closes everything: the drain deadline has passed.
    void close_all();

private:
    /// Runs `step` on each live connection's executor.
    template <class Step>
    void for_each(Step step);

    std::mutex mutex_;
    std::list<connection*> entries_;
};

} // namespace cvp
