# BPF build: vmlinux.h generated from the running kernel's BTF, each progs/<name>.bpf.c compiled
# with clang -target bpf (CO-RE), then `bpftool gen skeleton` -> <name>.skel.h.
#
# bpf_object(<name> <source>) creates the INTERFACE target <name>_skel: link it to get the
# include path of <name>.skel.h and libbpf.

set(AMBIT_VMLINUX_DIR ${CMAKE_BINARY_DIR}/bpf/vmlinux)
set(AMBIT_VMLINUX_H ${AMBIT_VMLINUX_DIR}/vmlinux.h)
set(AMBIT_BTF_SOURCE /sys/kernel/btf/vmlinux CACHE FILEPATH "kernel BTF used to generate vmlinux.h")

add_custom_command(
  OUTPUT ${AMBIT_VMLINUX_H}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${AMBIT_VMLINUX_DIR}
  COMMAND ${BPFTOOL} btf dump file ${AMBIT_BTF_SOURCE} format c > ${AMBIT_VMLINUX_H}.tmp
  COMMAND ${CMAKE_COMMAND} -E rename ${AMBIT_VMLINUX_H}.tmp ${AMBIT_VMLINUX_H}
  COMMENT "Generating vmlinux.h from ${AMBIT_BTF_SOURCE}"
  VERBATIM)
add_custom_target(ambit_vmlinux DEPENDS ${AMBIT_VMLINUX_H})

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64")
  set(AMBIT_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64")
  set(AMBIT_BPF_ARCH arm64)
else()
  set(AMBIT_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

function(bpf_object name source)
  set(out_dir ${CMAKE_BINARY_DIR}/bpf/${name})
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${out_dir}/${name}.skel.h)
  get_filename_component(src_abs ${source} ABSOLUTE)
  file(GLOB bpf_headers ${PROJECT_SOURCE_DIR}/bpf/lib/*.h ${PROJECT_SOURCE_DIR}/bpf/include/ambit/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${CLANG_BPF} -g -O2 -target bpf -D__TARGET_ARCH_${AMBIT_BPF_ARCH}
            -Wall -Werror
            -I${AMBIT_VMLINUX_DIR} -I${PROJECT_SOURCE_DIR}/bpf/include -I${PROJECT_SOURCE_DIR}/bpf
            -c ${src_abs} -o ${obj}
    DEPENDS ${src_abs} ${bpf_headers} ${AMBIT_VMLINUX_H}
    COMMENT "BPF ${name}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${out_dir} ${PROJECT_SOURCE_DIR}/bpf/include)
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
