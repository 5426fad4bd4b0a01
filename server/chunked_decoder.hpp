#pragma once

/// Reads a chunked request body (RFC 9112 §7.1) and discards it, within limits.
///
/// Written here rather than left to Beast's parser because Beast folds trailer fields into
/// the request's header fields and applies framing rules to them (a `Connection: close`
/// trailer closed the connection; a `Content-Length` trailer was a 400), which RFC 9110
/// §6.5.1 forbids. Beast also searches for the end of a chunk-size line and of the
/// trailer section without any limit, so a client could make the server buffer either
/// without bound. Here each byte is looked at once, and nothing but counters is kept.
///
/// The chunk-size line is checked against its full grammar (RFC 9112 §7.1, §7.1.1):
///
///     chunk-line = 1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ) BWS CRLF
///
/// Whitespace before the CRLF is accepted as BWS too (`5;a=b<TAB>`). Extensions are
/// parsed only to be checked, then ignored: a proxy in front that reads them differently
/// would frame the body differently, so anything outside the grammar is refused.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cvp {

class chunked_decoder
{
public:
    /// What feed() found.
    enum class status
    {
        need_more,          ///< all input consumed, the body is not over yet
        done,               ///< the last chunk and the trailer section ended; bytes after it are the next request
        malformed,          ///< not chunked framing: 400
        body_too_large,     ///< the chunk sizes add up past the body limit: 413
        line_too_long,      ///< a chunk-size line (with its extensions) exceeds max_line_bytes: 400 (malformed, not too large)
        trailers_too_large, ///< the trailer section exceeds the trailer limit: 431
    };

    /// Why feed() answered `malformed`: each names one problem, for the error reply.
    enum class fault : std::uint8_t
    {
        none,
        chunk_size,          ///< the chunk size is missing or not 1*HEXDIG (`;a`, `0x5`, an empty line)
        chunk_size_overflow, ///< the chunk size does not fit in 64 bits
        extension_name,      ///< after ';' comes no token (`5;=x`, `5;`)
        extension_value,     ///< after '=' comes neither a token nor a whole quoted-string (`5;a=`, `5;a="open`)
        separator,           ///< after the size or an extension comes neither ';' nor CRLF (`5 5`, `5;a b`, `5;a="x"y`)
        bare_lf,             ///< a line ends in LF without CR
        cr_without_lf,       ///< a CR is not followed by LF
        chunk_data_end,      ///< chunk data is not followed by CRLF
        trailer,             ///< a trailer line is not `token ":" text CRLF`
    };

    /// What `f` means, in a few words for an error reply.
    static std::string_view describe(fault f) noexcept;

    /// The longest chunk-size line, extensions included, that is accepted.
    static constexpr std::size_t max_line_bytes = 4096;

    chunked_decoder(std::uint64_t body_limit, std::size_t trailer_limit) noexcept
        : body_left_(body_limit)
        , trailer_left_(trailer_limit)
    {}

    /// Consumes a prefix of `input`, setting `consumed` to its length.
    status feed(std::string_view input, std::size_t& consumed) noexcept;

    /// Body bytes (chunk data) seen so far.
    std::uint64_t body_bytes() const noexcept { return body_bytes_; }

    /// Why the last feed() answered `malformed`; `fault::none` before that.
    fault why() const noexcept { return fault_; }

private:
    enum class state
    {
        size_first,   ///< the first hex digit of a chunk size
        size,         ///< further hex digits
        line_bws,     ///< BWS after the size or an extension's value: ';' or CR next
        name_first,   ///< after ';' and BWS: an extension name's first tchar
        name,         ///< further tchars of an extension name
        name_bws,     ///< BWS after an extension name: '=', ';' or CR next
        value_first,  ///< after '=' and BWS: a token or a quoted-string
        value_token,  ///< further tchars of a token value
        value_quoted, ///< inside a quoted-string value
        value_escape, ///< after a backslash in a quoted-string
        size_lf,      ///< after the line's CR
        data,
        data_cr,
        data_lf,
        trailer_start, ///< the start of a trailer line, or of the final CRLF
        trailer_name,
        trailer_value,
        trailer_lf,
        final_lf,
        done,
    };

    /// After a size, a name or a value: ';' starts another extension, BWS leads to
    /// `after_blank`, CR ends the line; any other byte is the fault `otherwise`.
    fault end_item(char c, state after_blank, fault otherwise) noexcept;

    /// Takes one byte of the chunk-size line before its CR; returns the fault it makes, if any.
    fault take_line_byte(char c) noexcept;

    state state_ = state::size_first;
    std::uint64_t size_ = 0;
    std::uint64_t body_left_;
    std::uint64_t body_bytes_ = 0;
    std::size_t line_bytes_ = 0;
    std::size_t trailer_left_;
    fault fault_ = fault::none;
};

} // namespace cvp
