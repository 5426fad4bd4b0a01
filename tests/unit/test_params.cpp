#include "handlers/params.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using cvp::param_error;
using cvp::param_reader;
using cvp::parse_target;

using param_list = std::vector<std::pair<std::string, std::string>>;

/// The parameters of a target that must parse.
param_list params_of(std::string_view text)
{
    auto t = parse_target(text);
    EXPECT_TRUE(t.has_value()) << "target: " << text;
    return t ? t->params : param_list{};
}

//------------------------------------------------------------------------------
// parse_target

TEST(ParseTarget, TheHandSplitOfPlainTargetsAgreesWithBoostUrl)
{
    for (std::string_view text : {"/",
                                  "/plaintext",
                                  "/cpu/pbkdf2?iterations=5&length=16",
                                  "/a?",
                                  "/a?&",
                                  "/a?&&b=2&",
                                  "/a?=x",
                                  "/a?k",
                                  "/a?k=",
                                  "/a?k=v=w",
                                  "/a?x=1&x=2",
                                  "//double",
                                  "/a/./b/../c",
                                  "/p?q?r",
                                  "/p?a:b@c/d",
                                  "/~user/!$'()*,;=",
                                  "/a%20b",
                                  "/a?x=%41",
                                  "/a?x=a+b",
                                  "/a#frag",
                                  "/a b",
                                  "/a\x7f",
                                  "/caf\xc3\xa9",
                                  "",
                                  "*",
                                  "a/b",
                                  "http://h/p?x=1"}) {
        SCOPED_TRACE(std::string{text});
        auto const fast = cvp::parse_target(text);
        auto const general = cvp::parse_target_with_boost_url(text);
        ASSERT_EQ(fast.has_value(), general.has_value());
        if (fast) {
            EXPECT_EQ(fast->path, general->path);
            EXPECT_EQ(fast->params, general->params);
        }
    }
}

TEST(ParseTarget, SplitsPathAndQuery)
{
    auto t = parse_target("/cpu/pbkdf2?iterations=5&length=16");
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->path, "/cpu/pbkdf2");
    EXPECT_EQ(t->params, (param_list{{"iterations", "5"}, {"length", "16"}}));
}

TEST(ParseTarget, PathWithoutQueryHasNoParameters)
{
    auto t = parse_target("/plaintext");
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->path, "/plaintext");
    EXPECT_TRUE(t->params.empty());
}

TEST(ParseTarget, RootPath)
{
    auto t = parse_target("/");
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->path, "/");
    EXPECT_TRUE(t->params.empty());
}

TEST(ParseTarget, EmptyQueryHasNoParameters)
{
    for (char const* text : {"/a?", "/a?&", "/a?&&"}) {
        auto t = parse_target(text);
        ASSERT_TRUE(t.has_value()) << text;
        EXPECT_EQ(t->path, "/a") << text;
        EXPECT_TRUE(t->params.empty()) << text;
    }
}

TEST(ParseTarget, TrailingAmpersandIsIgnored)
{
    EXPECT_EQ(params_of("/a?x=1&"), (param_list{{"x", "1"}}));
    EXPECT_EQ(params_of("/a?&x=1"), (param_list{{"x", "1"}}));
}

TEST(ParseTarget, PercentDecodesKeysAndValues)
{
    EXPECT_EQ(params_of("/a?%41=%42"), (param_list{{"A", "B"}}));
    EXPECT_EQ(params_of("/a?password=p%40ss%26word%3D"), (param_list{{"password", "p@ss&word="}}));
    EXPECT_EQ(params_of("/a?x=a%20b"), (param_list{{"x", "a b"}}));
}

TEST(ParseTarget, PercentDecodesThePath)
{
    auto t = parse_target("/plain%74ext");
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->path, "/plaintext");
}

// Boost.URL's url_view::params() decodes with encoding_opts{space_as_plus = true}: in the
// query '+' means a space (HTML form encoding), and a literal plus is spelled %2B. In the
// path '+' is an ordinary character.
TEST(ParseTarget, PlusIsASpaceInTheQueryOnly)
{
    EXPECT_EQ(params_of("/a?x=a+b"), (param_list{{"x", "a b"}}));
    EXPECT_EQ(params_of("/a?x=a%2Bb"), (param_list{{"x", "a+b"}}));
    EXPECT_EQ(params_of("/a?my+key=1"), (param_list{{"my key", "1"}}));
    auto t = parse_target("/a+b");
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->path, "/a+b");
}

