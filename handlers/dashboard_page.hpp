#pragma once

/// The dashboard's page, handlers/dashboard/dashboard.html, as the build embedded it
/// (cmake/embed_file.cmake writes the definition): the binary serves it without reading
/// a file.

#include <string_view>

namespace cvp {

/// The page's bytes: HTML with its CSS and JavaScript inline, UTF-8.
std::string_view dashboard_page() noexcept;

} // namespace cvp
