#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cvp {

/// What the process may really use: its affinity mask combined with its cgroup's CPU quota.
struct cpu_limits
{
    /// CPUs in the process's affinity mask (sched_getaffinity), ascending.
    std::vector<int> allowed;
    /// "v1", "v2" or "none": which cgroup hierarchy the quota was read from.
    std::string cgroup = "none";
    /// quota / period when a CFS quota is set, otherwise empty.
    std::optional<double> quota_cpus;
    /// min(|allowed|, ceil(quota_cpus)), never less than 1.
    int usable = 1;
};

/// Parses a Linux CPU list such as "0-3,8,10-11" (trailing newline allowed).
/// Returns an empty optional on malformed input.
std::optional<std::vector<int>> parse_cpu_list(std::string_view text);

/// Formats CPUs as a compact Linux CPU list ("0-3,8").
std::string format_cpu_list(std::vector<int> const& cpus);

/// The CPU quota of this process's cgroup.
struct cgroup_quota
{
    /// "v1", "v2" or "none" (no cpu controller found).
    std::string version = "none";
    /// quota / period, or empty when unlimited ("max" in v2, -1 in v1).
    std::optional<double> cpus;
};

/// Reads the cgroup CPU quota as seen from a filesystem root. `root` is "/" in
/// production; tests pass a fixture directory holding `proc/self/cgroup`,
/// `proc/self/mountinfo` and the cgroup files under the mount points named there.
/// Handles cgroup v2 (`cpu.max`), v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us`) and
/// hybrid layouts; never throws (unreadable files mean "none").
cgroup_quota read_cgroup_quota(std::filesystem::path const& root);

/// Combines an affinity set and a quota into limits.
cpu_limits combine_limits(std::vector<int> allowed, cgroup_quota const& quota);

/// Detects the limits of the running process: sched_getaffinity plus read_cgroup_quota("/").
cpu_limits detect_cpu_limits();

/// Pins the calling thread to one CPU. Returns false (and leaves it unpinned) on failure.
bool pin_current_thread(int cpu);

/// Lowers the calling thread's scheduling priority by `increment` nice levels (Linux
/// keeps a nice value per thread), at most to nice 19. Returns how many levels it was
/// lowered by, which is less than `increment` near 19, or nothing on failure.
std::optional<int> lower_current_thread_priority(int increment);

/// Names the calling thread for top, ps and debuggers; Linux keeps the first 15 bytes.
void name_current_thread(std::string const& name);

} // namespace cvp
