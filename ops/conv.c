/* Convolution and pooling over NCHW images. */
#include <stdio.h>

#include "grad_rules.h"
#include "ops_impl.h"

static int need_image(gs_graph *g, const char *op, struct gs_node *x) {
  if (x->desc.shape.rank == 4 && x->desc.dtype == GS_F32) return 1;
  char b[GS_SHAPE_BUF];
  gs_graph_fail(g, GS_ERR_SHAPE, "%s: x must be f32 [N, C, H, W], got %s", op,
                gs_op_shp(&x->desc.shape, b));
  return 0;
}

gs_tensor *gs_conv2d(gs_graph *g, gs_tensor *x, gs_tensor *w, int stride, int pad) {
  struct gs_node *in[2] = {x, w};
  if (!gs_graph_check(g, "conv2d", in, 2) || !need_image(g, "conv2d", x)) return NULL;
  const gs_shape *sx = &x->desc.shape, *sw = &w->desc.shape;
  char bx[GS_SHAPE_BUF], bw[GS_SHAPE_BUF];
  if (sw->rank != 4 || sw->dim[1] != sx->dim[1])
    return gs_graph_fail(g, GS_ERR_SHAPE, "conv2d: channels differ: x %s w %s", gs_op_shp(sx, bx),
                         gs_op_shp(sw, bw));
  if (stride < 1 || pad < 0)
    return gs_graph_fail(g, GS_ERR_INVALID, "conv2d: bad stride %d or padding %d", stride, pad);
  int64_t oh = (sx->dim[2] + 2 * pad - sw->dim[2]) / stride + 1;
  int64_t ow = (sx->dim[3] + 2 * pad - sw->dim[3]) / stride + 1;
  if (sx->dim[2] + 2 * pad < sw->dim[2] || sx->dim[3] + 2 * pad < sw->dim[3])
    return gs_graph_fail(g, GS_ERR_SHAPE,
                         "conv2d: kernel larger than padded input: x %s w %s "
                         "pad %d",
                         gs_op_shp(sx, bx), gs_op_shp(sw, bw), pad);
  struct gs_node *y = gs_op_node(g, GS_OP_CONV2D, GS_SHAPE(sx->dim[0], sw->dim[0], oh, ow), in, 2);
  if (y) {
    y->i[0] = y->i[1] = stride;
    y->i[2] = y->i[3] = pad;
  }
  return y;
}

static gs_tensor *pool(gs_graph *g, gs_tensor *x, int kernel, int stride, int pad, gs_opcode op) {
  const char *name = op == GS_OP_MAXPOOL2D ? "max_pool2d" : "avg_pool2d";
  if (!gs_graph_check(g, name, &x, 1) || !need_image(g, name, x)) return NULL;
  const gs_shape *s = &x->desc.shape;
  char b[GS_SHAPE_BUF];
  /* Padding beyond half a window would make windows that see only padding. */
  if (kernel < 1 || stride < 1 || pad < 0 || 2 * pad > kernel)
    return gs_graph_fail(g, GS_ERR_INVALID,
                         "%s: bad kernel %d, stride %d or padding %d (need pad <= kernel/2)", name,
                         kernel, stride, pad);
  if (s->dim[2] + 2 * pad < kernel || s->dim[3] + 2 * pad < kernel)
    return gs_graph_fail(g, GS_ERR_SHAPE, "%s: kernel %d larger than padded input %s", name, kernel,
                         gs_op_shp(s, b));
  int64_t oh = (s->dim[2] + 2 * pad - kernel) / stride + 1;
  int64_t ow = (s->dim[3] + 2 * pad - kernel) / stride + 1;
  struct gs_node *y = gs_op_node(g, op, GS_SHAPE(s->dim[0], s->dim[1], oh, ow), &x, 1);
  if (y) {
    y->i[0] = y->i[1] = kernel;
    y->i[2] = y->i[3] = stride;
    y->i[4] = y->i[5] = pad;
  }
  return y;
}

gs_tensor *gs_max_pool2d(gs_graph *g, gs_tensor *x, int kernel, int stride, int pad) {
  return pool(g, x, kernel, stride, pad, GS_OP_MAXPOOL2D);
}

gs_tensor *gs_avg_pool2d(gs_graph *g, gs_tensor *x, int kernel, int stride, int pad) {
  return pool(g, x, kernel, stride, pad, GS_OP_AVGPOOL2D);
}

gs_tensor *gs_global_avg_pool(gs_graph *g, gs_tensor *x) {
  if (!gs_graph_check(g, "global_avg_pool", &x, 1) || !need_image(g, "global_avg_pool", x))
    return NULL;
  const int axes[2] = {2, 3};
  return gs_mean(g, x, axes, 2, 0);
}

/* ---- Gradients ---- */

static struct gs_node *bwd(gs_graph *g, gs_opcode op, struct gs_node *fwd, gs_shape out,
                           struct gs_node *a, struct gs_node *b) {
  struct gs_node *in[2] = {a, b};
  struct gs_node *d = gs_op_node(g, op, out, in, b ? 2 : 1);
  if (d)
    for (int k = 0; k < GS_LAUNCH_MAX_I; k++) d->i[k] = fwd->i[k];
  return d;
}

int gs_grad_conv(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                 struct gs_node **dx) {
  struct gs_node *x = y->in[0];
  switch (y->op) {
  case GS_OP_CONV2D:
    if (want[0]) dx[0] = bwd(g, GS_OP_CONV2D_BWD_DATA, y, x->desc.shape, dy, y->in[1]);
    if (want[1]) dx[1] = bwd(g, GS_OP_CONV2D_BWD_FILTER, y, y->in[1]->desc.shape, x, dy);
    break;
  case GS_OP_MAXPOOL2D: dx[0] = bwd(g, GS_OP_MAXPOOL2D_BWD, y, x->desc.shape, x, dy); break;
  case GS_OP_AVGPOOL2D: dx[0] = bwd(g, GS_OP_AVGPOOL2D_BWD, y, x->desc.shape, dy, NULL); break;
  default: break;
  }
  return gs_graph_status(g) == GS_OK;
}
