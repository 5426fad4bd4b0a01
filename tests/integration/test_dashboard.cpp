/// /dashboard and /dashboard/chart.js on the real binary: the page is the file in the
/// repository, byte for byte, in every model; Chart.js comes from the file --chart-js
/// names, read on each request, and a missing one is a 404 naming Debian's package; HEAD,
/// parameters, unknown paths and methods are answered as on every other route. What the
/// page shows is tested in a real browser (loadtest/tests/test_dashboard.py).

#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

namespace cvp::test {
namespace {

namespace fs = std::filesystem;
using boost::beast::http::verb;

/// Debian's Chart.js, which the server serves when --chart-js is not given.
constexpr char const* debian_chart_js = "/usr/share/javascript/chart.js/chart.min.js";

/// A file's bytes.
std::string read_file(fs::path const& path)
{
    std::ifstream in{path, std::ios::binary};
    EXPECT_TRUE(in) << path;
    return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// The page's source in the repository, which the build embeds.
std::string page_source()
{
    return read_file(fs::path{CVP_SOURCE_DIR} / "handlers/dashboard/dashboard.html");
}

/// A folder of the test's own under /tmp, removed at the end.
class scratch_dir
{
public:
    scratch_dir()
        : path_(fs::temp_directory_path() / ("cvp-dashboard-test-" + std::to_string(::getpid()) + "-" + std::to_string(next_++)))
    {
        fs::create_directories(path_);
    }
    ~scratch_dir()
    {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    scratch_dir(scratch_dir const&) = delete;
    scratch_dir& operator=(scratch_dir const&) = delete;

    /// Writes `bytes` to `name` in the folder; its path.
    fs::path write(std::string const& name, std::string const& bytes) const
    {
        auto const path = path_ / name;
        std::ofstream{path, std::ios::binary} << bytes;
        return path;
    }

    fs::path const& path() const noexcept { return path_; }

private:
    static inline int next_ = 0;
    fs::path path_;
};

/// Expects a JSON error with `status`; returns its body.
nlohmann::json expect_json_error(http_reply const& r, unsigned status)
{
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << r.body;
    if (body.is_discarded())
        return nlohmann::json::object();
    EXPECT_EQ(body.value("status", 0u), status) << r.body;
    return body;
}

class dashboard_models : public ::testing::TestWithParam<std::string>
{
};

TEST_P(dashboard_models, serves_the_page_from_the_repository_byte_for_byte)
{
    server_process server{{"--mode", GetParam()}};
    http_client client{server.port()};
    auto const r = client.get("/dashboard");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
    EXPECT_EQ(r.header("cache-control"), "no-cache");
    EXPECT_EQ(r.header("x-mode"), GetParam());
    EXPECT_EQ(r.body, page_source());
    // What it polls and loads, relative to /dashboard.
    for (char const* used : {"fetch(\"stats\"", "\"stats/timeline?since=\"", "src=\"dashboard/chart.js\""})
        EXPECT_NE(r.body.find(used), std::string::npos) << used;
}

INSTANTIATE_TEST_SUITE_P(all_models, dashboard_models, ::testing::ValuesIn(all_modes()));

TEST(dashboard, head_gives_the_headers_of_get_without_a_body)
{
    scratch_dir dir;
    auto const script = dir.write("chart.js", "window.Chart = function () {};\n");
    server_process server{{"--mode", "single", "--chart-js", script.string()}};
    http_client client{server.port()};
    for (char const* path : {"/dashboard", "/dashboard/chart.js"}) {
        SCOPED_TRACE(path);
        auto const got = client.get(path);
        auto const head = client.request(path, verb::head);
        EXPECT_EQ(head.status, 200u);
        EXPECT_EQ(head.header("content-type"), got.header("content-type"));
        EXPECT_EQ(head.header("content-length"), std::to_string(got.body.size()));
        EXPECT_TRUE(head.body.empty());
        EXPECT_TRUE(head.keep_alive);
    }
}

TEST(dashboard, chart_js_is_the_named_file_read_on_each_request)
{
    scratch_dir dir;
    auto const script = dir.write("chart.min.js", "/* one */ window.Chart = 1;\n");
    server_process server{{"--mode", "reactors", "--chart-js", script.string()}};
    http_client client{server.port()};
    auto const first = client.get("/dashboard/chart.js");
    EXPECT_EQ(first.status, 200u);
    EXPECT_EQ(first.header("content-type"), "text/javascript; charset=utf-8");
    EXPECT_EQ(first.header("cache-control"), "max-age=86400");
    EXPECT_EQ(first.body, "/* one */ window.Chart = 1;\n");

    // Nothing is kept between requests: a new file is what the next request gets, and a
    // file that has gone is a 404 naming the package.
    dir.write("chart.min.js", "/* two */ window.Chart = 2;\n");
    EXPECT_EQ(client.get("/dashboard/chart.js").body, "/* two */ window.Chart = 2;\n");
    fs::remove(script);
    auto const gone = expect_json_error(client.get("/dashboard/chart.js"), 404);
    EXPECT_EQ(gone.value("package", ""), "libjs-chart.js");
}

TEST(dashboard, a_missing_chart_js_is_a_404_naming_the_package_and_the_path)
{
    scratch_dir dir;
    for (auto const& path : {dir.path() / "absent.js", dir.path()}) {
        SCOPED_TRACE(path.string());
        server_process server{{"--mode", "offload", "--chart-js", path.string()}};
        http_client client{server.port()};
        auto const body = expect_json_error(client.get("/dashboard/chart.js"), 404);
        EXPECT_EQ(body.value("package", ""), "libjs-chart.js");
        EXPECT_EQ(body.value("path", ""), path.string());
        auto const error = body.value("error", "");
        EXPECT_NE(error.find("apt-get install libjs-chart.js"), std::string::npos) << error;
        EXPECT_NE(error.find(path.string()), std::string::npos) << error;
        // The page itself does not need it.
        EXPECT_EQ(client.get("/dashboard").status, 200u);
    }
}

TEST(dashboard, a_file_too_large_to_be_chart_js_is_refused)
{
    scratch_dir dir;
    auto const big = dir.write("huge.js", "");
    fs::resize_file(big, 4 * 1024 * 1024 + 1);
    server_process server{{"--mode", "single", "--chart-js", big.string()}};
    http_client client{server.port()};
    auto const body = expect_json_error(client.get("/dashboard/chart.js"), 500);
    EXPECT_NE(body.value("error", "").find("4194305 bytes"), std::string::npos) << body.dump();
}

TEST(dashboard, debian_chart_js_is_the_default)
{
    // Where libjs-chart.js is installed (scripts/deps installs it) its file is served;
    // where it is not, the 404 names it.
    server_process server{{"--mode", "single"}};
    http_client client{server.port()};
    auto const r = client.get("/dashboard/chart.js");
    if (fs::exists(debian_chart_js)) {
        EXPECT_EQ(r.status, 200u);
        EXPECT_EQ(r.body, read_file(debian_chart_js));
    } else {
        EXPECT_EQ(expect_json_error(r, 404).value("path", ""), debian_chart_js);
    }
}

TEST(dashboard, parameters_unknown_paths_and_methods_are_refused_as_elsewhere)
{
    server_process server{{"--mode", "single"}};
    http_client client{server.port()};
    // Neither takes a parameter: 400 naming it.
    for (auto const& [target, parameter] : {std::pair{"/dashboard?refresh=1", "refresh"}, std::pair{"/dashboard/chart.js?v=3", "v"}}) {
        SCOPED_TRACE(target);
        EXPECT_EQ(expect_json_error(client.get(target), 400).value("parameter", ""), parameter);
    }
    // Nothing else lives under /dashboard.
    for (char const* target : {"/dashboard/", "/dashboard/index.html", "/dashboard/chart.min.js", "/dashboard.html"})
        expect_json_error(client.get(target), 404);
    // GET and HEAD only.
    auto const post = client.request("/dashboard", verb::post);
    expect_json_error(post, 405);
    EXPECT_EQ(post.header("allow"), "GET, HEAD");
}

} // namespace
} // namespace cvp::test
