#include "server/chunked_decoder.hpp"

#include <algorithm>

namespace cvp {

namespace {

int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/// tchar of RFC 9110 §5.6.2.
bool is_tchar(char c) noexcept
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

/// BWS of RFC 9110 §5.6.3: SP or HTAB.
bool is_blank(char c) noexcept
{
    return c == ' ' || c == '\t';
}

/// qdtext of RFC 9110 §5.6.4: HTAB, SP, and visible bytes or obs-text but DQUOTE and backslash.
bool is_qdtext(char c) noexcept
{
    auto const u = static_cast<unsigned char>(c);
    return u == '\t' || u == ' ' || u == 0x21 || (u >= 0x23 && u <= 0x5b) || (u >= 0x5d && u <= 0x7e) || u >= 0x80;
}

/// What may follow a backslash in a quoted-pair: HTAB, SP, VCHAR, obs-text.
bool is_escapable(char c) noexcept
{
    auto const u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}

/// Bytes allowed in field values: visible, space, tab, and obs-text.
bool is_text(char c) noexcept
{
    auto const u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}

} // namespace

std::string_view chunked_decoder::describe(fault f) noexcept
{
    switch (f) {
    case fault::none: break;
    case fault::chunk_size: return "chunk size is not hexadecimal digits";
    case fault::chunk_size_overflow: return "chunk size exceeds 64 bits";
    case fault::extension_name: return "chunk extension without a name (a token) after ';'";
    case fault::extension_value: return "chunk extension value after '=' is neither a token nor a quoted-string";
    case fault::separator: return "chunk-size line has something other than ';' or CRLF after a chunk size or extension";
    case fault::bare_lf: return "chunk line ends in a bare LF, not CRLF";
    case fault::cr_without_lf: return "chunk line has a CR not followed by LF";
    case fault::chunk_data_end: return "chunk data is not followed by CRLF";
    case fault::trailer: return "malformed trailer field";
    }
    return "no fault";
}

chunked_decoder::fault chunked_decoder::end_item(char c, state after_blank, fault otherwise) noexcept
{
    if (c == ';')
        state_ = state::name_first;
    else if (is_blank(c))
        state_ = after_blank;
    else if (c == '\r')
        state_ = state::size_lf;
    else
        return otherwise;
    return fault::none;
}

chunked_decoder::fault chunked_decoder::take_line_byte(char c) noexcept
{
    switch (state_) {
    case state::size_first:
    case state::size: {
        auto const digit = hex_value(c);
        if (digit >= 0) {
            // One more digit must still fit in 64 bits.
            if (size_ > (UINT64_MAX >> 4))
                return fault::chunk_size_overflow;
            size_ = (size_ << 4) | static_cast<std::uint64_t>(digit);
            state_ = state::size;
            return fault::none;
        }
        // 1*HEXDIG: at least one digit before anything else.
        if (state_ == state::size_first)
            return fault::chunk_size;
        return end_item(c, state::line_bws, fault::chunk_size);
    }
    case state::line_bws:
        // After the size or a value, and its BWS: more BWS, another extension or the line's end.
        return end_item(c, state::line_bws, fault::separator);
    case state::name:
    case state::name_bws:
        // More of the name (without BWS in between), a value, another extension, or the end.
        if (is_tchar(c) && state_ == state::name)
            return fault::none;
        if (c == '=') {
            state_ = state::value_first;
            return fault::none;
        }
        return end_item(c, state::name_bws, state_ == state::name ? fault::extension_name : fault::separator);
    case state::name_first:
    case state::value_first: {
        // BWS, then a token: a name, or a value, which may be a quoted-string instead.
        bool const value = state_ == state::value_first;
        if (is_blank(c))
            return fault::none;
        if (is_tchar(c))
            state_ = value ? state::value_token : state::name;
        else if (value && c == '"')
            state_ = state::value_quoted;
        else
            return value ? fault::extension_value : fault::extension_name;
        return fault::none;
    }
    case state::value_token:
        // More of the token, another extension, BWS, or the end.
        if (is_tchar(c))
            return fault::none;
        return end_item(c, state::line_bws, fault::extension_value);
    case state::value_quoted:
        // qdtext, a quoted-pair, or the closing quote; a CR here leaves it open.
        if (c == '"')
            state_ = state::line_bws;
        else if (c == '\\')
            state_ = state::value_escape;
        else if (!is_qdtext(c))
            return fault::extension_value;
        return fault::none;
    case state::value_escape:
        if (!is_escapable(c))
            return fault::extension_value;
        state_ = state::value_quoted;
        return fault::none;
    default: break;
    }
    return fault::none;
}

chunked_decoder::status chunked_decoder::feed(std::string_view input, std::size_t& consumed) noexcept
{
    std::size_t i = 0;
    auto const finish = [&](status s) {
        consumed = i;
        return s;
    };
    auto const refuse = [&](fault f) {
        fault_ = f;
        return finish(status::malformed);
    };

    while (i < input.size() && state_ != state::done) {
        // Chunk data is taken in bulk; everything else a byte at a time.
        if (state_ == state::data) {
            auto const n = static_cast<std::size_t>(std::min<std::uint64_t>(size_, input.size() - i));
            i += n;
            size_ -= n;
            body_bytes_ += n;
            if (size_ == 0)
                state_ = state::data_cr;
            continue;
        }

        char const c = input[i++];
        switch (state_) {
        case state::size_first:
        case state::size:
        case state::line_bws:
        case state::name_first:
        case state::name:
        case state::name_bws:
        case state::value_first:
        case state::value_token:
        case state::value_quoted:
        case state::value_escape: {
            // Leading zeros and extensions count towards the line, so neither runs on for ever.
            if (++line_bytes_ > max_line_bytes)
                return finish(status::line_too_long);
            // Only CRLF ends the line. RFC 9112 §2.2 would let a bare LF end it, but a proxy
            // in front that does not (or a server behind that does) then frames the body
            // differently, and bytes one side takes as chunk data the other takes as the
            // next request: request smuggling.
            auto const f = c == '\n' ? fault::bare_lf : take_line_byte(c);
            if (f != fault::none)
                return refuse(f);
            break;
        }
        case state::size_lf:
            if (c != '\n')
                return refuse(fault::cr_without_lf);
            line_bytes_ = 0;
            if (size_ == 0) {
                state_ = state::trailer_start;
                break;
            }
            // The whole chunk must fit in what is left of the body limit.
            if (size_ > body_left_)
                return finish(status::body_too_large);
            body_left_ -= size_;
            state_ = state::data;
            break;
        case state::data_cr:
        case state::data_lf:
            // The chunk's data ends in CRLF.
            if (c != (state_ == state::data_cr ? '\r' : '\n'))
                return refuse(fault::chunk_data_end);
            if (state_ == state::data_cr) {
                state_ = state::data_lf;
                break;
            }
            state_ = state::size_first;
            break;
        case state::trailer_start:
        case state::trailer_name:
        case state::trailer_value:
        case state::trailer_lf:
            // Every trailer byte counts against the trailer limit; the fields are discarded.
            if (trailer_left_-- == 0)
                return finish(status::trailers_too_large);
            if (state_ == state::trailer_start) {
                if (c == '\r')
                    state_ = state::final_lf;
                else if (is_tchar(c))
                    state_ = state::trailer_name;
                else
                    return refuse(fault::trailer);
            } else if (state_ == state::trailer_name) {
                if (c == ':')
                    state_ = state::trailer_value;
                else if (!is_tchar(c))
                    return refuse(fault::trailer);
            } else if (state_ == state::trailer_value) {
                if (c == '\r')
                    state_ = state::trailer_lf;
                else if (!is_text(c))
                    return refuse(fault::trailer);
            } else {
                if (c != '\n')
                    return refuse(fault::trailer);
                state_ = state::trailer_start;
            }
            break;
        case state::final_lf:
            if (c != '\n')
                return refuse(fault::trailer);
            state_ = state::done;
            return finish(status::done);
        case state::data:
        case state::done: break;
        }
    }
    return finish(state_ == state::done ? status::done : status::need_more);
}

} // namespace cvp
