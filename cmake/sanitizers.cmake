# CVP_SANITIZE selects an instrumented build: "address" (ASan+UBSan) or "thread" (TSan).
set(CVP_SANITIZE "" CACHE STRING "Sanitizer build: empty, address or thread")
set_property(CACHE CVP_SANITIZE PROPERTY STRINGS "" address thread)

if(CVP_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(CVP_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  # g++ 12 warns that TSan does not model atomic_thread_fence, which Asio uses.
  add_compile_options(-Wno-tsan)
elseif(NOT CVP_SANITIZE STREQUAL "")
  message(FATAL_ERROR "CVP_SANITIZE must be empty, address or thread, not '${CVP_SANITIZE}'")
endif()
