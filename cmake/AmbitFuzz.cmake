# Fuzzing and sanitizer builds (docs/hardening.md).
#
#   -DAMBIT_FUZZ=ON              clang only: every target is compiled with libFuzzer coverage
#                                (fuzzer-no-link) + ASan + UBSan, and tests/fuzz adds one
#                                libFuzzer binary per input surface (target ambit_fuzzers).
#                                Use a separate build tree (scripts/fuzz.sh: build-fuzz).
#   -DAMBIT_SANITIZE=address,undefined
#                                gcc or clang: the whole build under these sanitizers
#                                (scripts/sanitize.sh: build-sanitize, ctest -L unit).
#
# UBSan's `function` check is left out: clang 14 miscompiles it on coroutines ("Cannot
# represent a difference across sections"), and asio coroutines are everywhere in ambit.
# UBSan findings abort (no recovery), so a fuzzer or a test reports them as failures.
option(AMBIT_FUZZ "Build the libFuzzer targets in tests/fuzz (clang, ASan + UBSan)" OFF)
set(AMBIT_SANITIZE "" CACHE STRING "Sanitizers for the whole build, e.g. address,undefined")

set(AMBIT_SANITIZER_FLAGS)
if(AMBIT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "AMBIT_FUZZ needs clang (libFuzzer): configure with "
                        "CC=clang CXX=clang++ (scripts/fuzz.sh does)")
  endif()
  if(NOT AMBIT_SANITIZE)
    set(AMBIT_SANITIZE address,undefined)
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(AMBIT_SANITIZE)
  set(AMBIT_SANITIZER_FLAGS -fsanitize=${AMBIT_SANITIZE} -fno-omit-frame-pointer)
  if(AMBIT_SANITIZE MATCHES "undefined")
    list(APPEND AMBIT_SANITIZER_FLAGS -fno-sanitize-recover=undefined)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
      list(APPEND AMBIT_SANITIZER_FLAGS -fno-sanitize=function)
    endif()
  endif()
  add_compile_options(${AMBIT_SANITIZER_FLAGS})
  add_link_options(${AMBIT_SANITIZER_FLAGS})
  message(STATUS "ambit: sanitizers ${AMBIT_SANITIZE}")
endif()

# ambit_add_fuzzer(NAME <name> SOURCES <...> LIBS <...>)
# One libFuzzer binary build/fuzz/<name>; its seed corpus is tests/fuzz/<name>/corpus.
function(ambit_add_fuzzer)
  cmake_parse_arguments(F "" "NAME" "SOURCES;LIBS" ${ARGN})
  set(target fuzz_${F_NAME})
  add_executable(${target} ${F_SOURCES})
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz
                                              OUTPUT_NAME ${F_NAME})
  target_link_libraries(${target} PRIVATE ${F_LIBS})
  target_link_options(${target} PRIVATE -fsanitize=fuzzer)
  target_compile_definitions(${target} PRIVATE AMBIT_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  ambit_strict(${target})
  add_dependencies(ambit_fuzzers ${target})
endfunction()
