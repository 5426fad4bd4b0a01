/// cvp-load's command line: what it accepts, and a clear error naming the flag for what it
/// does not (main turns those into exit status 2).

#include "loadtest/load/options.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace cvp::load;

parsed_options parse(std::vector<std::string> args)
{
    return parse_options(args);
}

/// The error for `args`; fails the test when they parse.
std::string error_of(std::vector<std::string> args)
{
    auto const p = parse(std::move(args));
    auto const* e = std::get_if<options_error>(&p);
    EXPECT_NE(e, nullptr);
    return e ? e->message : "";
}

TEST(load_options, a_full_command_line)
{
    auto const p = parse({"--rate",
                          "2500.5",
                          "--duration=3",
                          "--warmup",
                          "0.5",
                          "--arrival",
                          "poisson",
                          "--seed",
                          "7",
                          "--connections",
                          "4",
                          "--max-connections",
                          "64",
                          "--backlog",
                          "10",
                          "--timeout",
                          "2",
                          "--json",
                          "out.json",
                          "--quiet",
                          "9@http://127.0.0.1:8080/plaintext",
                          "http://127.0.0.1:8080/io/sleep?ms=10"});
    auto const* o = std::get_if<run_options>(&p);
    ASSERT_NE(o, nullptr);
    EXPECT_DOUBLE_EQ(o->rate, 2500.5);
    EXPECT_DOUBLE_EQ(o->duration_s, 3);
    EXPECT_DOUBLE_EQ(o->warmup_s, 0.5);
    EXPECT_EQ(o->arrival, arrival_kind::poisson);
    EXPECT_EQ(o->seed, 7U);
    EXPECT_EQ(o->connections, 4U);
    EXPECT_EQ(o->max_connections, 64U);
    EXPECT_EQ(o->backlog, 10U);
    EXPECT_DOUBLE_EQ(o->timeout_s, 2);
    EXPECT_EQ(o->json_path, "out.json");
    EXPECT_TRUE(o->quiet);
    EXPECT_EQ(o->host, "127.0.0.1");
    EXPECT_EQ(o->port, 8080);
    ASSERT_EQ(o->urls.size(), 2U);
    EXPECT_EQ(o->urls[0].path, "/plaintext");
    EXPECT_EQ(o->urls[0].weight, 9U);
    EXPECT_EQ(o->urls[1].path, "/io/sleep?ms=10");
    EXPECT_EQ(o->urls[1].weight, 1U);
    EXPECT_EQ(origin_of(*o), "http://127.0.0.1:8080");
}

TEST(load_options, a_url_without_a_path_or_port_gets_slash_and_80)
{
    auto const p = parse({"--rate", "1", "http://localhost", "http://localhost?x=1"});
    auto const* o = std::get_if<run_options>(&p);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->port, 80);
    EXPECT_EQ(o->urls[0].path, "/");
    EXPECT_EQ(o->urls[1].path, "/?x=1");
}

TEST(load_options, merge_takes_files_and_json)
{
    auto const p = parse({"merge", "a.json", "b.json", "--json", "m.json"});
    auto const* m = std::get_if<merge_options>(&p);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->inputs, (std::vector<std::string>{"a.json", "b.json"}));
    EXPECT_EQ(m->json_path, "m.json");
}

TEST(load_options, help)
{
    EXPECT_TRUE(std::holds_alternative<help_asked>(parse({"--help"})));
    EXPECT_NE(help_text().find("--rate"), std::string::npos);
    EXPECT_NE(help_text().find("merge"), std::string::npos);
}

TEST(load_options, each_bad_command_line_names_its_problem)
{
    EXPECT_NE(error_of({"http://a:1/"}).find("--rate is required"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "10"}).find("no URL"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "0", "http://a:1/"}).find("--rate 0"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "fast", "http://a:1/"}).find("--rate fast"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "1", "--duration", "-1", "http://a:1/"}).find("--duration -1"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "1", "--arrival", "bursty", "http://a:1/"}).find("constant or poisson"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "1", "--bogus", "1", "http://a:1/"}).find("unknown flag --bogus"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "1", "http://a:1/", "--timeout"}).find("--timeout needs a value"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "1", "https://a:1/"}).find("plain HTTP"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "1", "http://a:99999/"}).find("port"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "1", "0@http://a:1/"}).find("weight"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "1", "http://a:1/x y"}).find("spaces"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "1", "http://a:1/", "http://b:1/"}).find("same HOST:PORT"), std::string::npos);
    EXPECT_NE(error_of({"--rate", "1", "--connections", "5", "--max-connections", "2", "http://a:1/"}).find("more than --max-connections"),
              std::string::npos);
    EXPECT_NE(error_of({"merge", "a.json"}).find("--json"), std::string::npos);
    EXPECT_NE(error_of({"merge", "--json", "x"}).find("at least one"), std::string::npos);
}

} // namespace
