#include "server/downstream_http.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <memory>

namespace cvp {

std::optional<downstream_target> resolve_downstream(config const& cfg, std::string& error)
{
    if (cfg.upstream_host.empty())
        return std::nullopt;

    // An IPv6 literal comes in brackets; getaddrinfo takes it without them.
    std::string host = cfg.upstream_host;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);

    // Resolved once: the downstream does not move while the server runs.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    auto const port = std::to_string(cfg.upstream_port);
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        error = "--upstream: cannot resolve '" + host + "': " + ::gai_strerror(rc);
        return std::nullopt;
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned{found, &::freeaddrinfo};

    downstream_target d;
    d.endpoint.resize(found->ai_addrlen);
    std::memcpy(d.endpoint.data(), found->ai_addr, found->ai_addrlen);
    d.host_field = cfg.upstream_host + ":" + port;
    d.origin = "http://" + d.host_field;
    d.connections = cfg.upstream_connections;
    d.queue = cfg.upstream_queue;
    d.connect_timeout = cfg.upstream_connect_timeout;
    d.timeout = cfg.upstream_timeout;
    d.max_body = cfg.upstream_max_body;
    return d;
}

std::string downstream_request(downstream_target const& d, std::string_view target)
{
    std::string out;
    out.reserve(64 + target.size() + d.host_field.size());
    out.append("GET ").append(target).append(" HTTP/1.1\r\nHost: ").append(d.host_field);
    out.append("\r\nUser-Agent: cvp\r\nAccept: application/json\r\n\r\n");
    return out;
}

void limit_parser(downstream_parser& parser, downstream_target const& d)
{
    parser.header_limit(16 * 1024);
    parser.body_limit(d.max_body);
    parser.eager(true);
}

downstream_fault connect_fault(error_code ec) noexcept
{
    if (ec == asio::error::connection_refused)
        return downstream_fault::refused;
    if (ec == beast::error::timeout || ec == asio::error::timed_out)
        return downstream_fault::connect_timeout;
    return downstream_fault::connect_failed;
}

downstream_fault exchange_fault(error_code ec) noexcept
{
    if (ec == beast::error::timeout || ec == asio::error::timed_out)
        return downstream_fault::timeout;
    if (ec == http::error::body_limit || ec == http::error::buffer_overflow || ec == http::error::header_limit)
        return downstream_fault::too_large;
    if (ec.category() == http::make_error_code(http::error::bad_version).category() && ec != http::error::end_of_stream &&
        ec != http::error::partial_message)
        return downstream_fault::bad_response;
    return downstream_fault::reset;
}

bool closed_before_answer(error_code ec, downstream_parser const& parser) noexcept
{
    if (parser.got_some())
        return false;
    return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe;
}

} // namespace cvp
