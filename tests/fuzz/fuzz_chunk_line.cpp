/// Fuzzes the chunked decoder's chunk-size line (server/chunked_decoder.hpp) against a
/// reference of the grammar written here in another style: a recursive descent that
/// judges a whole line at once, where the decoder is a state machine fed byte by byte.
///
///     chunk-line = 1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ) BWS CRLF
///
/// Input: two bytes that pick where the line is split between two feed() calls; a byte
/// that, with its two high bits set, prefixes the line with 3,968 to 4,220 zeros (so
/// that short inputs reach the 4,096-byte line limit, on either side of it); the line,
/// cut after its first LF (what follows a line is chunk data, not the line).
///
/// Checks: fed whole and fed in two pieces, the decoder stops where the reference says:
/// at the first byte after which no completion makes a valid line (malformed, with
/// bare_lf or cr_without_lf where those are what broke it), at byte 4,097 of an
/// unfinished line (line_too_long), or nowhere; a line the reference accepts is taken,
/// and the chunk size it read is the reference's (the chunk's data and the last chunk
/// then end the body).

#include "fuzz_check.hpp"

#include "server/chunked_decoder.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace {

using cvp::chunked_decoder;

/// The reference: one whole line, read top-down with backtracking over BWS.
class line_grammar
{
public:
    /// The chunk size, when `line` is exactly one valid chunk-size line with its CRLF.
    static std::optional<std::uint64_t> size_of(std::string_view line)
    {
        line_grammar g{line};
        return g.line();
    }

private:
    explicit line_grammar(std::string_view s)
        : s_(s)
    {}

    std::optional<std::uint64_t> line()
    {
        auto const size = chunk_size();
        if (!size)
            return std::nullopt;
        while (true) {
            // An extension is BWS ";" ...; without the ';' the BWS is the line's last.
            auto const before = at_;
            bws();
            if (!eat(';')) {
                at_ = before;
                break;
            }
            if (!extension())
                return std::nullopt;
        }
        bws();
        if (!eat('\r') || !eat('\n') || at_ != s_.size())
            return std::nullopt;
        return size;
    }

    /// 1*HEXDIG, within 64 bits.
    std::optional<std::uint64_t> chunk_size()
    {
        auto const start = at_;
        while (at_ < s_.size() && std::string_view{"0123456789abcdefABCDEF"}.find(s_[at_]) != std::string_view::npos)
            ++at_;
        if (at_ == start)
            return std::nullopt;
        std::uint64_t value = 0;
        auto const [end, ec] = std::from_chars(s_.data() + start, s_.data() + at_, value, 16);
        if (ec != std::errc{} || end != s_.data() + at_)
            return std::nullopt;
        return value;
    }

    /// After ';': BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ].
    bool extension()
    {
        bws();
        if (!token())
            return false;
        auto const before = at_;
        bws();
        if (!eat('=')) {
            at_ = before;
            return true;
        }
        bws();
        return token() || quoted_string();
    }

    /// 1*tchar (RFC 9110 §5.6.2).
    bool token()
    {
        constexpr std::string_view tchars = "!#$%&'*+-.^_`|~0123456789"
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        auto const start = at_;
        while (at_ < s_.size() && tchars.find(s_[at_]) != std::string_view::npos)
            ++at_;
        return at_ > start;
    }

    /// DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4).
    bool quoted_string()
    {
        if (!eat('"'))
            return false;
        while (at_ < s_.size()) {
            auto const u = static_cast<unsigned char>(s_[at_++]);
            if (u == '"')
                return true;
            bool const vchar = u >= 0x21 && u <= 0x7e;
            bool const obs_text = u >= 0x80;
            if (u == '\\') {
                if (at_ == s_.size())
                    return false;
                auto const v = static_cast<unsigned char>(s_[at_++]);
                if (!(v == '\t' || v == ' ' || (v >= 0x21 && v <= 0x7e) || v >= 0x80))
                    return false;
            } else if (!(u == '\t' || u == ' ' || vchar || obs_text)) {
                return false;
            }
        }
        return false;
    }

    /// *( SP / HTAB )
    void bws()
    {
        while (at_ < s_.size() && (s_[at_] == ' ' || s_[at_] == '\t'))
            ++at_;
    }

    bool eat(char c)
    {
        if (at_ < s_.size() && s_[at_] == c) {
            ++at_;
            return true;
        }
        return false;
    }

    std::string_view s_;
    std::size_t at_ = 0;
};

