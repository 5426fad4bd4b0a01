/// The connection cap the open-file limit allows.

#include "server/descriptor_budget.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

namespace {

using cvp::descriptor_headroom;
using cvp::plan_connection_budget;

TEST(DescriptorBudget, TheFlagBindsWhenDescriptorsAreAmple)
{
    auto const b = plan_connection_budget(100, 1, 20'000, 10);
    EXPECT_EQ(b.cap, 100u);
    EXPECT_FALSE(b.bound_by_open_files());
    EXPECT_EQ(b.reserved, 10 + descriptor_headroom);
}

TEST(DescriptorBudget, TheOpenFileLimitBindsOtherwise)
{
    // 256 files, 12 open, the headroom kept: the rest in whole connections.
    auto const one = plan_connection_budget(10'000, 1, 256, 12);
    EXPECT_EQ(one.cap, 256 - 12 - descriptor_headroom);
    EXPECT_TRUE(one.bound_by_open_files());
    auto const four = plan_connection_budget(10'000, 4, 256, 12);
    EXPECT_EQ(four.cap, (256 - 12 - descriptor_headroom) / 4);
    EXPECT_EQ(four.per_connection, 4u);
}

TEST(DescriptorBudget, NoRoomMeansNoConnection)
{
    EXPECT_EQ(plan_connection_budget(10, 1, 20, 10).cap, 0u);
    EXPECT_EQ(plan_connection_budget(10, 1, 5, 10).cap, 0u);
}

TEST(DescriptorBudget, CountsTheDescriptorsOpenNow)
{
    auto const before = cvp::open_descriptors();
    int const fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(cvp::open_descriptors(), before + 1);
    ::close(fd);
    EXPECT_EQ(cvp::open_descriptors(), before);
}

} // namespace
