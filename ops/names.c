/* Names of opcodes and elementwise functions, for messages and listings. The static asserts
 * keep the tables in step with the enums in op.h. */
#include "gessl/op.h"

static const char *const opcode_names[] = {"nop",
                                           "fill",
                                           "unary",
                                           "unary_bwd",
                                           "binary",
                                           "axpby",
                                           "reduce",
                                           "expand",
                                           "dot",
                                           "permute",
                                           "slice",
                                           "insert",
                                           "matmul",
                                           "gather_rows",
                                           "scatter_add_rows",
                                           "onehot",
                                           "conv2d",
                                           "conv2d_bwd_data",
                                           "conv2d_bwd_filter",
                                           "max_pool2d",
                                           "max_pool2d_bwd",
                                           "avg_pool2d",
                                           "avg_pool2d_bwd",
                                           "sgd",
                                           "adamw",
                                           "ema"};
_Static_assert(sizeof opcode_names / sizeof *opcode_names == GS_OP_COUNT, "opcode names");

static const char *const unary_names[] = {"affine", "exp",  "log",     "sqrt", "rsqrt", "square",
                                          "abs",    "relu", "sigmoid", "tanh", "recip"};
_Static_assert(sizeof unary_names / sizeof *unary_names == GS_UN_COUNT, "unary names");

static const char *const binary_names[] = {"add", "sub", "mul", "div", "max", "min", "eq", "gt"};
_Static_assert(sizeof binary_names / sizeof *binary_names == GS_BIN_COUNT, "binary names");

const char *gs_opcode_name(gs_opcode op) {
  return (unsigned)op < GS_OP_COUNT ? opcode_names[op] : "?";
}
const char *gs_unary_name(gs_unary fn) {
  return (unsigned)fn < GS_UN_COUNT ? unary_names[fn] : "?";
}
const char *gs_binary_name(gs_binary fn) {
  return (unsigned)fn < GS_BIN_COUNT ? binary_names[fn] : "?";
}
