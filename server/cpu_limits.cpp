#include "server/cpu_limits.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <system_error>
#include <utility>

namespace cvp {

namespace {

namespace fs = std::filesystem;

/// The largest CPU number accepted anywhere here. Linux builds top out at a few thousand
/// CPUs; the bound keeps a hostile list such as "0-2000000000" from allocating gigabytes.
constexpr int max_cpu_id = (1 << 20) - 1;

//------------------------------------------------------------------------------
// Dynamically sized cpu_set_t

// glibc's CPU_*_S macros take int CPU numbers into size_t arithmetic (-Wsign-conversion)
// and are written with C-style casts (-Wold-style-cast). The warnings are off for this
// class only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wsign-conversion"

/// A zeroed CPU_ALLOC set with room for CPUs [0, count).
class dynamic_cpu_set
{
public:
    explicit dynamic_cpu_set(int count) noexcept
        : set_(CPU_ALLOC(count))
        , size_(CPU_ALLOC_SIZE(count))
        , count_(count)
    {
        if (set_ != nullptr)
            CPU_ZERO_S(size_, set_);
    }

    dynamic_cpu_set(dynamic_cpu_set const&) = delete;
    dynamic_cpu_set& operator=(dynamic_cpu_set const&) = delete;

    ~dynamic_cpu_set()
    {
        if (set_ != nullptr)
            CPU_FREE(set_);
    }

    /// False when the allocation failed.
    bool valid() const noexcept { return set_ != nullptr; }

    /// The size in bytes to pass to the affinity calls.
    std::size_t size() const noexcept { return size_; }

    /// How many CPUs the set can describe.
    int count() const noexcept { return count_; }

    cpu_set_t* get() noexcept { return set_; }

    void add(int cpu) noexcept { CPU_SET_S(cpu, size_, set_); }

