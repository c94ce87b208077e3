# Helpers shared by every module's CMakeLists.txt.

# sf_test(NAME SOURCES... LIBS libs... [LABELS l...] [TIMEOUT s])
# builds one test executable and registers it with ctest. Tests find the
# build's binaries through SF_BIN_DIR and the source tree through SF_SRC_DIR.
# TIMEOUT only guards against a hang: every test's is 600 s (the suite's
# --timeout), whatever it takes on a quiet machine, since a test that
# passes every check slower on a busy one has not failed (issue 13: two
# kubectl tests were cut at 120 s with every check passed, at load 39).
function(sf_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    TIMEOUT ${T_TIMEOUT}
    LABELS "${T_LABELS}"
    ENVIRONMENT "SF_BIN_DIR=${CMAKE_BINARY_DIR};SF_SRC_DIR=${CMAKE_SOURCE_DIR}")
endfunction()
