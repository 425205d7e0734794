# Robustness builds (docs/robustness.md), both off by default:
#   -DATTN_DIFF_SANITIZE=ON  everything (library, CLI, tests) with AddressSanitizer and
#                            UndefinedBehaviorSanitizer, stopping at the first error
#                            (scripts/sanitize.sh builds it in build-asan/ and runs ctest).
#   -DATTN_DIFF_FUZZ=ON      the libFuzzer targets of tests/fuzz/, with ASan and UBSan; needs clang
#                            (scripts/fuzz.sh builds them in build-fuzz/ and runs each for a while).
option(ATTN_DIFF_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(ATTN_DIFF_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only)" OFF)

if(ATTN_DIFF_SANITIZE OR ATTN_DIFF_FUZZ)
  # float-cast-overflow: clang's `undefined` group has it, GCC's does not; a double too large for
  # the integer it is cast to is exactly the bug an outside file can trigger.
  set(ATTN_DIFF_SANITIZER_FLAGS -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
  add_compile_options(${ATTN_DIFF_SANITIZER_FLAGS} -g)
  add_link_options(${ATTN_DIFF_SANITIZER_FLAGS})
endif()

if(ATTN_DIFF_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "ATTN_DIFF_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++ "
                        "(Debian: apt-get install clang libclang-rt-14-dev), or run scripts/fuzz.sh")
  endif()
  # Coverage instrumentation everywhere; only the targets link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
  add_subdirectory(${PROJECT_SOURCE_DIR}/tests/fuzz ${PROJECT_BINARY_DIR}/fuzz)
endif()
