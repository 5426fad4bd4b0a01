/// What cvp's own HTTP path costs per request, apart from any model's work: heap
/// allocations per keep-alive request on the real session (a `single` server in this
/// process, driven over loopback), and the time to build one response.
///
///   build/release/cvp_bench_session --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
///
/// Allocations are counted by interposing malloc, calloc, realloc and the aligned
/// allocators for the whole process; the
/// client below makes none of its own per request, so every one counted is the server's.

#include "handlers/context.hpp"
#include "server/config.hpp"
#include "server/cpu_limits.hpp"
#include "server/response_text.hpp"
#include "server/server.hpp"

#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace {
std::atomic<std::uint64_t> allocations{0};
}

// Every heap allocation in the process goes through these.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
// Aligned operator new, which Asio uses for coroutine frames and operations, comes here.
void* aligned_alloc(std::size_t alignment, std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    *out = __libc_memalign(alignment, n);
    return *out != nullptr ? 0 : ENOMEM;
}
void* memalign(std::size_t alignment, std::size_t n)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(alignment, n);
}
}

namespace {

/// A `single` server on 127.0.0.1 and a free port, run on its own thread.
class in_process_server
{
public:
    in_process_server()
    {
        cvp::config cfg;
        cfg.mode = cvp::mode::single;
        cfg.port = 0;
        server_ = std::make_unique<cvp::server>(cfg, cvp::detect_cpu_limits());
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

    std::uint16_t port() const noexcept { return port_; }

private:
    std::unique_ptr<cvp::server> server_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

/// A blocking keep-alive client with fixed buffers: no allocation per request.
class raw_client
{
public:
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

void keep_alive_request(benchmark::State& state, std::string_view request, std::string_view body_end)
{
    in_process_server server;
    raw_client client{server.port()};
    // Warm the recyclers and the allocator's caches.
    for (int i = 0; i < 100; ++i)
        client.round_trip(request, body_end);

    auto const before = allocations.load();
    for (auto _ : state)
        client.round_trip(request, body_end);
    auto const counted = allocations.load() - before;
    state.counters["allocs/request"] = static_cast<double>(counted) / static_cast<double>(state.iterations());
}

void plaintext_keep_alive(benchmark::State& state)
{
    keep_alive_request(state, "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "Hello, World!");
}
BENCHMARK(plaintext_keep_alive)->UseRealTime();

void json_keep_alive(benchmark::State& state)
{
    keep_alive_request(state, "GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "\"Hello, World!\"}");
}
BENCHMARK(json_keep_alive)->UseRealTime();

/// The status line, headers and body of a /plaintext answer, into a reused buffer.
void build_plaintext_response(benchmark::State& state)
{
    cvp::reply r;
    r.content_type = "text/plain";
    r.body = "Hello, World!";
    cvp::response_meta const meta{"single", 0, 0, 1, false, true};
    std::string out;
    out.reserve(1024);
    for (auto _ : state) {
        out.clear();
        cvp::append_response(out, r, meta);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(build_plaintext_response);

} // namespace

BENCHMARK_MAIN();
