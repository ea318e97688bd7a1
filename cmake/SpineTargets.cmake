# Helpers every CMakeLists in the tree uses, so warning flags and test wiring stay uniform.

# Our own code builds warning-clean; generated and third-party headers come in as SYSTEM.
function(spine_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
endfunction()

# spine_library(name SOURCES ... DEPS ...): a static library of ours rooted at the repo top.
function(spine_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  spine_warnings(${name})
endfunction()

# spine_test(name SOURCES ... DEPS ...): a Catch2 unit-test binary registered with CTest.
function(spine_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE spine_test_main ${ARG_DEPS})
  target_compile_definitions(${name} PRIVATE SPINE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                             SPINE_BINARY_DIR="${PROJECT_BINARY_DIR}")
  spine_warnings(${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  set(lock "")
  if("integration" IN_LIST ARG_LABELS OR "faults" IN_LIST ARG_LABELS)
    # Integration and fault tests pick free loopback ports and then bind them; running two at once
    # could hand both the same port, so they take turns.
    set(lock RESOURCE_LOCK loopback_ports)
  endif()
  catch_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300 ${lock})
endfunction()

# spine_tsan_cases(target FILES a.cc ...): in a TSan build, the test cases of those source files of
# `target` are listed a second time, as "tsan: <case>" with the label `tsan`, which is what
# scripts/test-tsan runs (docs/sanitizers.md says why these and not the rest). Catch2 tags each
# case with its file name (-#), and the discovery selects by that tag.
function(spine_tsan_cases target)
  cmake_parse_arguments(ARG "" "" "FILES" ${ARGN})
  if(NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize=thread")
    return()
  endif()
  set(spec "")
  foreach(file ${ARG_FILES})
    get_filename_component(stem "${file}" NAME_WE)
    list(APPEND spec "[#${stem}]")
  endforeach()
  list(JOIN spec "," spec)
  catch_discover_tests(${target} TEST_SPEC "-#" "${spec}" TEST_PREFIX "tsan: "
                       PROPERTIES LABELS tsan TIMEOUT 600)
endfunction()
