/* The opcode contract (runtime/opcode.c): every opcode has its table row, well-formed launches
 * pass gs_launch_check and each kind of malformed one is refused with a reason naming what is
 * wrong. Backends rely on this check alone for operand counts, dtypes, shapes and attributes. */
#include <string.h>

#include "check.h"
#include "gessl/gessl.h"

static gs_tdesc td(gs_dtype t, gs_shape s) { return (gs_tdesc){t, s}; }

static gs_launch mk(gs_opcode op, int n_in) {
  gs_launch l;
  memset(&l, 0, sizeof l);
  l.op = op;
  l.n_in = n_in;
  return l;
}

/* l passes; or, with `want` set, it is refused and the reason contains want. */
static void expect(const gs_launch *l, const char *want, int line) {
  char why[256] = "";
  int ok = gs_launch_check(l, why, sizeof why);
  if (!want) {
    CHECKF(ok == 1, "line %d: %s refused: %s", line, gs_opcode_name(l->op), why);
  } else {
    CHECKF(ok == 0 && strstr(why, want) != NULL, "line %d: %s: wanted \"%s\", got %d \"%s\"", line,
           gs_opcode_name(l->op), want, ok, why);
  }
}
#define PASS(l) expect(&(l), NULL, __LINE__)
#define FAIL(l, want) expect(&(l), want, __LINE__)

static void test_table(void) {
  for (int op = 0; op < GS_OP_COUNT; op++) {
    const gs_opcode_info *in = gs_opcode_info_of((gs_opcode)op);
    CHECKF(in && in->name && strcmp(in->name, gs_opcode_name((gs_opcode)op)) == 0, "opcode %d", op);
    CHECK(in && in->family == gs_opcode_family((gs_opcode)op));
    CHECK(in && in->n_in >= 0 && in->n_in <= GS_LAUNCH_MAX_IN && in->attrs != NULL);
  }
  CHECK(gs_opcode_info_of(GS_OP_COUNT) == NULL && gs_opcode_info_of((gs_opcode)-1) == NULL);
  CHECK(gs_opcode_info_of(GS_OP_ADAMW)->n_in == 6 && gs_opcode_info_of(GS_OP_ADAMW)->in_place == 2);
  CHECK(gs_opcode_info_of(GS_OP_GATHER_ROWS)->i32_in == 0x2u);
  gs_launch l = mk(GS_OP_COUNT, 0);
  FAIL(l, "unknown opcode");
  CHECK(gs_launch_check(NULL, NULL, 0) == 0);
}

static void test_elementwise(void) {
  gs_launch l = mk(GS_OP_BINARY, 2);
  l.in_desc[0] = l.in_desc[1] = l.out_desc = td(GS_F32, GS_SHAPE(3, 4));
  PASS(l);
  l.in_desc[1] = td(GS_F32, GS_SHAPE(1, 4)); /* broadcasts */
  PASS(l);
  l.in_desc[1] = td(GS_I32, GS_SHAPE(3, 4));
  FAIL(l, "input 1 is i32, needs f32");
  l.in_desc[1] = td(GS_F32, GS_SHAPE(2, 4));
  FAIL(l, "do not broadcast");
  l.in_desc[1] = td(GS_F32, GS_SHAPE(3, 4));
  l.i[0] = GS_BIN_COUNT;
  FAIL(l, "unknown function");
  l = mk(GS_OP_BINARY, 1);
  FAIL(l, "needs 2 inputs, got 1");

  l = mk(GS_OP_FILL, 0);
  l.out_desc = td(GS_I32, GS_SHAPE(5));
  PASS(l);
  l.out_desc.shape.dim[0] = -1;
  FAIL(l, "bad shape");
  l = mk(GS_OP_UNARY_BWD, 3);
  l.in_desc[0] = l.in_desc[1] = l.in_desc[2] = l.out_desc = td(GS_F32, GS_SHAPE(2, 3));
  PASS(l);
  l.in_desc[2].shape = (gs_shape)GS_SHAPE(3, 2);
  FAIL(l, "input 2 shape");

  l = mk(GS_OP_REDUCE, 1);
  l.in_desc[0] = td(GS_F32, GS_SHAPE(4, 5)), l.out_desc = td(GS_F32, GS_SHAPE(1, 5));
  PASS(l);
  l.out_desc.shape = (gs_shape)GS_SHAPE(4, 2);
  FAIL(l, "does not reduce");
}

