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
set(AMBIT_STATIC_LIBS "/var/cache/ambit/static-libs" CACHE PATH
    "Static archives of fmt, spdlog and prometheus-cpp for ambit-ztunnel (lib/*.a)")

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
  if(NOT AMBIT_STATIC_CXX)
    message(WARNING "ambit: no static archives of fmt, spdlog and prometheus-cpp in "
                    "${AMBIT_STATIC_LIBS} (scripts/setup-static-libs.sh builds them): "
                    "ambit-ztunnel links libstdc++ and those three shared (~2 MB more memory)")
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
