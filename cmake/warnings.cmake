# Warnings are an INTERFACE target so every cvp target opts in the same way.
# CVP_WERROR turns them into errors; CI switches it on.
option(CVP_WERROR "Treat warnings as errors" OFF)

add_library(cvp_warnings INTERFACE)
target_compile_options(cvp_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Wcast-qual
  -Wimplicit-fallthrough -Wformat=2
  # -Wnull-dereference fires inside Asio's own headers, so it stays off.
)
if(CVP_WERROR)
  target_compile_options(cvp_warnings INTERFACE -Werror)
endif()
