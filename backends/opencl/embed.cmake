# cmake -DOUT=file.c "-DIN=a.cl;b.cl" -P embed.cmake
# Writes the concatenation of IN as a NUL-terminated byte array (bytes, so no escaping issues).
set(hex "")
foreach(f ${IN})
  file(READ ${f} part HEX)
  string(APPEND hex "${part}0a")
endforeach()
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n" body "${body}")
file(WRITE ${OUT}.tmp "/* generated from the OpenCL kernels by embed.cmake; do not edit */\n#include <stddef.h>\nconst char gs_ocl_kernel_source[] = {\n${body}0x00};\nconst size_t gs_ocl_kernel_source_len = ${n};\n")
file(RENAME ${OUT}.tmp ${OUT})