TEST(ParseTarget, KeyWithoutValueHasEmptyValue)
{
    EXPECT_EQ(params_of("/a?x"), (param_list{{"x", ""}}));
    EXPECT_EQ(params_of("/a?x="), (param_list{{"x", ""}}));
    EXPECT_EQ(params_of("/a?x&y="), (param_list{{"x", ""}, {"y", ""}}));
}

TEST(ParseTarget, OnlyTheFirstEqualsSplits)
{
    EXPECT_EQ(params_of("/a?x=1=2"), (param_list{{"x", "1=2"}}));
}

TEST(ParseTarget, KeepsDuplicatesInOrder)
{
    EXPECT_EQ(params_of("/a?x=1&y=2&x=3"), (param_list{{"x", "1"}, {"y", "2"}, {"x", "3"}}));
}

TEST(ParseTarget, AcceptsAbsoluteFormAsRfc9112Requires)
{
    auto const t = parse_target("http://example.com/plaintext?x=1");
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->path, "/plaintext");
    EXPECT_EQ(t->params, (param_list{{"x", "1"}}));
    auto const bare = parse_target("http://x");
    ASSERT_TRUE(bare.has_value());
    EXPECT_EQ(bare->path, "/");
}

TEST(ParseTarget, RejectsOtherForms)
{
    // authority-form, asterisk-form, other schemes, and things that are no target at all.
    for (char const* bad : {"example.com:80", "*", "", "plaintext", "?x=1", "ftp://x/plaintext", "mailto:a@b"})
        EXPECT_EQ(parse_target(bad), std::nullopt) << "target: \"" << bad << '"';
}

TEST(ParseTarget, RejectsBadPercentEscapes)
{
    for (char const* bad : {"/a?x=%zz", "/a?x=%", "/a?x=%4", "/a%2", "/a%", "/%G0", "/a?%=1"})
        EXPECT_EQ(parse_target(bad), std::nullopt) << "target: \"" << bad << '"';
}

TEST(ParseTarget, RejectsCharactersNotAllowedInATarget)
{
    for (char const* bad : {"/a b", "/a#frag", "/a?x=1#frag", "/a?x=\"", "/a\\b"})
        EXPECT_EQ(parse_target(bad), std::nullopt) << "target: \"" << bad << '"';
}

//------------------------------------------------------------------------------
// param_reader: numbers

TEST(ParamReader, ReadsARequiredNumber)
{
    param_list const params{{"n", "42"}};
    param_reader r{params};
    EXPECT_EQ(r.number("n", 1, 100), 42u);
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, AcceptsTheBoundsThemselves)
{
    param_list const params{{"a", "1"}, {"b", "100"}, {"c", "0"}};
    param_reader r{params};
    EXPECT_EQ(r.number("a", 1, 100), 1u);
    EXPECT_EQ(r.number("b", 1, 100), 100u);
    EXPECT_EQ(r.number("c", 0, 0), 0u);
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, AcceptsTheLargestUint64)
{
    param_list const params{{"n", "18446744073709551615"}};
    param_reader r{params};
    auto const max = std::numeric_limits<std::uint64_t>::max();
    EXPECT_EQ(r.number("n", 0, max), max);
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, LeadingZerosAreTheSameNumber)
{
    param_list const params{{"n", "007"}};
    param_reader r{params};
    EXPECT_EQ(r.number("n", 1, 10), 7u);
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, MissingRequiredNumberIsAnError)
{
    param_list const params{};
    param_reader r{params};
    EXPECT_EQ(r.number("iterations", 1, 100), 0u);
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "iterations");
    EXPECT_NE(err->message.find("missing"), std::string::npos) << err->message;
    EXPECT_NE(err->message.find("iterations"), std::string::npos) << err->message;
}

/// The error `value` for a number in [lo, hi] produces.
std::optional<param_error> number_error(std::string value, std::uint64_t lo, std::uint64_t hi)
{
    param_list const params{{"n", std::move(value)}};
    param_reader r{params};
    EXPECT_EQ(r.number("n", lo, hi), 0u) << "a rejected value reads as 0";
    return r.finish();
}

