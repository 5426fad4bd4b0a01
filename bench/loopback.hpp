#pragma once

/// What the benchmarks that drive a real server share: a cvp::server in this process on
/// 127.0.0.1 and a free port, and a blocking keep-alive client with fixed buffers, which
/// makes no allocation of its own per request.

#include "server/config.hpp"
#include "server/cpu_limits.hpp"
#include "server/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace cvp::bench {

/// A server made from `cfg` (its port replaced by 0), run on a thread of its own.
class in_process_server
{
public:
    explicit in_process_server(config cfg)
    {
        cfg.port = 0;
        server_ = std::make_unique<server>(cfg, detect_cpu_limits());
        server_->listen();
        port_ = server_->local_endpoint().port();
        thread_ = std::thread([this] { server_->run(); });
    }
    ~in_process_server()
    {
        server_->drain();
        thread_.join();
    }
    in_process_server(in_process_server const&) = delete;
    in_process_server& operator=(in_process_server const&) = delete;

    /// The port it listens on.
    std::uint16_t port() const noexcept { return port_; }

private:
    std::unique_ptr<server> server_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

/// A blocking keep-alive client with fixed buffers: no allocation per request.
class raw_client
{
public:
    /// Connects to 127.0.0.1:port, with TCP_NODELAY.
    explicit raw_client(std::uint16_t port)
        : fd_(::socket(AF_INET, SOCK_STREAM, 0))
    {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr const*>(&addr), sizeof addr) != 0)
            throw std::runtime_error("connect failed");
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~raw_client() { ::close(fd_); }
    raw_client(raw_client const&) = delete;
    raw_client& operator=(raw_client const&) = delete;

    /// Sends `request` and reads until one response ending in `body_end` is in.
    void round_trip(std::string_view request, std::string_view body_end)
    {
        if (::send(fd_, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size()))
            throw std::runtime_error("send failed");
        std::size_t got = 0;
        for (;;) {
            auto const n = ::recv(fd_, buf_ + got, sizeof buf_ - got, 0);
            if (n <= 0)
                throw std::runtime_error("recv failed");
            got += static_cast<std::size_t>(n);
            if (std::string_view{buf_, got}.ends_with(body_end))
                return;
        }
    }

private:
    int fd_;
    char buf_[4096];
};

} // namespace cvp::bench