    bool contains(int cpu) const noexcept { return CPU_ISSET_S(cpu, size_, set_) != 0; }

private:
    cpu_set_t* set_;
    std::size_t size_;
    int count_;
};

#pragma GCC diagnostic pop

/// The CPUs in the calling thread's affinity mask, ascending; empty if it cannot be read.
std::vector<int> affinity_cpus()
{
    // Start from the configured CPU count, and at least 1024 CPUs (glibc's static size)
    long const configured = ::sysconf(_SC_NPROCESSORS_CONF);
    int count = std::max(1024, static_cast<int>(std::clamp(configured, 0L, long{max_cpu_id})));

    // The kernel answers EINVAL while the set is smaller than its own mask: grow and retry
    for (; count <= max_cpu_id + 1; count *= 2) {
        dynamic_cpu_set set(count);
        if (!set.valid())
            return {};
        if (::sched_getaffinity(0, set.size(), set.get()) == 0) {
            std::vector<int> cpus;
            for (int cpu = 0; cpu < set.count(); ++cpu)
                if (set.contains(cpu))
                    cpus.push_back(cpu);
            return cpus;
        }
        if (errno != EINVAL)
            return {};
    }
    return {};
}

//------------------------------------------------------------------------------
// Small text helpers

/// Strips leading and trailing blanks (space, tab, CR, LF).
std::string_view trim(std::string_view text) noexcept
{
    constexpr std::string_view blanks = " \t\r\n";
    auto const first = text.find_first_not_of(blanks);
    if (first == std::string_view::npos)
        return {};
    auto const last = text.find_last_not_of(blanks);
    return text.substr(first, last - first + 1);
}

/// Splits on `sep`, keeping empty pieces.
std::vector<std::string_view> split(std::string_view text, char sep)
{
    std::vector<std::string_view> pieces;
    for (;;) {
        auto const pos = text.find(sep);
        pieces.push_back(text.substr(0, pos));
        if (pos == std::string_view::npos)
            return pieces;
        text.remove_prefix(pos + 1);
    }
}

/// Splits on spaces, dropping empty pieces.
std::vector<std::string_view> fields(std::string_view text)
{
    auto pieces = split(text, ' ');
    std::erase_if(pieces, [](std::string_view piece) { return piece.empty(); });
    return pieces;
}

/// True when the comma-separated `list` holds `token` exactly ("cpu" is not "cpuacct").
bool has_token(std::string_view list, std::string_view token)
{
    auto const pieces = split(list, ',');
    return std::find(pieces.begin(), pieces.end(), token) != pieces.end();
}

/// Parses a whole string as a decimal integer.
std::optional<long long> parse_integer(std::string_view text) noexcept
{
    long long value = 0;
    auto const* const end = text.data() + text.size();
    auto const [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || text.empty())
        return std::nullopt;
    return value;
}

/// Decodes the octal escapes (`\040` for a space, `\134` for a backslash) that the kernel
/// writes into paths in /proc/self/mountinfo.
std::string decode_mountinfo_path(std::string_view text)
{
    auto const is_octal = [](char c) { return c >= '0' && c <= '7'; };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 3 < text.size() && is_octal(text[i + 1]) && is_octal(text[i + 2]) && is_octal(text[i + 3])) {
            int const value = (text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0');
            out.push_back(static_cast<char>(static_cast<unsigned char>(value)));
            i += 3;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

/// All lines of a file; empty when it cannot be read.
std::vector<std::string> read_lines(fs::path const& file)
{
    std::vector<std::string> lines;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);)
        lines.push_back(std::move(line));
    return lines;
}

/// The first line of a file, without blanks around it.
std::optional<std::string> read_first_line(fs::path const& file)
{
    std::ifstream in(file);
    std::string line;
    if (!in || !std::getline(in, line))
        return std::nullopt;
    return std::string(trim(line));
}

//------------------------------------------------------------------------------
// /proc/self/cgroup and /proc/self/mountinfo

/// One line of /proc/self/cgroup: `hierarchy-id:controllers:path`.
struct cgroup_entry
{
    std::string hierarchy_id;
    std::string controllers;
    std::string path;
};

/// One line of /proc/self/mountinfo, reduced to the fields used here.
struct mount_entry
{
    /// Field 4: the directory of the mounted filesystem that appears at the mount point.
    std::string root;
    /// Field 5: where it is mounted, absolute.
    std::string mount_point;
    /// First field after the " - " separator.
    std::string fs_type;
    /// Third field after the separator (for cgroup v1 it names the controllers).
    std::string super_options;
};

std::vector<cgroup_entry> read_cgroup_entries(fs::path const& file)
{
    std::vector<cgroup_entry> entries;
    for (auto const& line : read_lines(file)) {
        // The path may itself contain ':', so split on the first two only
        auto const first = line.find(':');
        if (first == std::string::npos)
            continue;
        auto const second = line.find(':', first + 1);
        if (second == std::string::npos)
            continue;
        entries.push_back({line.substr(0, first), line.substr(first + 1, second - first - 1),
                           std::string(trim(std::string_view(line).substr(second + 1)))});
    }
    return entries;
}

std::vector<mount_entry> read_mounts(fs::path const& file)
{
    std::vector<mount_entry> mounts;
    for (auto const& line : read_lines(file)) {
        // id parent major:minor root mount-point options [optional...] - type source super
        auto const parts = fields(line);
        auto const sep = std::find(parts.begin(), parts.end(), std::string_view("-"));
        if (sep == parts.end() || sep - parts.begin() < 6 || parts.end() - sep < 2)
            continue;
        mount_entry mount;
        mount.root = decode_mountinfo_path(parts[3]);
        mount.mount_point = decode_mountinfo_path(parts[4]);
        mount.fs_type = std::string(sep[1]);
        if (parts.end() - sep >= 4)
            mount.super_options = std::string(sep[3]);
        mounts.push_back(std::move(mount));
    }
    return mounts;
}

/// The part of `cgroup_path` below `mount_root` ("" for the root itself), or nothing when
/// it is not below it or climbs out with "..", as paths outside a cgroup namespace do.
std::optional<fs::path> relative_to_mount(std::string const& cgroup_path, std::string const& mount_root)
{
    fs::path const path(cgroup_path);
    if (std::find(path.begin(), path.end(), fs::path("..")) != path.end())
        return std::nullopt;
    auto rel = path.lexically_normal().lexically_relative(fs::path(mount_root).lexically_normal());
    if (rel.empty() || *rel.begin() == "..")
        return std::nullopt;
    if (rel == ".")
        rel.clear();
    return rel;
}

/// Chooses among the mounts of one hierarchy: the one whose root holds `cgroup_path`
/// (the deepest such root), otherwise the first.
mount_entry const* pick_mount(std::vector<mount_entry const*> const& candidates, std::string const& cgroup_path)
{
    mount_entry const* best = nullptr;
    for (auto const* mount : candidates)
        if (relative_to_mount(cgroup_path, mount->root) && (best == nullptr || mount->root.size() > best->root.size()))
            best = mount;
    if (best == nullptr && !candidates.empty())
        best = candidates.front();
    return best;
}

/// The smallest quota that `read_dir` finds in the process's cgroup directory and in each
/// of its ancestors up to the mount point. Directories above the mount are not visible.
template <class ReadDir>
std::optional<double> min_quota(fs::path const& root, mount_entry const& mount, std::string const& cgroup_path, ReadDir read_dir)
{
    // The mount point is absolute: resolve it under `root`, not in place of it
    fs::path const mount_dir = root / fs::path(mount.mount_point).relative_path();

    // Map the cgroup path below the mount; fall back to the mount point itself
    fs::path rel = relative_to_mount(cgroup_path, mount.root).value_or(fs::path());
    std::error_code ec;
    if (!fs::is_directory(mount_dir / rel, ec))
        rel.clear();

    // Walk from the mount point down to the process's cgroup, keeping the minimum
    std::optional<double> result;
    auto const visit = [&](fs::path const& dir) {
        auto const quota = read_dir(dir);
        if (quota && (!result || *quota < *result))
            result = quota;
    };
    fs::path dir = mount_dir;
    visit(dir);
    for (auto const& part : rel) {
        dir /= part;
        visit(dir);
    }
    return result;
}

/// cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us in one directory; -1 means unlimited.
std::optional<double> read_v1_quota(fs::path const& dir)
{
    auto const quota_text = read_first_line(dir / "cpu.cfs_quota_us");
    auto const period_text = read_first_line(dir / "cpu.cfs_period_us");
    if (!quota_text || !period_text)
        return std::nullopt;
    auto const quota = parse_integer(*quota_text);
    auto const period = parse_integer(*period_text);
    if (!quota || !period || *quota <= 0 || *period <= 0)
        return std::nullopt;
    return static_cast<double>(*quota) / static_cast<double>(*period);
}

/// cgroup v2: cpu.max in one directory, "$MAX $PERIOD" where $MAX may be "max".
std::optional<double> read_v2_quota(fs::path const& dir)
{
    auto const line = read_first_line(dir / "cpu.max");
    if (!line)
        return std::nullopt;
    auto const parts = fields(*line);
    if (parts.empty() || parts[0] == "max")
        return std::nullopt;
    auto const quota = parse_integer(parts[0]);
    // The period is optional when writing cpu.max, and defaults to 100 ms
    auto const period = parts.size() > 1 ? parse_integer(parts[1]) : std::optional<long long>(100000);
    if (!quota || !period || *quota <= 0 || *period <= 0)
        return std::nullopt;
    return static_cast<double>(*quota) / static_cast<double>(*period);
}

cgroup_quota read_cgroup_quota_impl(fs::path const& root)
{
    auto const cgroups = read_cgroup_entries(root / "proc/self/cgroup");
    auto const mounts = read_mounts(root / "proc/self/mountinfo");

    // cgroup v1 (or the v1 half of a hybrid layout): the hierarchy with the cpu controller
    for (auto const& entry : cgroups) {
        if (entry.hierarchy_id == "0" || !has_token(entry.controllers, "cpu"))
            continue;
        std::vector<mount_entry const*> candidates;
        for (auto const& mount : mounts)
            if (mount.fs_type == "cgroup" && has_token(mount.super_options, "cpu"))
                candidates.push_back(&mount);
        if (auto const* mount = pick_mount(candidates, entry.path))
            return {"v1", min_quota(root, *mount, entry.path, read_v1_quota)};
    }

    // cgroup v2: the unified hierarchy, written as "0::/path"
    for (auto const& entry : cgroups) {
        if (entry.hierarchy_id != "0" || !entry.controllers.empty())
            continue;
        std::vector<mount_entry const*> candidates;
        for (auto const& mount : mounts)
            if (mount.fs_type == "cgroup2")
                candidates.push_back(&mount);
        if (auto const* mount = pick_mount(candidates, entry.path))
            return {"v2", min_quota(root, *mount, entry.path, read_v2_quota)};
    }

    return {};
}

} // namespace

//------------------------------------------------------------------------------

std::optional<std::vector<int>> parse_cpu_list(std::string_view text)
{
    // Files under /sys and /proc end in a newline; leading or inner blanks stay malformed
    auto const end = text.find_last_not_of(" \t\r\n");
    text = text.substr(0, end == std::string_view::npos ? 0 : end + 1);
    std::vector<int> cpus;
    if (text.empty())
        return cpus;

    // Each comma-separated piece is "N" or "N-M" with N <= M
    for (auto const piece : split(text, ',')) {
        auto const dash = piece.find('-');
        auto const first = parse_integer(piece.substr(0, dash));
        auto const last = dash == std::string_view::npos ? first : parse_integer(piece.substr(dash + 1));
        if (!first || !last || *first < 0 || *last > max_cpu_id || *first > *last)
            return std::nullopt;
        for (auto cpu = *first; cpu <= *last; ++cpu)
            cpus.push_back(static_cast<int>(cpu));
    }

    // Overlapping pieces are legal; the result is sorted and unique
    std::sort(cpus.begin(), cpus.end());
    cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
    return cpus;
}

std::string format_cpu_list(std::vector<int> const& cpus)
{
    std::vector<int> sorted = cpus;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());

