#pragma once

/// One keep-alive connection of the generator: it opens, sends a request, reads its
/// answer through `answer_parser`, and tells its owner how that went. One request is in
/// flight at a time (no pipelining). Callbacks, not coroutines: the generator's loop runs
/// every connection on one thread, and a request costs two completions (write, read).

#include "loadtest/load/answer_parser.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cvp::load {

/// How an exchange ended.
enum class outcome
{
    answered, ///< a whole answer, framed by its Content-Length
    connect,  ///< the connection could not be opened
    write,    ///< the request could not be written
    closed,   ///< the server closed the connection before a byte of the answer
    read,     ///< the connection failed part-way through the answer
    timeout,  ///< no whole answer within --timeout
    framing,  ///< the answer broke HTTP/1.1's framing, had no Content-Length, or more bytes followed it
};

/// The name of an outcome, as the output's `errors` keys spell it.
std::string_view outcome_name(outcome o) noexcept;

class load_connection;

/// What a connection reports to.
class connection_owner
{
public:
    /// The connection is open (or could not be: `ok` false).
    virtual void on_connected(load_connection& c, bool ok) = 0;
    /// The exchange started by `send` ended.
    virtual void on_exchange_done(load_connection& c, outcome o, unsigned status) = 0;

protected:
    ~connection_owner() = default;
};

/// A connection and the one exchange it may have in flight.
class load_connection
{
public:
    /// `id` is the owner's name for it: its index among the owner's connections.
    load_connection(boost::asio::io_context& ioc, connection_owner& owner, std::size_t id);

    /// Opens the connection; reports through `on_connected`.
    void connect(boost::asio::ip::tcp::endpoint const& to, std::int64_t now_ns);

    /// Sends `request` (which must outlive the exchange) and reads one answer; reports
    /// through `on_exchange_done`.
    void send(std::string_view request, std::int64_t now_ns);

    /// Closes the socket: a pending connect, write or read ends as `timeout`.
    void expire();

    /// Closes the socket quietly (the run is over).
    void close();

    bool open() const noexcept { return open_; }
    bool busy() const noexcept { return busy_; }
    /// When the pending connect or exchange started, for the timeout sweep.
    std::int64_t started_ns() const noexcept { return started_ns_; }
    std::size_t id() const noexcept { return id_; }
    /// False once an answer asked to close, or the connection failed: not to be reused.
    bool reusable() const noexcept { return open_ && reusable_; }

private:
    void read_some();
    void finish(outcome o);

    boost::asio::ip::tcp::socket socket_;
    connection_owner& owner_;
    std::optional<answer_parser> parser_;
    std::array<char, 16 * 1024> buffer_{};
    std::size_t filled_ = 0;
    std::int64_t started_ns_ = 0;
    std::size_t id_;
    bool open_ = false;
    bool busy_ = false;
    bool expired_ = false;
    bool reusable_ = true;
};

} // namespace cvp::load
