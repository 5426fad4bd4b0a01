#pragma once

/// --timeline: a work_runner that passes every piece of work and every wait on to the
/// model's runner, then records where and when it ran in the work_timeline. The exchange
/// puts one in front of the model's runner for each request only while recording is on,
/// so that with recording off the request path is exactly what it was.

#include "handlers/work.hpp"
#include "handlers/work_timeline.hpp"

#include <cstdint>
#include <string_view>

namespace cvp {

class recording_runner final : public work_runner
{
public:
    /// Records the work of one request for `target` on connection `connection`; `target`
    /// must outlive the handler, as the request's does.
    recording_runner(work_runner& inner, work_timeline& timeline, std::string_view target, std::uint64_t connection) noexcept
        : inner_(inner)
        , timeline_(timeline)
        , target_(target)
        , connection_(connection)
    {}

    boost::asio::awaitable<std::optional<work_record>> run(work_kind kind, work_fn fn) override;
    boost::asio::awaitable<std::optional<std::vector<work_record>>> run_all(work_kind kind, std::vector<work_fn> fns) override;
    /// Records the wait on the worker that began it: the thread serving the connection then.
    boost::asio::awaitable<wait_record> wait(std::chrono::milliseconds duration) override;

private:
    /// Adds one interval of this request to `worker`'s ring.
    void record(timeline_kind kind, int worker, std::int64_t start_ns, std::int64_t end_ns);

    work_runner& inner_;
    work_timeline& timeline_;
    std::string_view target_;
    std::uint64_t connection_;
};

} // namespace cvp
