#pragma once

/// The bookkeeping of a pool of downstream connections, without any I/O: which are idle,
/// how many are open, who waits for one, and what went wrong. The async and the blocking
/// clients (downstream_client.hpp) wrap it with their own way of waiting; the unit tests
/// drive it with a fake connection.
///
/// Rules: at most `capacity` connections open (idle, in use, or being opened); a caller that
/// finds none free and no room to open one waits in a queue of at most `queue_capacity`;
/// past that it is refused. A returned healthy connection goes to the first waiter, or to
/// the idle ones (last in, first out, so the warm ones are reused and the cold ones age);
/// a connection that broke frees its place, which the first waiter gets as a permit to
/// open a new one.

#include "common/clock.hpp"
#include "handlers/downstream.hpp"
#include "handlers/stats_snapshot.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cvp {

/// Somebody waiting for a connection. The pool fills in `conn` (an idle one) or `permit`
/// (room to open one), then calls wake() outside its lock.
template <typename Conn>
struct pool_waiter
{
    virtual ~pool_waiter() = default;
    /// Ends the wait; called once, from whichever thread returned the connection.
    virtual void wake() = 0;

    std::unique_ptr<Conn> conn;
    bool permit = false;
};

/// What acquire() gave.
template <typename Conn>
struct pool_grant
{
    enum class kind
    {
        idle,   ///< `conn` is an idle connection, now in use
        open,   ///< room to open a new connection, counted as in use
        queued, ///< the waiter is queued: wait for wake(), then call settle()
        full,   ///< every connection busy and the queue full
    } what;
    std::unique_ptr<Conn> conn;
};

template <typename Conn>
class connection_pool
{
public:
    using waiter = pool_waiter<Conn>;
    using grant = pool_grant<Conn>;

    connection_pool(std::string name, std::size_t capacity, std::size_t queue_capacity)
        : name_(std::move(name))
        , capacity_(capacity)
        , queue_capacity_(queue_capacity)
    {}
    connection_pool(connection_pool const&) = delete;
    connection_pool& operator=(connection_pool const&) = delete;

    /// An idle connection, room to open one, a place in the queue for `w`, or nothing.
    grant acquire(std::shared_ptr<waiter> const& w)
    {
        std::lock_guard lock{mutex_};
        // The most recently returned idle connection first.
        if (!idle_.empty()) {
            auto conn = std::move(idle_.back());
            idle_.pop_back();
            ++in_use_;
            ++reused_;
            return {grant::kind::idle, std::move(conn)};
        }
        // Room to open one more.
        if (in_use_ < capacity_) {
            ++in_use_;
            ++created_;
            return {grant::kind::open, nullptr};
        }
        // Wait in line, if the line has room.
        if (queue_.size() < queue_capacity_) {
            queue_.push_back(w);
            ++waited_;
            return {grant::kind::queued, nullptr};
        }
        ++faults_[index(downstream_fault::exhausted)];
        return {grant::kind::full, nullptr};
    }

    /// After a queued wait ended (woken or timed out): true when `w` was handed a
    /// connection or a permit, false when it was still in line (it leaves the line).
    bool settle(waiter& w)
    {
        std::lock_guard lock{mutex_};
        for (auto it = queue_.begin(); it != queue_.end(); ++it)
            if (it->get() == &w) {
                queue_.erase(it);
                return false;
            }
        return true;
    }

    /// A healthy connection back from its call: to the first waiter, or to the idle ones.
    void release(std::unique_ptr<Conn> conn)
    {
        std::shared_ptr<waiter> next;
        {
            std::lock_guard lock{mutex_};
            if (!queue_.empty()) {
                next = std::move(queue_.front());
                queue_.pop_front();
                next->conn = std::move(conn);
            } else {
                --in_use_;
                idle_.push_back(std::move(conn));
            }
        }
        if (next)
            next->wake();
    }

    /// A connection (or a permit) that is gone: its place goes to the first waiter as a
    /// permit to open a new one. The caller destroys the connection.
    void discard()
    {
        std::shared_ptr<waiter> next;
        {
            std::lock_guard lock{mutex_};
            if (!queue_.empty()) {
                next = std::move(queue_.front());
                queue_.pop_front();
                next->permit = true;
                ++created_;
            } else {
                --in_use_;
            }
        }
        if (next)
            next->wake();
    }

    /// Closes a connection that broke (outside the lock) and frees its place.
    void drop(std::unique_ptr<Conn> conn)
    {
        conn.reset();
        discard();
    }

    /// Takes every idle connection out, for the caller to close outside the lock: when the
    /// downstream closed the newest idle one, the older ones are as stale.
    std::vector<std::unique_ptr<Conn>> take_idle()
    {
        std::lock_guard lock{mutex_};
        return std::exchange(idle_, {});
    }

    /// Counts a call that failed, by its fault.
    void count(downstream_fault f)
    {
        std::lock_guard lock{mutex_};
        ++faults_[index(f)];
    }

    /// Counts a call tried again on a new connection after a stale idle one.
    void count_retry()
    {
        std::lock_guard lock{mutex_};
        ++retried_;
    }

    /// The pool's figures, as /stats and /metrics report them.
    downstream_pool_snapshot snapshot() const
    {
        std::lock_guard lock{mutex_};
        downstream_pool_snapshot s;
        s.name = name_;
        s.capacity = capacity_;
        s.queue_capacity = queue_capacity_;
        s.idle = idle_.size();
        s.in_use = in_use_;
        s.open = in_use_ + idle_.size();
        s.waiting = queue_.size();
        s.created = created_;
        s.reused = reused_;
        s.waited = waited_;
        s.retried = retried_;
        for (auto f : all_downstream_faults)
            s.faults.emplace_back(to_string(f), faults_[index(f)]);
        return s;
    }

private:
    static std::size_t index(downstream_fault f) noexcept { return static_cast<std::size_t>(f); }

    std::string const name_;
    std::size_t const capacity_;
    std::size_t const queue_capacity_;

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Conn>> idle_;
    /// Connections in calls, and places taken by connections being opened.
    std::size_t in_use_ = 0;
    std::deque<std::shared_ptr<waiter>> queue_;
    std::uint64_t created_ = 0;
    std::uint64_t reused_ = 0;
    std::uint64_t waited_ = 0;
    std::uint64_t retried_ = 0;
    std::uint64_t faults_[std::size(all_downstream_faults)] = {};
};

/// Ends a call's answer (downstream_answer, db_answer) with fault `f`, counted in `pool`
/// (exhaustion and the queue's timeout count themselves as they happen).
template <typename Answer, typename Conn>
Answer end_with_fault(connection_pool<Conn>& pool, Answer& a, downstream_fault f, std::string detail)
{
    if (f != downstream_fault::exhausted && f != downstream_fault::queue_timeout)
        pool.count(f);
    a.fault = f;
    a.detail = std::move(detail);
    a.done_ns = monotonic_ns();
    return std::move(a);
}

} // namespace cvp
