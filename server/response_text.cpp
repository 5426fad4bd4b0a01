#include "server/response_text.hpp"

#include "common/clock.hpp"
#include "server/http_date.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include <charconv>

namespace cvp {

namespace {

namespace http = boost::beast::http;

/// Appends an integer in decimal.
template <class Int>
void append_number(std::string& out, Int v)
{
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

/// Appends "Name: value\r\n".
void append_field(std::string& out, std::string_view name, std::string_view value)
{
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

} // namespace

std::string_view format_millis(std::int64_t ns, char* buf) noexcept
{
    // Round to whole microseconds, then print them as milliseconds with three decimals.
    auto const us = (ns > 0 ? ns : 0) / 1000 + ((ns > 0 ? ns : 0) % 1000 >= 500 ? 1 : 0);
    auto [end, ec] = std::to_chars(buf, buf + 20, us / 1000);
    auto const frac = us % 1000;
    *end++ = '.';
    *end++ = static_cast<char>('0' + frac / 100);
    *end++ = static_cast<char>('0' + frac / 10 % 10);
    *end++ = static_cast<char>('0' + frac % 10);
    return {buf, static_cast<std::size_t>(end - buf)};
}

void append_response(std::string& out, reply const& r, response_meta const& meta)
{
    // Status line: this server speaks HTTP/1.1, whatever minor version the client used.
    auto const code = static_cast<unsigned>(r.status);
    out.append("HTTP/1.1 ");
    append_number(out, code);
    out.push_back(' ');
    out.append(http::obsolete_reason(r.status));
    out.append("\r\n");

    // Framing and the fields every response carries.
    append_field(out, "Server", "cvp");
    append_field(out, "Date", http_date_now());
    append_field(out, "Content-Type", r.content_type);
    out.append("Content-Length: ");
    append_number(out, r.body.size());
    out.append("\r\n");

    // Attribution: who ran the work, how long it waited and took.
    std::int64_t queue_ns = 0;
    std::int64_t work_ns = 0;
    int worker = meta.loop_worker;
    if (r.work) {
        worker = r.work->worker;
        queue_ns = r.work->start_ns - r.work->submit_ns;
        work_ns = r.work->end_ns - r.work->start_ns;
    }
    append_field(out, "X-Mode", meta.mode);
    out.append("X-Worker: ");
    append_number(out, worker);
    char buf[24];
    out.append("\r\nServer-Timing: queue;dur=");
    out.append(format_millis(queue_ns, buf));
    out.append(", work;dur=");
    out.append(format_millis(work_ns, buf));
    if (r.upstream_ns) {
        out.append(", upstream;dur=");
        out.append(format_millis(*r.upstream_ns, buf));
    }
    out.append(", total;dur=");
    out.append(format_millis(monotonic_ns() - meta.parsed_ns, buf));
    out.append("\r\n");

    // The handler's own fields.
    for (auto const& [field, value] : r.headers)
        append_field(out, http::to_string(field), value);

    // Persistence: say "close" to 1.1 clients, "keep-alive" to 1.0 clients that asked for it.
    if (!meta.keep_alive)
        out.append("Connection: close\r\n");
    else if (meta.request_minor == 0)
        out.append("Connection: keep-alive\r\n");
    out.append("\r\n");

    // HEAD gets no body.
    if (!meta.head)
        out.append(r.body);
}

} // namespace cvp
