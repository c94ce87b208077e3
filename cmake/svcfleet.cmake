# Helpers shared by every module's CMakeLists.txt.

# sf_test(NAME SOURCES... LIBS libs... [LABELS l...] [TIMEOUT s])
# builds one test executable and registers it with ctest. Tests find the
# build's binaries through SF_BIN_DIR and the source tree through SF_SRC_DIR.
function(sf_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    TIMEOUT ${T_TIMEOUT}
    LABELS "${T_LABELS}"
    ENVIRONMENT "SF_BIN_DIR=${CMAKE_BINARY_DIR};SF_SRC_DIR=${CMAKE_SOURCE_DIR}")
endfunction()
