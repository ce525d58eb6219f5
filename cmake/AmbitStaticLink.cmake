# ambit_static_link(target): link `target` against the static archives of its system libraries
# where Debian ships them (cmake/static-link.sh says which and why). For the data-plane binary,
# whose resident memory is mostly the pages of its shared libraries.
option(AMBIT_STATIC_DATAPLANE "Link ambit-ztunnel against static archives of its libraries" ON)

function(ambit_static_link target)
  if(AMBIT_STATIC_DATAPLANE AND NOT AMBIT_SANITIZE)
    set_target_properties(${target} PROPERTIES
      CXX_LINKER_LAUNCHER ${PROJECT_SOURCE_DIR}/cmake/static-link.sh)
  endif()
endfunction()