static void test_moves(void) {
  gs_launch l = mk(GS_OP_EXPAND, 1);
  l.in_desc[0] = td(GS_I32, GS_SHAPE(1, 3)), l.out_desc = td(GS_I32, GS_SHAPE(4, 3));
  PASS(l); /* data movement carries i32 when both sides agree */
  l.out_desc.dtype = GS_F32;
  FAIL(l, "input 0 is i32, needs f32");

  l = mk(GS_OP_PERMUTE, 1);
  l.in_desc[0] = td(GS_F32, GS_SHAPE(2, 3, 4)), l.out_desc = td(GS_F32, GS_SHAPE(4, 2, 3));
  l.i[0] = 2, l.i[1] = 0, l.i[2] = 1;
  PASS(l);
  l.i[2] = 0;
  FAIL(l, "bad permutation");

  l = mk(GS_OP_SLICE, 1);
  l.in_desc[0] = td(GS_F32, GS_SHAPE(5, 6)), l.out_desc = td(GS_F32, GS_SHAPE(2, 6));
  l.i[0] = 3;
  PASS(l);
  l.i[0] = 4;
  FAIL(l, "window");

  l = mk(GS_OP_GATHER_ROWS, 2);
  l.in_desc[0] = td(GS_F32, GS_SHAPE(7, 3)), l.in_desc[1] = td(GS_I32, GS_SHAPE(4));
  l.out_desc = td(GS_F32, GS_SHAPE(4, 3));
  PASS(l);
  l.in_desc[1].dtype = GS_F32;
  FAIL(l, "input 1 is f32, needs i32");
}

static void test_gemm_conv_pool(void) {
  gs_launch l = mk(GS_OP_MATMUL, 2);
  l.in_desc[0] = td(GS_F32, GS_SHAPE(2, 3, 4)), l.in_desc[1] = td(GS_F32, GS_SHAPE(1, 4, 6));
  l.out_desc = td(GS_F32, GS_SHAPE(2, 3, 6));
  PASS(l);
  l.in_desc[1] = td(GS_F32, GS_SHAPE(2, 5, 6));
  FAIL(l, "does not give");
  l.i[1] = 1; /* B transposed: [2, 6, 4] */
  l.in_desc[1] = td(GS_F32, GS_SHAPE(2, 6, 4));
  PASS(l);

  l = mk(GS_OP_CONV2D, 2);
  l.in_desc[0] = td(GS_F32, GS_SHAPE(2, 3, 9, 7)), l.in_desc[1] = td(GS_F32, GS_SHAPE(4, 3, 3, 3));
  l.out_desc = td(GS_F32, GS_SHAPE(2, 4, 5, 4));
  l.i[0] = l.i[1] = 2, l.i[2] = l.i[3] = 1;
  PASS(l);
  l.out_desc.shape.dim[2] = 4;
  FAIL(l, "output shape does not follow");
  l.out_desc.shape.dim[2] = 5;
  l.i[0] = 0;
  FAIL(l, "bad stride");

  l = mk(GS_OP_MAXPOOL2D_BWD, 2);
  l.in_desc[0] = td(GS_F32, GS_SHAPE(1, 2, 8, 6)), l.in_desc[1] = td(GS_F32, GS_SHAPE(1, 2, 4, 3));
  l.out_desc = td(GS_F32, GS_SHAPE(1, 2, 8, 6));
  l.i[0] = l.i[1] = l.i[2] = l.i[3] = 2;
  PASS(l);
  l.out_desc.shape.dim[3] = 5;
  FAIL(l, "dx shape differs");
}

static void test_updates(void) {
  gs_launch l = mk(GS_OP_ADAMW, 6);
  for (int k = 0; k < 4; k++) l.in_desc[k] = td(GS_F32, GS_SHAPE(3, 5));
  l.in_desc[4] = l.in_desc[5] = td(GS_F32, GS_SHAPE(1));
  l.out_desc = td(GS_F32, GS_SHAPE(15));
  PASS(l);
  l.in_desc[5] = td(GS_F32, GS_SHAPE(2));
  FAIL(l, "input 5 must hold one element");
  l.in_desc[5] = td(GS_F32, GS_SHAPE(1));
  l.in_desc[3] = td(GS_F32, GS_SHAPE(5, 3));
  FAIL(l, "input 3 shape differs");
  l = mk(GS_OP_EMA, 3);
  l.in_desc[0] = l.in_desc[1] = l.out_desc = td(GS_F32, GS_SHAPE(4));
  l.in_desc[2] = td(GS_F32, GS_SHAPE(1));
  PASS(l);
  l.out_desc.shape = (gs_shape)GS_SHAPE(3);
  FAIL(l, "out must alias input 0");
}

int main(void) {
  test_table();
  test_elementwise();
  test_moves();
  test_gemm_conv_pool();
  test_updates();
  return check_summary();
}
