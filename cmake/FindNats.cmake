# The NATS C client (Debian's libnats-dev): bench/bus measures NATS JetStream beside the bus with
# it. The package ships a pkg-config file and a cnats CMake package; this wraps the pkg-config one
# as Nats::Nats, as FindSeccomp does, so the search looks like every other library's here.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_NATS QUIET libnats)
endif()
find_path(Nats_INCLUDE_DIR nats/nats.h HINTS ${PC_NATS_INCLUDE_DIRS})
find_library(Nats_LIBRARY NAMES nats HINTS ${PC_NATS_LIBRARY_DIRS})
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Nats REQUIRED_VARS Nats_LIBRARY Nats_INCLUDE_DIR
                                  VERSION_VAR PC_NATS_VERSION)
if(Nats_FOUND AND NOT TARGET Nats::Nats)
  add_library(Nats::Nats UNKNOWN IMPORTED)
  set_target_properties(Nats::Nats PROPERTIES IMPORTED_LOCATION "${Nats_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${Nats_INCLUDE_DIR}")
endif()
