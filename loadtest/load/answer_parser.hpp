#pragma once

/// Reads one HTTP/1.1 answer without keeping it: Beast's basic_parser checks the framing
/// (the status line, the fields, a body of exactly Content-Length bytes), and this keeps
/// only the status and the body's size. Nothing is allocated per answer.

#include <boost/beast/http/basic_parser.hpp>

#include <boost/beast/core/string.hpp>
#include <cstdint>

namespace cvp::load {

/// One answer's parser: construct a fresh one for each answer.
class answer_parser : public boost::beast::http::basic_parser<false>
{
public:
    answer_parser();

    /// The status code, once the status line is parsed.
    unsigned status() const noexcept { return status_; }

    /// True when the answer carried a Content-Length (or needs no body: 1xx, 204, 304).
    bool length_known() const noexcept { return length_known_; }

    /// Body bytes read.
    std::uint64_t body_bytes() const noexcept { return body_bytes_; }

private:
    using error_code = boost::system::error_code;

    void on_request_impl(boost::beast::http::verb, boost::beast::string_view, boost::beast::string_view, int, error_code&) override;
    void on_response_impl(int code, boost::beast::string_view reason, int version, error_code& ec) override;
    void on_field_impl(boost::beast::http::field, boost::beast::string_view, boost::beast::string_view, error_code&) override;
    void on_header_impl(error_code& ec) override;
    void on_body_init_impl(boost::optional<std::uint64_t> const& content_length, error_code& ec) override;
    std::size_t on_body_impl(boost::beast::string_view body, error_code& ec) override;
    void on_chunk_header_impl(std::uint64_t size, boost::beast::string_view extensions, error_code& ec) override;
    std::size_t on_chunk_body_impl(std::uint64_t remain, boost::beast::string_view body, error_code& ec) override;
    void on_finish_impl(error_code& ec) override;

    unsigned status_ = 0;
    bool length_known_ = false;
    std::uint64_t body_bytes_ = 0;
};

} // namespace cvp::load
