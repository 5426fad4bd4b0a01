#include "loadtest/load/answer_parser.hpp"

#include <boost/beast/http/error.hpp>

namespace cvp::load {

namespace http = boost::beast::http;

answer_parser::answer_parser()
{
    // The body is counted, never kept: no bound is needed for memory's sake.
    body_limit(boost::none);
    header_limit(64 * 1024);
    // Parse the body in the same call as the header when it has arrived with it.
    eager(true);
}

void answer_parser::on_request_impl(http::verb, boost::beast::string_view, boost::beast::string_view, int, error_code& ec)
{
    // A response parser is never called for a request line.
    ec = http::error::bad_method;
}

void answer_parser::on_response_impl(int code, boost::beast::string_view, int, error_code&)
{
    status_ = static_cast<unsigned>(code);
}

void answer_parser::on_field_impl(http::field, boost::beast::string_view, boost::beast::string_view, error_code&)
{}

void answer_parser::on_header_impl(error_code&)
{
    // 1xx, 204 and 304 carry no body, so they need no length; Beast knows which.
    length_known_ = content_length().has_value() || (status_ >= 100 && status_ < 200) || status_ == 204 || status_ == 304;
}

void answer_parser::on_body_init_impl(boost::optional<std::uint64_t> const& content_length, error_code&)
{
    length_known_ = content_length.has_value();
}

std::size_t answer_parser::on_body_impl(boost::beast::string_view body, error_code&)
{
    body_bytes_ += body.size();
    return body.size();
}

void answer_parser::on_chunk_header_impl(std::uint64_t, boost::beast::string_view, error_code&)
{}

std::size_t answer_parser::on_chunk_body_impl(std::uint64_t, boost::beast::string_view body, error_code&)
{
    body_bytes_ += body.size();
    return body.size();
}

void answer_parser::on_finish_impl(error_code&)
{}

} // namespace cvp::load
