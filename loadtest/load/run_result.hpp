#pragma once

/// What a run measured, as cvp-load writes it (JSON and a human summary), reads it back
/// and merges several runs into one. The JSON's keys are documented in loadtest/README.md.

#include "common/latency_histogram.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cvp::load {

/// One URL of the mix and what became of its requests.
struct url_counts
{
    std::string path;
    std::uint64_t weight = 1;
    std::uint64_t sent = 0;
    std::uint64_t completed = 0;
};

/// A run's figures. Counts are of requests due in the measured window.
struct run_result
{
    std::string target;
    std::vector<url_counts> urls;
    std::string arrival;
    std::uint64_t seed = 0;
    double rate_asked = 0;
    double duration_s = 0;
    double warmup_s = 0;
    /// How many runs this result holds (1, or more after a merge).
    std::uint64_t generators = 1;

    std::uint64_t scheduled = 0;
    std::uint64_t sent = 0;
    std::uint64_t completed = 0;
    std::uint64_t late = 0;
    std::uint64_t late_after_us = 1000;
    std::uint64_t dropped = 0;
    std::uint64_t unfinished = 0;
    std::map<std::string, std::uint64_t> errors;
    std::map<std::string, std::uint64_t> status;

    std::uint64_t connections_opened = 0;
    std::uint64_t connections_max_open = 0;
    std::uint64_t connections_allowed = 0;

    /// From the due time to the whole answer, and from the actual send to it.
    latency_histogram latency;
    latency_histogram service;
    /// From the due time to the actual send.
    latency_histogram send_lag;

    double cpu_s = 0;
    double wall_s = 0;
    bool behind = false;
    std::string behind_reason;

    /// Requests sent per second of the measured window.
    double rate_achieved() const noexcept { return duration_s > 0 ? static_cast<double>(sent) / duration_s : 0; }
    /// Answers received per second of the measured window.
    double throughput() const noexcept { return duration_s > 0 ? static_cast<double>(completed) / duration_s : 0; }
};

/// Every error kind, so the output lists each even when zero.
std::vector<std::string> const& error_kinds();

/// The JSON form of a result.
nlohmann::json to_json(run_result const& r);

/// Reads a result back; false with `error` set when it is not one cvp-load wrote.
bool from_json(nlohmann::json const& j, run_result& out, std::string& error);

/// One result from several: histograms added bucket by bucket, counts, rates, CPU and
/// connections summed, the longest duration, behind when any was. Percentiles are
/// then read from the merged histograms, never averaged.
run_result merge(std::vector<run_result> const& runs);

/// The summary cvp-load prints: rates, counts, errors and the percentiles.
std::string human_summary(run_result const& r);

} // namespace cvp::load
