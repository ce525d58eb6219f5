# ambit_static_link(target [ORDER_FILE file]): link `target` against the static archives of its
# system libraries where Debian ships them (cmake/static-link.sh says which and why). For the
# daemons a node runs (ambit-ztunnel, ambit-agent, ambit-waypoint), whose resident memory is
# mostly the pages of their code and of the shared libraries they would load.
#
# The link uses LLVM's lld, which packs the relative relocations (DT_RELR: a few KiB instead of
# ~670 KiB of .rela.dyn that the loader reads, and so keeps resident, at every start). With
# ORDER_FILE (a list of symbols, hottest first: tests/bench/hot_functions.py writes it) lld also
# places the sections holding those symbols first and in that order, so the functions a running
# process touches share pages instead of being spread over the whole text (each touched page
# costs a 64 KiB fault-around window of resident memory); every object is compiled with one
# section per function for that. BENCHMARKS.md has the before/after (sessions 13, 21, 23).
option(AMBIT_STATIC_DATAPLANE
       "Link ambit-ztunnel, ambit-agent and ambit-waypoint against static archives of libraries" ON)
# The archives Debian does not ship (fmt, spdlog, prometheus-cpp), built by
# scripts/setup-static-libs.sh; with them libstdc++ is linked statically too.
# Its AMBIT_STATIC_LIBS environment variable sets the default here too.
if(DEFINED ENV{AMBIT_STATIC_LIBS})
  set(ambit_static_libs_default "$ENV{AMBIT_STATIC_LIBS}")
else()
  set(ambit_static_libs_default "/var/cache/ambit/static-libs")
endif()
set(AMBIT_STATIC_LIBS "${ambit_static_libs_default}" CACHE PATH
    "Directory of static archives of fmt, spdlog and prometheus-cpp for the static links (lib/*.a)")

set(AMBIT_STATIC_ARCHIVES fmt spdlog prometheus-cpp-core)
list(TRANSFORM AMBIT_STATIC_ARCHIVES PREPEND "${AMBIT_STATIC_LIBS}/lib/lib")
list(TRANSFORM AMBIT_STATIC_ARCHIVES APPEND ".a")
# ON: the statically linked daemons take those archives and libstdc++ static (tests check for it).
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
                    "ambit-ztunnel, ambit-agent and ambit-waypoint link libstdc++, fmt, spdlog "
                    "and prometheus-cpp shared (~2 MB more memory each)")
  elseif(NOT AMBIT_STATIC_CXX)
    message(WARNING "ambit: no static archives of fmt, spdlog and prometheus-cpp in "
                    "${AMBIT_STATIC_LIBS} (scripts/setup-static-libs.sh builds them; re-run "
                    "cmake after it): ambit-ztunnel, ambit-agent and ambit-waypoint link "
                    "libstdc++ and those three shared (~2 MB more memory each)")
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
                    "lld-16): the node's daemons are linked without packed relocations, the "
                    "ztunnel without its function order (more memory)")
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
  if(AMBIT_ORDERED_LINK)
    get_filename_component(lld_dir ${AMBIT_LLD} DIRECTORY)
    target_link_options(${target} PRIVATE -B${lld_dir}/ -fuse-ld=lld -Wl,-z,pack-relative-relocs)
    if(S_ORDER_FILE)
      target_link_options(${target} PRIVATE
        -Wl,--symbol-ordering-file=${S_ORDER_FILE} -Wl,--no-warn-symbol-ordering)
      set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${S_ORDER_FILE})
    endif()
  endif()
endfunction()
