#pragma once

/// Namespace aliases and the one completion token cvp uses.
///
/// Every asynchronous operation in a session completes with `use_tuple`, so errors come
/// back as values (`auto [ec, n] = co_await ...`) rather than as exceptions.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

namespace cvp {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

/// Completion token that reports errors as the first tuple element.
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

} // namespace cvp
