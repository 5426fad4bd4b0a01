#include "server/cpu_limits.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef CVP_FIXTURES_DIR
#error "CVP_FIXTURES_DIR must name the tests/fixtures directory"
#endif

namespace {

using cvp::cgroup_quota;
using cvp::combine_limits;
using cvp::format_cpu_list;
using cvp::parse_cpu_list;
using cvp::read_cgroup_quota;

/// The fake filesystem root of one cgroup fixture.
std::filesystem::path fixture(char const* name)
{
    return std::filesystem::path(CVP_FIXTURES_DIR) / "cgroup" / name;
}

//------------------------------------------------------------------------------
// parse_cpu_list / format_cpu_list

TEST(ParseCpuList, AcceptsLinuxSyntax)
{
    EXPECT_EQ(parse_cpu_list("0"), (std::vector<int>{0}));
    EXPECT_EQ(parse_cpu_list("0-3"), (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(parse_cpu_list("0-3,8,10-11"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
    EXPECT_EQ(parse_cpu_list("0-1\n"), (std::vector<int>{0, 1}));
    EXPECT_EQ(parse_cpu_list("5-5"), (std::vector<int>{5}));
}

TEST(ParseCpuList, EmptyIsEmpty)
{
    EXPECT_EQ(parse_cpu_list(""), std::vector<int>{});
    EXPECT_EQ(parse_cpu_list("\n"), std::vector<int>{});
}

TEST(ParseCpuList, SortsAndDeduplicates)
{
    EXPECT_EQ(parse_cpu_list("8,0-2,1-3,8"), (std::vector<int>{0, 1, 2, 3, 8}));
}

TEST(ParseCpuList, RejectsGarbage)
{
    for (char const* bad : {"a", "3-1", "1,,2", "-1", ",1", "1,", "1-", "1-2-3", "0x1", " 1", "1 ,2", "+1", "1-a", "99999999999999999999"})
        EXPECT_EQ(parse_cpu_list(bad), std::nullopt) << "input: \"" << bad << '"';
}

TEST(FormatCpuList, Compacts)
{
    EXPECT_EQ(format_cpu_list({}), "");
    EXPECT_EQ(format_cpu_list({4}), "4");
    EXPECT_EQ(format_cpu_list({0, 1, 2, 3, 8}), "0-3,8");
    EXPECT_EQ(format_cpu_list({10, 11}), "10-11");
    EXPECT_EQ(format_cpu_list({3, 1, 2, 2, 7}), "1-3,7");
}

TEST(FormatCpuList, RoundTrips)
{
    for (char const* text : {"0", "0-3,8,10-11", "1,3,5,7", "0-63", "2-3,6-7,100"}) {
        auto const cpus = parse_cpu_list(text);
        ASSERT_TRUE(cpus) << text;
        EXPECT_EQ(format_cpu_list(*cpus), text);
        EXPECT_EQ(parse_cpu_list(format_cpu_list(*cpus)), cpus);
    }
}

//------------------------------------------------------------------------------
// read_cgroup_quota on fixtures (tests/fixtures/cgroup/README.md describes them)

TEST(ReadCgroupQuota, V1QuotaInDockerContainer)
{
    auto const quota = read_cgroup_quota(fixture("v1_quota"));
    EXPECT_EQ(quota.version, "v1");
    ASSERT_TRUE(quota.cpus);
    EXPECT_DOUBLE_EQ(*quota.cpus, 1.5);
}

TEST(ReadCgroupQuota, V1Unlimited)
{
    auto const quota = read_cgroup_quota(fixture("v1_unlimited"));
    EXPECT_EQ(quota.version, "v1");
    EXPECT_FALSE(quota.cpus);
}

TEST(ReadCgroupQuota, V1FallsBackToMountPoint)
{
    auto const quota = read_cgroup_quota(fixture("v1_fallback"));
    EXPECT_EQ(quota.version, "v1");
    ASSERT_TRUE(quota.cpus);
    EXPECT_DOUBLE_EQ(*quota.cpus, 2.0);
}

TEST(ReadCgroupQuota, V2TakesSmallestAncestor)
{
    auto const quota = read_cgroup_quota(fixture("v2_quota"));
    EXPECT_EQ(quota.version, "v2");
    ASSERT_TRUE(quota.cpus);
    EXPECT_DOUBLE_EQ(*quota.cpus, 1.0);
}

TEST(ReadCgroupQuota, V2Unlimited)
{
    auto const quota = read_cgroup_quota(fixture("v2_unlimited"));
    EXPECT_EQ(quota.version, "v2");
    EXPECT_FALSE(quota.cpus);
}

TEST(ReadCgroupQuota, V2ContainerWithCgroupNamespace)
{
    auto const quota = read_cgroup_quota(fixture("v2_container"));
    EXPECT_EQ(quota.version, "v2");
    ASSERT_TRUE(quota.cpus);
    EXPECT_DOUBLE_EQ(*quota.cpus, 1.5);
}

TEST(ReadCgroupQuota, V2DecodesEscapedMountPoint)
{
    auto const quota = read_cgroup_quota(fixture("v2_escaped"));
    EXPECT_EQ(quota.version, "v2");
    ASSERT_TRUE(quota.cpus);
    EXPECT_DOUBLE_EQ(*quota.cpus, 0.5);
}

TEST(ReadCgroupQuota, HybridUsesV1CpuController)
{
    auto const quota = read_cgroup_quota(fixture("hybrid"));
    EXPECT_EQ(quota.version, "v1");
    ASSERT_TRUE(quota.cpus);
    EXPECT_DOUBLE_EQ(*quota.cpus, 2.5);
}

TEST(ReadCgroupQuota, NoCgroupFiles)
{
    auto const quota = read_cgroup_quota(fixture("none"));
    EXPECT_EQ(quota.version, "none");
    EXPECT_FALSE(quota.cpus);
}

TEST(ReadCgroupQuota, MissingRootIsNone)
{
    auto const quota = read_cgroup_quota(fixture("does-not-exist"));
    EXPECT_EQ(quota.version, "none");
    EXPECT_FALSE(quota.cpus);
}

//------------------------------------------------------------------------------
// combine_limits

TEST(CombineLimits, QuotaRoundsUp)
{
    auto const limits = combine_limits({0, 1}, {"v2", 1.5});
    EXPECT_EQ(limits.usable, 2);
    EXPECT_EQ(limits.cgroup, "v2");
    EXPECT_EQ(limits.quota_cpus, 1.5);
    EXPECT_EQ(limits.allowed, (std::vector<int>{0, 1}));
}

TEST(CombineLimits, FractionalQuotaIsAtLeastOne)
{
    EXPECT_EQ(combine_limits({0, 1}, {"v1", 0.5}).usable, 1);
}

TEST(CombineLimits, QuotaCapsAffinity)
{
    EXPECT_EQ(combine_limits({0, 1, 2, 3}, {"v1", 1.0}).usable, 1);
}

TEST(CombineLimits, AffinityCapsQuota)
{
    EXPECT_EQ(combine_limits({2, 3}, {"v2", 8.0}).usable, 2);
}

TEST(CombineLimits, NoQuotaUsesAffinity)
{
    auto const limits = combine_limits({0, 1, 2, 5}, {});
    EXPECT_EQ(limits.usable, 4);
    EXPECT_EQ(limits.cgroup, "none");
    EXPECT_FALSE(limits.quota_cpus);
}

TEST(CombineLimits, EmptyAffinityIsOne)
{
    EXPECT_EQ(combine_limits({}, {}).usable, 1);
    EXPECT_EQ(combine_limits({}, {"v2", 4.0}).usable, 1);
    EXPECT_EQ(combine_limits({}, {"v2", 0.5}).usable, 1);
}

//------------------------------------------------------------------------------
// The running process

/// Cpus_allowed_list from a /proc status file, the kernel's own view of a mask.
std::optional<std::vector<int>> status_cpus_allowed(char const* file)
{
    std::ifstream in(file);
    constexpr std::string_view key = "Cpus_allowed_list:";
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(key)) {
            auto const value = line.substr(line.find_first_not_of(" \t", key.size()));
            return parse_cpu_list(value);
        }
    return std::nullopt;
}

TEST(DetectCpuLimits, ThisMachine)
{
    auto const limits = cvp::detect_cpu_limits();
    ASSERT_FALSE(limits.allowed.empty());
    EXPECT_TRUE(std::is_sorted(limits.allowed.begin(), limits.allowed.end()));
    EXPECT_GE(limits.usable, 1);
    EXPECT_LE(static_cast<std::size_t>(limits.usable), limits.allowed.size());
    EXPECT_TRUE(limits.cgroup == "v1" || limits.cgroup == "v2" || limits.cgroup == "none") << limits.cgroup;

    // The affinity mask agrees with what the kernel reports in /proc/self/status
    auto const expected = status_cpus_allowed("/proc/self/status");
    ASSERT_TRUE(expected);
    EXPECT_EQ(limits.allowed, *expected);
}

TEST(PinCurrentThread, PinsToAnAllowedCpu)
{
    auto const limits = cvp::detect_cpu_limits();
    ASSERT_FALSE(limits.allowed.empty());
    int const cpu = limits.allowed.back();

    // Pin a fresh thread so the test runner keeps its own mask
    bool pinned = false;
    std::optional<std::vector<int>> mask;
    std::thread worker([&] {
        pinned = cvp::pin_current_thread(cpu);
        mask = status_cpus_allowed("/proc/thread-self/status");
    });
    worker.join();

    EXPECT_TRUE(pinned);
    EXPECT_EQ(mask, std::vector<int>{cpu});
}

TEST(PinCurrentThread, RejectsBadCpus)
{
    std::thread worker([] {
        EXPECT_FALSE(cvp::pin_current_thread(-1));
        EXPECT_FALSE(cvp::pin_current_thread(100'000));
        EXPECT_FALSE(cvp::pin_current_thread(1 << 30));
    });
    worker.join();
}

} // namespace
