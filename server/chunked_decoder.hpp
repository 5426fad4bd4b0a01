#pragma once

/// Reads a chunked request body (RFC 9112 §7.1) and discards it, within limits.
///
/// Written here rather than left to Beast's parser because Beast folds trailer fields into
/// the request's header fields and applies framing rules to them (a `Connection: close`
/// trailer closed the connection; a `Content-Length` trailer was a 400), which RFC 9110
/// §6.5.1 forbids. Beast also searches for the end of a chunk-size line and of the
/// trailer section without any limit, so a client could make the server buffer either
/// without bound. Here each byte is looked at once, and nothing but counters is kept.

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

private:
    enum class state
    {
        size_first, ///< the first hex digit of a chunk size
        size,       ///< further hex digits
        extension,  ///< after the size: chunk extensions up to CR
        size_lf,
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

    state state_ = state::size_first;
    std::uint64_t size_ = 0;
    std::uint64_t body_left_;
    std::uint64_t body_bytes_ = 0;
    std::size_t line_bytes_ = 0;
    std::size_t trailer_left_;
};

} // namespace cvp
