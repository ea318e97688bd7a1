# libseccomp ships a pkg-config file but no CMake package; this wraps it as Seccomp::Seccomp.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_SECCOMP QUIET libseccomp)
endif()
find_path(Seccomp_INCLUDE_DIR seccomp.h HINTS ${PC_SECCOMP_INCLUDE_DIRS})
find_library(Seccomp_LIBRARY NAMES seccomp HINTS ${PC_SECCOMP_LIBRARY_DIRS})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Seccomp REQUIRED_VARS Seccomp_LIBRARY Seccomp_INCLUDE_DIR
                                  VERSION_VAR PC_SECCOMP_VERSION)
if(Seccomp_FOUND AND NOT TARGET Seccomp::Seccomp)
  add_library(Seccomp::Seccomp UNKNOWN IMPORTED)
  set_target_properties(Seccomp::Seccomp PROPERTIES IMPORTED_LOCATION "${Seccomp_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${Seccomp_INCLUDE_DIR}")
endif()