/// Whether some bytes after `prefix` make a valid line. Each state of a partial line has
/// one of these as a completion: nothing, the LF after a CR, the CRLF, a name or value
/// before it, a closing quote, a quoted-pair's byte and the quote, a first digit.
bool viable(std::string_view prefix)
{
    constexpr std::array<std::string_view, 7> completions{"", "\n", "\r\n", "a\r\n", "\"\r\n", "a\"\r\n", "0\r\n"};
    std::string candidate{prefix};
    return std::any_of(completions.begin(), completions.end(), [&](std::string_view tail) {
        candidate.resize(prefix.size());
        candidate += tail;
        return line_grammar::size_of(candidate).has_value();
    });
}

/// The longest viable prefix of `line`: viability only ever goes from true to false.
std::size_t longest_viable(std::string_view line)
{
    std::size_t good = 0; // the empty prefix is viable
    std::size_t bad = line.size() + 1;
    while (bad - good > 1) {
        auto const mid = good + (bad - good) / 2;
        (viable(line.substr(0, mid)) ? good : bad) = mid;
    }
    return good;
}

/// What a decoder came to after the line: its status and the bytes it consumed.
struct verdict
{
    chunked_decoder::status status;
    std::size_t consumed;
};

/// Feeds `line` in two pieces split at `split`, the second only if the first was all taken.
verdict feed_split(chunked_decoder& d, std::string_view line, std::size_t split)
{
    std::size_t used = 0;
    auto s = d.feed(line.substr(0, split), used);
    if (s != chunked_decoder::status::need_more)
        return {s, used};
    FUZZ_CHECK(used == split);
    std::size_t more = 0;
    s = d.feed(line.substr(split), more);
    return {s, used + more};
}

/// After a line the reference accepted with `size`: the chunk's data and the last chunk,
/// or for the last chunk itself, the end of its (empty) trailer section.
void check_size_read(chunked_decoder& d, std::uint64_t size)
{
    constexpr std::uint64_t most = 256;
    std::string body(static_cast<std::size_t>(std::min(size, most)), 'x');
    if (size == 0)
        body = "\r\n";
    else if (size <= most)
        body += "\r\n0\r\n\r\n";
    std::size_t used = 0;
    auto const s = d.feed(body, used);
    FUZZ_CHECK(s == (size <= most ? chunked_decoder::status::done : chunked_decoder::status::need_more));
    FUZZ_CHECK(used == body.size());
    FUZZ_CHECK(d.body_bytes() == std::min(size, most));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    if (size < 3)
        return 0;
    auto const pick = static_cast<std::size_t>(data[0] | (data[1] << 8));
    std::string_view given{reinterpret_cast<char const*>(data + 3), size - 3};
    // The line ends at its first LF; whatever follows would be chunk data.
    if (auto const lf = given.find('\n'); lf != std::string_view::npos)
        given = given.substr(0, lf + 1);
    // Leading zeros near the line limit, when asked for.
    std::string padded;
    if ((data[2] & 0xc0) == 0xc0)
        padded.assign(chunked_decoder::max_line_bytes - 128 + 4 * std::size_t{data[2] & 0x3fu}, '0');
    padded += given;
    std::string_view const line = padded;

    // What the reference expects: where the line stops being viable, and the line limit.
    auto const v = longest_viable(line);
    constexpr auto limit = chunked_decoder::max_line_bytes;
    bool const too_long = v >= limit && line.size() > limit && line[limit - 1] != '\r';

    for (auto const split : {line.size(), pick % (line.size() + 1)}) {
        chunked_decoder d{std::numeric_limits<std::uint64_t>::max(), 8192};
        auto const got = feed_split(d, line, split);
        if (too_long) {
            // Byte 4,097 of a line not yet at its LF: too long, whatever it is.
            FUZZ_CHECK(got.status == chunked_decoder::status::line_too_long);
            FUZZ_CHECK(got.consumed == limit + 1);
        } else if (v < line.size()) {
            // Refused at the first byte no valid line has there, for the reason it breaks.
            FUZZ_CHECK(got.status == chunked_decoder::status::malformed);
            FUZZ_CHECK(got.consumed == v + 1);
            bool const after_cr = v > 0 && line[v - 1] == '\r';
            FUZZ_CHECK((d.why() == chunked_decoder::fault::cr_without_lf) == after_cr);
            FUZZ_CHECK((d.why() == chunked_decoder::fault::bare_lf) == (!after_cr && line[v] == '\n'));
            FUZZ_CHECK(d.why() != chunked_decoder::fault::none);
        } else {
            // All of it may still be, or is, a valid line: taken, with no verdict yet.
            FUZZ_CHECK(got.status == chunked_decoder::status::need_more);
            FUZZ_CHECK(got.consumed == line.size());
            FUZZ_CHECK(d.why() == chunked_decoder::fault::none);
            if (auto const chunk = line_grammar::size_of(line))
                check_size_read(d, *chunk);
        }
    }
    return 0;
}
