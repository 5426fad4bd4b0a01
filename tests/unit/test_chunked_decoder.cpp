/// The chunked decoder's chunk-size line (RFC 9112 §7.1, §7.1.1): a table of valid and
/// invalid lines, each fed whole and a byte at a time, since feed() may see its input
/// split anywhere.

#include "server/chunked_decoder.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace {

using cvp::chunked_decoder;
using fault = chunked_decoder::fault;

/// What feeding a whole input came to: the last status and the bytes consumed in all.
struct outcome
{
    chunked_decoder::status status;
    std::size_t consumed;
    fault why;
    std::uint64_t body_bytes;
};

/// Feeds `input` to a fresh decoder whole, or a byte at a time, up to its first verdict.
outcome feed(std::string_view input, bool byte_by_byte)
{
    chunked_decoder d{std::numeric_limits<std::uint64_t>::max(), 8192};
    std::size_t const piece = byte_by_byte ? 1 : input.size();
    std::size_t total = 0;
    auto s = chunked_decoder::status::need_more;
    while (total < input.size() && s == chunked_decoder::status::need_more) {
        std::size_t used = 0;
        auto const part = input.substr(total, piece);
        s = d.feed(part, used);
        total += used;
        // need_more means all of the piece was taken.
        if (s == chunked_decoder::status::need_more) {
            EXPECT_EQ(used, part.size());
        }
    }
    return {s, total, d.why(), d.body_bytes()};
}

/// A chunk of "hello", and the last chunk: what follows each line in the table.
constexpr std::string_view rest = "hello\r\n0\r\n\r\n";

struct line_case
{
    char const* name;   ///< the test's name
    std::string line;   ///< the chunk-size line with its terminator
    fault expected;     ///< fault::none: valid
    std::size_t bad_at; ///< for an invalid line, the index of the byte that is refused
};

class chunk_line : public ::testing::TestWithParam<line_case>
{
};

TEST_P(chunk_line, is_judged_the_same_whole_and_byte_by_byte)
{
    auto const& c = GetParam();
    auto const input = c.line + std::string{rest};
    for (bool const byte_by_byte : {false, true}) {
        SCOPED_TRACE(byte_by_byte ? "byte by byte" : "whole");
        auto const o = feed(input, byte_by_byte);
        if (c.expected == fault::none) {
            // The line is taken, then the chunk's 5 bytes and the last chunk end the body.
            EXPECT_EQ(o.status, chunked_decoder::status::done);
            EXPECT_EQ(o.consumed, input.size());
            EXPECT_EQ(o.body_bytes, 5u);
            EXPECT_EQ(o.why, fault::none);
        } else {
            // Refused at the first byte outside the grammar, for the reason it breaks.
            EXPECT_EQ(o.status, chunked_decoder::status::malformed);
            EXPECT_EQ(o.consumed, c.bad_at + 1);
            EXPECT_EQ(o.why, c.expected) << chunked_decoder::describe(o.why);
            EXPECT_EQ(o.body_bytes, 0u);
        }
    }
}

using namespace std::string_literals;

