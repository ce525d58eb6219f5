include(GoogleTest)

# ambit_add_test(NAME <name> SOURCES <...> [LIBS <...>] [LABELS <...>] [TIMEOUT <s>])
# One GoogleTest binary registered with CTest, linked with the test library (tests/support,
# ambit_test_support). Labels:
#   unit     pure logic in this process, loopback sockets at most (the default)
#   interop  real third-party peers spawned by the test (python3-h2, curl, h2load, nghttp, the
#            openssl CLI) against ambit code running in the test process
#   kernel   real BPF attach in throwaway netns/cgroups (needs root + BPF)
#   e2e      a lab of real binaries (needs root)
# (`bench`, the benchmark command in quick mode, is registered by tests/bench; `k8s`, a real
# kube-apiserver + etcd, by tests/k8s.)
function(ambit_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} ambit_test_support GTest::gtest GTest::gmock
    GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE
    AMBIT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" AMBIT_BINARY_DIR="${CMAKE_BINARY_DIR}")
  ambit_strict(${T_NAME})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} --gtest_color=no)
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()