    // Emit each run of consecutive CPUs as "N" or "N-M"
    std::string out;
    for (std::size_t i = 0; i < sorted.size();) {
        std::size_t j = i;
        while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1)
            ++j;
        if (!out.empty())
            out += ',';
        out += std::to_string(sorted[i]);
        if (j != i)
            out += '-' + std::to_string(sorted[j]);
        i = j + 1;
    }
    return out;
}

cgroup_quota read_cgroup_quota(std::filesystem::path const& root)
{
    // Unreadable or surprising files mean "no quota", never an exception
    try {
        return read_cgroup_quota_impl(root);
    } catch (...) {
        return {};
    }
}

cpu_limits combine_limits(std::vector<int> allowed, cgroup_quota const& quota)
{
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());

    cpu_limits limits;
    limits.cgroup = quota.version;
    limits.quota_cpus = quota.cpus;

    // Start from the affinity mask; an unknown mask counts as one CPU
    double usable = allowed.empty() ? 1.0 : static_cast<double>(allowed.size());

    // A quota of 1.5 CPUs keeps two threads busy part of the time: round up
    if (quota.cpus && std::isfinite(*quota.cpus) && *quota.cpus > 0.0)
        usable = std::min(usable, std::ceil(*quota.cpus));

    limits.usable = std::max(1, static_cast<int>(usable));
    limits.allowed = std::move(allowed);
    return limits;
}

cpu_limits detect_cpu_limits()
{
    return combine_limits(affinity_cpus(), read_cgroup_quota("/"));
}

bool pin_current_thread(int cpu)
{
    // A set just big enough to name `cpu`; the kernel rejects CPUs it does not have
    if (cpu < 0 || cpu > max_cpu_id)
        return false;
    dynamic_cpu_set set(cpu + 1);
    if (!set.valid())
        return false;
    set.add(cpu);
    return ::pthread_setaffinity_np(::pthread_self(), set.size(), set.get()) == 0;
}

std::optional<int> lower_current_thread_priority(int increment)
{
    // PRIO_PROCESS with a thread id addresses that one thread on Linux. getpriority may
    // return -1 as a real value, so errno tells failure apart.
    auto const tid = static_cast<id_t>(::gettid());
    errno = 0;
    int const current = ::getpriority(PRIO_PROCESS, tid);
    if (errno != 0)
        return std::nullopt;
    int const wanted = std::min(19, current + std::max(0, increment));
    if (wanted != current && ::setpriority(PRIO_PROCESS, tid, wanted) != 0)
        return std::nullopt;
    return wanted - current;
}

void name_current_thread(std::string const& name)
{
    ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

} // namespace cvp