INSTANTIATE_TEST_SUITE_P(
    grammar, chunk_line,
    ::testing::Values(
        // Valid: a size, with or without extensions, BWS around ';' and '=', quoted values.
        line_case{"size_only", "5\r\n", fault::none, 0}, line_case{"name_only", "5;a\r\n", fault::none, 0},
        line_case{"name_and_token", "5;a=b\r\n", fault::none, 0}, line_case{"bws_before_semicolon", "5 ;a\r\n", fault::none, 0},
        line_case{"bws_around_everything", "5; a = b\r\n", fault::none, 0},
        line_case{"quoted_value_with_escaped_quote", "5;a=\"q\\\"x\"\r\n", fault::none, 0},
        line_case{"empty_quoted_then_second_extension", "5;a=\"\";b=c\r\n", fault::none, 0},
        line_case{"trailing_tab", "5;a=b\t\r\n", fault::none, 0}, line_case{"leading_zeros", "0005\r\n", fault::none, 0},
        line_case{"quoted_value_with_space_tab_and_obs_text", "5;a=\"x y\t\x80\\\x90\"\r\n", fault::none, 0},
        line_case{"name_then_bws_then_next_extension", "5;a ;b\r\n", fault::none, 0},
        // Invalid extensions.
        line_case{"no_name", "5;=x\r\n", fault::extension_name, 2},
        line_case{"nothing_after_semicolon", "5;\r\n", fault::extension_name, 2},
        line_case{"no_value", "5;a=\r\n", fault::extension_value, 4},
        line_case{"unterminated_quote", "5;a=\"open\r\n", fault::extension_value, 9},
        line_case{"text_after_closing_quote", "5;a=\"x\"y\r\n", fault::separator, 7},
        line_case{"space_inside_name", "5;a b\r\n", fault::separator, 4},
        line_case{"space_inside_token_value", "5;a=b c\r\n", fault::separator, 6},
        line_case{"quote_inside_token_value", "5;a=b\"\r\n", fault::extension_value, 5},
        line_case{"nul_in_name", "5;a\0b\r\n"s, fault::extension_name, 3},
        line_case{"control_byte_in_token_value", "5;a=\x01\r\n", fault::extension_value, 4},
        line_case{"del_in_quoted_value", "5;a=\"\x7f\"\r\n", fault::extension_value, 5},
        line_case{"control_byte_after_backslash", "5;a=\"\\\x01\"\r\n", fault::extension_value, 6},
        line_case{"control_byte_after_size", "5\x01\r\n", fault::chunk_size, 1},
        // Invalid sizes.
        line_case{"extension_without_size", ";a\r\n", fault::chunk_size, 0}, line_case{"empty_size", "\r\n", fault::chunk_size, 0},
        line_case{"hex_prefix", "0x5\r\n", fault::chunk_size, 1}, line_case{"two_sizes", "5 5\r\n", fault::separator, 2},
        line_case{"size_over_64_bits", "10000000000000000\r\n", fault::chunk_size_overflow, 16},
        // Line ends other than CRLF.
        line_case{"bare_lf", "5\nhello\r\n", fault::bare_lf, 1}, line_case{"bare_lf_after_extension", "5;a=b\n", fault::bare_lf, 5},
        line_case{"bare_lf_inside_quotes", "5;a=\"\n\"\r\n", fault::bare_lf, 5},
        line_case{"cr_without_lf", "5\rhello\r\n", fault::cr_without_lf, 2}),
    [](::testing::TestParamInfo<line_case> const& p) { return std::string{p.param.name}; });

TEST(chunked_decoder_limits, a_line_over_max_line_bytes_is_line_too_long_even_when_valid_so_far)
{
    // One byte past the limit, within a valid extension value.
    auto const line = "5;e=" + std::string(chunked_decoder::max_line_bytes - 3, 'e');
    for (bool const byte_by_byte : {false, true}) {
        auto const o = feed(line, byte_by_byte);
        EXPECT_EQ(o.status, chunked_decoder::status::line_too_long);
        EXPECT_EQ(o.consumed, chunked_decoder::max_line_bytes + 1);
    }
    // At the limit, CR included, the line is taken.
    auto const at_limit = "5;e=" + std::string(chunked_decoder::max_line_bytes - 5, 'e') + "\r\n" + std::string{rest};
    EXPECT_EQ(feed(at_limit, false).status, chunked_decoder::status::done);
}

TEST(chunked_decoder_faults, every_fault_has_its_own_description)
{
    // The error reply names the problem: no two faults read the same.
    std::string seen;
    for (auto f = static_cast<int>(fault::none); f <= static_cast<int>(fault::trailer); ++f) {
        auto const text = std::string{chunked_decoder::describe(static_cast<fault>(f))};
        EXPECT_FALSE(text.empty());
        EXPECT_EQ(seen.find("|" + text + "|"), std::string::npos) << text;
        seen += "|" + text + "|";
    }
    // Faults after the line are named too.
    EXPECT_EQ(feed("5\r\nhelloXX", false).why, fault::chunk_data_end);
    EXPECT_EQ(feed("0\r\nno-colon\r\n\r\n", false).why, fault::trailer);
}

} // namespace
