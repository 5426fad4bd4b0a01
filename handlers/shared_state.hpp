#pragma once

/// Process-wide shared state for /state/*: counters updated by five strategies, and
/// accounts moved between under two locking orders. It knows nothing of HTTP or of the
/// execution models: the handlers decide where each operation runs.
///
/// Nothing here has a data race in the C++ sense, so TSan stays quiet; the `split` and
/// `await` counters lose updates all the same, because a read and its write are two
/// separate atomic operations with other updates free to land between them.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

namespace cvp {

/// How a counter is incremented.
enum class counter_strategy
{
    split,   ///< a relaxed load, then a separate relaxed store of value + 1: loses updates in parallel
    mutex,   ///< a std::mutex around the increment
    atomic,  ///< one fetch_add on a shared atomic
    sharded, ///< fetch_add on the calling thread's own cache-line slot, summed when read
    await,   ///< a load, a wait on the connection's executor, then a store of value + 1
};

/// Every strategy, in the order the API lists them.
inline constexpr std::array<counter_strategy, 5> counter_strategies = {
    counter_strategy::split, counter_strategy::mutex, counter_strategy::atomic, counter_strategy::sharded, counter_strategy::await};

/// The strategy's name in the API ("split", ...).
std::string_view to_string(counter_strategy s) noexcept;

/// The strategy named `name`, if any.
std::optional<counter_strategy> parse_counter_strategy(std::string_view name) noexcept;

/// A counter's value and what was asked of it.
struct counter_reading
{
    std::uint64_t value = 0;
    /// Increments that completed requests asked for (the sum of their `n`).
    std::uint64_t increments = 0;
    /// Increments that did not land: asked less value (never negative).
    std::uint64_t lost() const noexcept { return increments > value ? increments - value : 0; }
};

/// One counter per strategy.
class shared_counters
{
public:
    /// Bytes of one sharded slot: a cache line on x86-64 and most ARM cores, so that two
    /// threads' slots never share one.
    static constexpr std::size_t slot_bytes = 64;
    /// Sharded slots; threads past this many share slots, still atomically.
    static constexpr std::size_t slots = 64;

    /// Adds 1, `n` times, by `s`; returns the value before and after, as this thread saw
    /// them. Not for `await`, whose waits belong to the handler.
    std::pair<std::uint64_t, std::uint64_t> increment(counter_strategy s, std::uint64_t n);

    /// `await`'s read: the counter's value now.
    std::uint64_t await_read() const noexcept;
    /// `await`'s write, after its wait: `value_read` + 1, whatever happened meanwhile.
    void await_write(std::uint64_t value_read) noexcept;

    /// Records that a request completed `n` increments by `s`.
    void count_asked(counter_strategy s, std::uint64_t n) noexcept;

    /// The counter of `s` and the increments asked of it.
    counter_reading read(counter_strategy s) const;

    /// Zeroes every counter and its asked increments.
    void reset();

private:
    /// A sharded slot alone on its cache line.
    struct alignas(slot_bytes) slot
    {
        std::atomic<std::uint64_t> value{0};
    };

    /// The current value of `s`'s counter.
    std::uint64_t value(counter_strategy s) const;

    std::atomic<std::uint64_t> split_{0};
    mutable std::mutex mutex_;
    std::uint64_t locked_ = 0; // guarded by mutex_
    std::atomic<std::uint64_t> atomic_{0};
    std::array<slot, slots> sharded_{};
    std::atomic<std::uint64_t> await_{0};
    std::array<std::atomic<std::uint64_t>, counter_strategies.size()> asked_{};
};

/// How a transfer takes its two accounts' locks.
enum class lock_order
{
    naive,   ///< `from`, then `to`: opposite transfers can deadlock; the second lock times out
    ordered, ///< both in account order at once (std::scoped_lock): never deadlocks
};

/// The order's name in the API ("naive" or "ordered").
std::string_view to_string(lock_order o) noexcept;

/// The order named `name`, if any.
std::optional<lock_order> parse_lock_order(std::string_view name) noexcept;

/// What one transfer did.
struct transfer_outcome
{
    /// False when `naive` gave up on its second lock: a deadlock detected, nothing moved.
    bool moved = false;
    /// The two balances after it (before it, when nothing moved).
    std::int64_t from_balance = 0;
    std::int64_t to_balance = 0;
};

/// The accounts, their total and what happened to them.
struct accounts_reading
{
    std::array<std::int64_t, 8> balances{};
    std::int64_t total = 0;
    std::int64_t expected_total = 0;
    std::uint64_t naive_transfers = 0;
    std::uint64_t ordered_transfers = 0;
    std::uint64_t deadlocks_detected = 0;
};

/// A few accounts, each with its own lock.
class shared_accounts
{
public:
    static constexpr int count = 8;
    static constexpr std::int64_t opening_balance = 1'000'000;

    /// Moves `amount` from account `from` to `to` (both in [0, count), different), holding
    /// the first lock taken for `hold` of CPU work first: the window in which opposite
    /// transfers meet. `naive` waits at most `timeout` for its second lock, then backs out
    /// and counts a detected deadlock. Balances may go negative: only the total matters.
    transfer_outcome transfer(lock_order order, int from, int to, std::int64_t amount, std::chrono::microseconds hold,
                              std::chrono::milliseconds timeout);

    /// Every balance, read under all the locks at once (in account order).
    accounts_reading read() const;

    /// Restores the opening balances and zeroes the counts.
    void reset();

private:
    struct account
    {
        mutable std::timed_mutex lock;
        std::int64_t balance = opening_balance; // guarded by lock
    };

    std::array<account, count> accounts_{};
    std::atomic<std::uint64_t> naive_{0};
    std::atomic<std::uint64_t> ordered_{0};
    std::atomic<std::uint64_t> deadlocks_{0};
};

/// Everything /state/* shares, one per process.
struct shared_state
{
    shared_counters counters;
    shared_accounts accounts;
};

/// The process's shared state.
shared_state& process_state();

} // namespace cvp
