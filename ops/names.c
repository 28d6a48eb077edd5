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

gs_opfamily gs_opcode_family(gs_opcode op) {
  switch (op) {
  case GS_OP_MATMUL:
  case GS_OP_DOT: return GS_FAM_GEMM;
  case GS_OP_CONV2D:
  case GS_OP_CONV2D_BWD_DATA:
  case GS_OP_CONV2D_BWD_FILTER: return GS_FAM_CONV;
  case GS_OP_MAXPOOL2D:
  case GS_OP_MAXPOOL2D_BWD:
  case GS_OP_AVGPOOL2D:
  case GS_OP_AVGPOOL2D_BWD: return GS_FAM_POOL;
  case GS_OP_REDUCE: return GS_FAM_REDUCE;
  case GS_OP_EXPAND:
  case GS_OP_PERMUTE:
  case GS_OP_SLICE:
  case GS_OP_INSERT:
  case GS_OP_GATHER_ROWS:
  case GS_OP_SCATTER_ADD_ROWS:
  case GS_OP_ONEHOT: return GS_FAM_MOVE;
  case GS_OP_SGD:
  case GS_OP_ADAMW:
  case GS_OP_EMA: return GS_FAM_OPTIM;
  case GS_OP_NOP:
  case GS_OP_FILL:
  case GS_OP_UNARY:
  case GS_OP_UNARY_BWD:
  case GS_OP_BINARY:
  case GS_OP_AXPBY:
  case GS_OP_COUNT: break;
  }
  return GS_FAM_ELEMENTWISE;
}

static const char *const family_names[] = {"gemm",        "conv", "pool", "reduce",
                                           "elementwise", "move", "optim"};
_Static_assert(sizeof family_names / sizeof *family_names == GS_FAM_COUNT, "family names");

const char *gs_opfamily_name(gs_opfamily f) {
  return f >= 0 && f < GS_FAM_COUNT ? family_names[f] : "?";
}
