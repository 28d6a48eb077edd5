# Turns a SPIR-V binary into a C header holding it as 32-bit words (SPIR-V is a word stream,
# and vkCreateShaderModule wants uint32_t-aligned code).
# Usage: cmake -DIN=x.spv -DOUT=x.h -DNAME=symbol -P embed_spirv.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" len)
math(EXPR rem "${len} % 8")
if(NOT rem EQUAL 0 OR len EQUAL 0)
  message(FATAL_ERROR "${IN} is not a SPIR-V word stream (${len} hex digits)")
endif()
# Bytes are little-endian words: b0 b1 b2 b3 -> 0xb3b2b1b0.
string(REGEX REPLACE "([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])"
       "0x\\4\\3\\2\\1u," words "${hex}")
string(REGEX REPLACE "((0x[0-9a-f]+u,){8})" "\\1\n" words "${words}")
file(WRITE ${OUT}.tmp "/* generated from ${IN} */\nstatic const uint32_t ${NAME}[] = {\n${words}\n};\n")
file(RENAME ${OUT}.tmp ${OUT})
