# ambit_static_link(target [ORDER_FILE file]): link `target` against the static archives of its
# system libraries where Debian ships them (cmake/static-link.sh says which and why). For the
# data-plane binary, whose resident memory is mostly the pages of its code.
#
# With ORDER_FILE (a list of symbols, hottest first: tests/bench/hot_functions.py writes it)
# the link uses LLVM's lld, which places the sections holding those symbols first and in that
# order, so the functions a running process touches share pages instead of being spread over
# the whole text (each touched page costs a 64 KiB fault-around window of resident memory).
# Every object is then compiled with one section per function, and the relative relocations
# are packed (DT_RELR: a few KiB instead of ~670 KiB of .rela.dyn that the loader reads, and so
# keeps resident, at every start). BENCHMARKS.md has the before/after.
option(AMBIT_STATIC_DATAPLANE "Link ambit-ztunnel against static archives of its libraries" ON)
# The archives Debian does not ship (fmt, spdlog, prometheus-cpp), built by
# scripts/setup-static-libs.sh; with them libstdc++ is linked statically too.
# Its AMBIT_STATIC_LIBS environment variable sets the default here too.
if(DEFINED ENV{AMBIT_STATIC_LIBS})
  set(ambit_static_libs_default "$ENV{AMBIT_STATIC_LIBS}")
else()
  set(ambit_static_libs_default "/var/cache/ambit/static-libs")
endif()
set(AMBIT_STATIC_LIBS "${ambit_static_libs_default}" CACHE PATH
    "Directory of static archives of fmt, spdlog and prometheus-cpp for ambit-ztunnel (lib/*.a)")

set(AMBIT_STATIC_ARCHIVES fmt spdlog prometheus-cpp-core)
list(TRANSFORM AMBIT_STATIC_ARCHIVES PREPEND "${AMBIT_STATIC_LIBS}/lib/lib")
list(TRANSFORM AMBIT_STATIC_ARCHIVES APPEND ".a")
# ON: ambit-ztunnel links those archives and libstdc++ statically (tests check for it).
set(AMBIT_STATIC_CXX OFF)
if(AMBIT_STATIC_DATAPLANE AND NOT AMBIT_SANITIZE)
  set(AMBIT_STATIC_CXX ON)
  foreach(a IN LISTS AMBIT_STATIC_ARCHIVES)
    if(NOT EXISTS ${a})
      set(AMBIT_STATIC_CXX OFF)
    endif()
  endforeach()
  # The archives must be of the versions whose headers the build compiles against (the stamp
  # holds the Debian source versions: "fmtlib=9.1.0+ds1-2", "spdlog=1:1.10.0+ds-0.4", ...).
  # prometheus-cpp's CMake package has no version file (its version is empty here): it is
  # checked by setup-static-libs.sh only, which rebuilds when an installed -dev version changes.
  set(stamp_file "${AMBIT_STATIC_LIBS}/VERSIONS")
  set(stale "")
  if(AMBIT_STATIC_CXX AND EXISTS ${stamp_file})
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${stamp_file})
    file(READ ${stamp_file} stamp)
    foreach(pair "fmtlib;${fmt_VERSION}" "spdlog;${spdlog_VERSION}"
                 "prometheus-cpp;${prometheus-cpp_VERSION}")
      list(GET pair 0 src)
      list(GET pair 1 version)
      if(version AND NOT stamp MATCHES "(^|\n)${src}=([0-9]+:)?${version}[+~-]")
        string(APPEND stale " ${src} ${version}")
      endif()
    endforeach()
  elseif(AMBIT_STATIC_CXX)
    set(stale " (no VERSIONS stamp)")
  endif()
  if(AMBIT_STATIC_CXX AND stale)
    set(AMBIT_STATIC_CXX OFF)
    message(WARNING "ambit: the static archives in ${AMBIT_STATIC_LIBS} are not of the "
                    "installed${stale}: run scripts/setup-static-libs.sh and re-run cmake; "
                    "ambit-ztunnel links libstdc++, fmt, spdlog and prometheus-cpp shared "
                    "(~2 MB more memory)")
  elseif(NOT AMBIT_STATIC_CXX)
    message(WARNING "ambit: no static archives of fmt, spdlog and prometheus-cpp in "
                    "${AMBIT_STATIC_LIBS} (scripts/setup-static-libs.sh builds them; re-run "
                    "cmake after it): ambit-ztunnel links libstdc++ and those three shared "
                    "(~2 MB more memory)")
  endif()
endif()

set(AMBIT_ORDERED_LINK OFF)
if(AMBIT_STATIC_DATAPLANE AND NOT AMBIT_SANITIZE)
  # lld ≥ 15 adds the GLIBC_ABI_DT_RELR version that glibc's loader wants beside DT_RELR;
  # bookworm's default lld is 14, so scripts/setup.sh installs lld-16.
  find_program(AMBIT_LLD ld.lld PATHS /usr/lib/llvm-16/bin NO_DEFAULT_PATH)
  if(AMBIT_LLD)
    set(AMBIT_ORDERED_LINK ON)
    # For every target: the ztunnel links the same ambit_* libraries as the other daemons.
    add_compile_options(-ffunction-sections)
  else()
    message(WARNING "ambit: /usr/lib/llvm-16/bin/ld.lld not found (scripts/setup.sh installs "
                    "lld-16): ambit-ztunnel is linked without its function order (more memory)")
  endif()
endif()

function(ambit_static_link target)
  cmake_parse_arguments(S "" "ORDER_FILE" "" ${ARGN})
  if(NOT AMBIT_STATIC_DATAPLANE OR AMBIT_SANITIZE)
    return()
  endif()
  set(launcher ${PROJECT_SOURCE_DIR}/cmake/static-link.sh)
  if(AMBIT_STATIC_CXX)
    list(APPEND launcher --archives ${AMBIT_STATIC_LIBS})
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${AMBIT_STATIC_ARCHIVES})
  endif()
  set_target_properties(${target} PROPERTIES CXX_LINKER_LAUNCHER "${launcher}")
  if(AMBIT_ORDERED_LINK AND S_ORDER_FILE)
    get_filename_component(lld_dir ${AMBIT_LLD} DIRECTORY)
    target_link_options(${target} PRIVATE
      -B${lld_dir}/ -fuse-ld=lld
      -Wl,--symbol-ordering-file=${S_ORDER_FILE} -Wl,--no-warn-symbol-ordering
      -Wl,-z,pack-relative-relocs)
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${S_ORDER_FILE})
  endif()
endfunction()