TEST(ParamReader, RejectsNonNumericValues)
{
    for (char const* bad : {"abc", "12abc", "1.5", "1e3", "0x10", " 5", "5 ", "+5", "five", "\xff"}) {
        auto err = number_error(bad, 0, 1000);
        ASSERT_TRUE(err.has_value()) << "value: \"" << bad << '"';
        EXPECT_EQ(err->parameter, "n");
        EXPECT_NE(err->message.find("must be an integer from 0 to 1000"), std::string::npos) << err->message;
    }
}

TEST(ParamReader, RejectsEmptyValue)
{
    auto err = number_error("", 0, 10);
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "n");
    EXPECT_NE(err->message.find("got ''"), std::string::npos) << err->message;
}

TEST(ParamReader, RejectsEmptyValueFromATarget)
{
    param_list const params = params_of("/a?x=");
    param_reader r{params};
    EXPECT_EQ(r.number("x", 0, 10, 5), 0u) << "an empty value is not the same as an absent one";
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "x");
}

TEST(ParamReader, RejectsNegativeValues)
{
    for (char const* bad : {"-1", "-0", "-100"}) {
        auto err = number_error(bad, 0, 1000);
        ASSERT_TRUE(err.has_value()) << "value: " << bad;
        EXPECT_EQ(err->parameter, "n");
        EXPECT_NE(err->message.find(bad), std::string::npos) << "the message quotes the value: " << err->message;
    }
}

TEST(ParamReader, RejectsValuesBelowTheRange)
{
    auto err = number_error("0", 1, 100);
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "n");
    EXPECT_NE(err->message.find("from 1 to 100"), std::string::npos) << err->message;
    EXPECT_NE(err->message.find("got 0"), std::string::npos) << err->message;
}

TEST(ParamReader, RejectsValuesAboveTheRange)
{
    auto err = number_error("101", 1, 100);
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "n");
    EXPECT_NE(err->message.find("got 101"), std::string::npos) << err->message;
}

TEST(ParamReader, RejectsOverflow)
{
    for (char const* bad : {"99999999999999999999999", "18446744073709551616"}) {
        auto err = number_error(bad, 0, std::numeric_limits<std::uint64_t>::max());
        ASSERT_TRUE(err.has_value()) << "value: " << bad;
        EXPECT_EQ(err->parameter, "n");
        EXPECT_NE(err->message.find(bad), std::string::npos) << err->message;
    }
}

TEST(ParamReader, OptionalNumberFallsBackWhenAbsent)
{
    param_list const params{};
    param_reader r{params};
    EXPECT_EQ(r.number("length", 1, 128, 32), 32u);
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, OptionalNumberIsReadWhenPresent)
{
    param_list const params{{"length", "64"}};
    param_reader r{params};
    EXPECT_EQ(r.number("length", 1, 128, 32), 64u);
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, OptionalNumberIsStillValidated)
{
    param_list const params{{"length", "129"}};
    param_reader r{params};
    EXPECT_EQ(r.number("length", 1, 128, 32), 0u);
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "length");
}

TEST(ParamReader, DuplicateParameterIsAnError)
{
    param_list const params{{"n", "1"}, {"n", "2"}};
    param_reader r{params};
    EXPECT_EQ(r.number("n", 0, 10), 0u);
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "n");
    EXPECT_NE(err->message.find("more than once"), std::string::npos) << err->message;
}

TEST(ParamReader, DuplicateIsAnErrorEvenWithEqualValues)
{
    param_list const params{{"n", "1"}, {"n", "1"}};
    param_reader r{params};
    r.number("n", 0, 10, 5);
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "n");
    EXPECT_NE(err->message.find("more than once"), std::string::npos) << err->message;
}

TEST(ParamReader, DuplicateOptionalTextIsAnError)
{
    param_list const params{{"salt", "a"}, {"salt", "b"}};
    param_reader r{params};
    r.text("salt", 256, "salt");
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "salt");
    EXPECT_NE(err->message.find("more than once"), std::string::npos) << err->message;
}

//------------------------------------------------------------------------------
// param_reader: text

