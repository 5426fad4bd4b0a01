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

/// Bytes allowed in extensions and field values: visible, space, tab, and obs-text.
bool is_text(char c) noexcept
{
    auto const u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}

} // namespace

chunked_decoder::status chunked_decoder::feed(std::string_view input, std::size_t& consumed) noexcept
{
    std::size_t i = 0;
    auto const finish = [&](status s) {
        consumed = i;
        return s;
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
        case state::size: {
            // Leading zeros count towards the line, so they cannot run on for ever.
            if (++line_bytes_ > max_line_bytes)
                return finish(status::line_too_long);
            auto const digit = hex_value(c);
            if (digit >= 0) {
                if (size_ > (UINT64_MAX >> 4))
                    return finish(status::malformed);
                size_ = (size_ << 4) | static_cast<std::uint64_t>(digit);
                state_ = state::size;
            } else if (state_ == state::size_first) {
                return finish(status::malformed);
            } else if (c == ';' || c == ' ' || c == '\t') {
                state_ = state::extension;
            } else if (c == '\r') {
                state_ = state::size_lf;
            } else {
                return finish(status::malformed);
            }
            break;
        }
        case state::extension:
            if (++line_bytes_ > max_line_bytes)
                return finish(status::line_too_long);
            if (c == '\r')
                state_ = state::size_lf;
            else if (!is_text(c))
                return finish(status::malformed);
            break;
        case state::size_lf:
            if (c != '\n')
                return finish(status::malformed);
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
            if (c != '\r')
                return finish(status::malformed);
            state_ = state::data_lf;
            break;
        case state::data_lf:
            if (c != '\n')
                return finish(status::malformed);
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
                    return finish(status::malformed);
            } else if (state_ == state::trailer_name) {
                if (c == ':')
                    state_ = state::trailer_value;
                else if (!is_tchar(c))
                    return finish(status::malformed);
            } else if (state_ == state::trailer_value) {
                if (c == '\r')
                    state_ = state::trailer_lf;
                else if (!is_text(c))
                    return finish(status::malformed);
            } else {
                if (c != '\n')
                    return finish(status::malformed);
                state_ = state::trailer_start;
            }
            break;
        case state::final_lf:
            if (c != '\n')
                return finish(status::malformed);
            state_ = state::done;
            return finish(status::done);
        case state::data:
        case state::done: break;
        }
    }
    return finish(state_ == state::done ? status::done : status::need_more);
}

} // namespace cvp
