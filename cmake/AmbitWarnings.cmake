# Warnings are errors for ambit's own code; apply with ambit_strict(<target>).
function(ambit_strict target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers)
endfunction()