TEST(ParamReader, TextFallsBackWhenAbsent)
{
    param_list const params{};
    param_reader r{params};
    EXPECT_EQ(r.text("password", 256, "password"), "password");
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, TextIsReadWhenPresent)
{
    param_list const params{{"password", "hunter2"}};
    param_reader r{params};
    EXPECT_EQ(r.text("password", 256, "password"), "hunter2");
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, EmptyTextIsAValueNotTheFallback)
{
    param_list const params{{"salt", ""}};
    param_reader r{params};
    EXPECT_EQ(r.text("salt", 256, "salt"), "");
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, TextAtMaxBytesIsAccepted)
{
    param_list const params{{"salt", std::string(256, 's')}};
    param_reader r{params};
    EXPECT_EQ(r.text("salt", 256, "salt"), std::string(256, 's'));
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, TextOverMaxBytesIsAnError)
{
    param_list const params{{"salt", std::string(257, 's')}};
    param_reader r{params};
    EXPECT_EQ(r.text("salt", 256, "salt"), "");
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "salt");
    EXPECT_NE(err->message.find("at most 256 bytes"), std::string::npos) << err->message;
}

TEST(ParamReader, TextLimitCountsDecodedBytes)
{
    // "%41" is three characters in the target but one byte once decoded.
    std::string query = "/a?salt=";
    for (int i = 0; i < 4; ++i)
        query += "%41";
    param_list const params = params_of(query);
    param_reader r{params};
    EXPECT_EQ(r.text("salt", 4, "x"), "AAAA");
    EXPECT_EQ(r.finish(), std::nullopt);
}

//------------------------------------------------------------------------------
// param_reader: finish()

TEST(ParamReader, UnknownParameterIsReportedByFinish)
{
    param_list const params{{"iterations", "5"}, {"iteration", "5"}};
    param_reader r{params};
    EXPECT_EQ(r.number("iterations", 1, 10), 5u);
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "iteration");
    EXPECT_NE(err->message.find("unknown"), std::string::npos) << err->message;
}

TEST(ParamReader, AnyParameterIsUnknownWhenNoneIsAsked)
{
    param_list const params{{"x", "1"}};
    param_reader r{params};
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "x");
}

TEST(ParamReader, ParameterAskedButAbsentIsNotUnknown)
{
    param_list const params{{"a", "1"}};
    param_reader r{params};
    EXPECT_EQ(r.number("a", 0, 9), 1u);
    EXPECT_EQ(r.number("b", 0, 9, 7), 7u);
    EXPECT_EQ(r.text("c", 9, "c"), "c");
    EXPECT_EQ(r.finish(), std::nullopt);
}

TEST(ParamReader, FirstErrorWins)
{
    param_list const params{{"a", "x"}, {"b", "999"}, {"zzz", "1"}};
    param_reader r{params};
    r.number("missing", 0, 9); // first error: missing
    r.number("a", 0, 9);       // second: non-numeric
    r.number("b", 0, 9);       // third: out of range
    auto err = r.finish();     // and "zzz" is unknown
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "missing");
    EXPECT_NE(err->message.find("missing required parameter"), std::string::npos) << err->message;
}

TEST(ParamReader, FirstErrorWinsInCallOrder)
{
    param_list const params{{"a", "x"}, {"b", "999"}};
    param_reader r{params};
    r.number("b", 0, 9); // asked first, so reported first
    r.number("a", 0, 9);
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "b");
}

TEST(ParamReader, ValidationErrorBeatsUnknownParameter)
{
    // The unknown parameter comes first in the query, but validation errors are recorded
    // as they are met and finish() only looks for unknown ones when there is none.
    param_list const params{{"zzz", "1"}, {"n", "-1"}};
    param_reader r{params};
    r.number("n", 0, 9);
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "n");
}

TEST(ParamReader, FirstUnknownParameterIsTheOneReported)
{
    param_list const params{{"b", "1"}, {"a", "2"}, {"c", "3"}};
    param_reader r{params};
    r.number("a", 0, 9);
    auto err = r.finish();
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->parameter, "b");
}

TEST(ParamReader, EndpointStyleReadFromATarget)
{
    auto t = parse_target("/cpu/pbkdf2?iterations=1000&password=p%40ss+word&length=64");
    ASSERT_TRUE(t.has_value());
    param_reader r{t->params};
    EXPECT_EQ(r.number("iterations", 1, 1'000'000), 1000u);
    EXPECT_EQ(r.number("length", 1, 128, 32), 64u);
    EXPECT_EQ(r.text("password", 256, "password"), "p@ss word");
    EXPECT_EQ(r.text("salt", 256, "salt"), "salt");
    EXPECT_EQ(r.finish(), std::nullopt);
}

} // namespace
