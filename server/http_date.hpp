#pragma once

/// The Date header's value (RFC 9110 §5.6.7 IMF-fixdate), formatted at most once a second
/// per thread.

#include <string_view>

namespace cvp {

/// "Sun, 06 Nov 1994 08:49:37 GMT" for the current second. The view stays valid until the
/// calling thread asks again in a later second.
std::string_view http_date_now() noexcept;

} // namespace cvp
