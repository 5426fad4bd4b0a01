#include "loadtest/load/load_connection.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>

#include <cstring>

namespace cvp::load {

namespace asio = boost::asio;
using boost::system::error_code;

std::string_view outcome_name(outcome o) noexcept
{
    switch (o) {
    case outcome::answered: return "answered";
    case outcome::connect: return "connect";
    case outcome::write: return "write";
    case outcome::closed: return "closed";
    case outcome::read: return "read";
    case outcome::timeout: return "timeout";
    case outcome::framing: return "framing";
    }
    return "unknown";
}

load_connection::load_connection(asio::io_context& ioc, connection_owner& owner, std::size_t id)
    : socket_(ioc)
    , owner_(owner)
    , id_(id)
{}

void load_connection::connect(asio::ip::tcp::endpoint const& to, std::int64_t now_ns)
{
    // A fresh socket each time: a connection object is reused after its socket closed.
    close();
    started_ns_ = now_ns;
    busy_ = true;
    expired_ = false;
    reusable_ = true;
    socket_.async_connect(to, [this](error_code ec) {
        busy_ = false;
        open_ = !ec && !expired_;
        if (open_) {
            // Small requests and answers: never wait for Nagle.
            error_code ignored;
            socket_.set_option(asio::ip::tcp::no_delay{true}, ignored);
        } else {
            close();
        }
        owner_.on_connected(*this, open_);
    });
}

void load_connection::send(std::string_view request, std::int64_t now_ns)
{
    // A new exchange: a fresh parser, an empty buffer, the clock for the timeout sweep.
    started_ns_ = now_ns;
    busy_ = true;
    parser_.emplace();
    filled_ = 0;
    asio::async_write(socket_, asio::buffer(request.data(), request.size()), [this](error_code ec, std::size_t) {
        if (ec)
            return finish(expired_ ? outcome::timeout : outcome::write);
        read_some();
    });
}

void load_connection::read_some()
{
    socket_.async_read_some(asio::buffer(buffer_.data() + filled_, buffer_.size() - filled_), [this](error_code ec, std::size_t n) {
        if (expired_)
            return finish(outcome::timeout);
        if (ec)
            return finish(filled_ == 0 && !parser_->got_some() ? outcome::closed : outcome::read);
        filled_ += n;
        // Hand the parser what has arrived; it takes the header only once it is whole.
        error_code perr;
        auto const used = parser_->put(asio::buffer(buffer_.data(), filled_), perr);
        if (perr && perr != boost::beast::http::error::need_more)
            return finish(outcome::framing);
        // An answer without a Content-Length would end only at the close: refused at once.
        if (parser_->is_header_done() && !parser_->length_known())
            return finish(outcome::framing);
        std::memmove(buffer_.data(), buffer_.data() + used, filled_ - used);
        filled_ -= used;
        if (!parser_->is_done()) {
            // A header larger than the buffer can never be parsed.
            if (filled_ == buffer_.size())
                return finish(outcome::framing);
            return read_some();
        }
        // One request was in flight, so nothing may follow its answer; and it must be
        // framed by a Content-Length.
        if (filled_ != 0 || !parser_->length_known())
            return finish(outcome::framing);
        if (!parser_->keep_alive())
            reusable_ = false;
        finish(outcome::answered);
    });
}

void load_connection::finish(outcome o)
{
    busy_ = false;
    auto const status = parser_ ? parser_->status() : 0U;
    // A connection whose exchange failed cannot be trusted with another.
    if (o != outcome::answered)
        close();
    owner_.on_exchange_done(*this, o, status);
}

void load_connection::expire()
{
    expired_ = true;
    close();
}

void load_connection::close()
{
    open_ = false;
    reusable_ = false;
    error_code ignored;
    socket_.close(ignored);
}

} // namespace cvp::load
