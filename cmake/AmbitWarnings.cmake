# Warnings are errors for ambit's own code; apply with ambit_strict(<target>).
function(ambit_strict target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers
    # GCC 12 reports Asio's coroutine frame allocator as mismatched new/delete (a known false
    # positive: the frame uses its own operator new/delete pair).
    $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>)
endfunction()
