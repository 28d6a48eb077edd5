/* Internal helpers shared by the graph builders in ops/ and by autodiff. Not a public header.
 *
 * Every GS_NODE_OP node these helpers create is launch-ready (see op.h): operands already have the
 * ranks the opcode requires, and rank-0 values are computed as [1] and aliased back to [], so a
 * backend never sees a rank-0 operand from these builders. */
#ifndef GESSL_OPS_IMPL_H
#define GESSL_OPS_IMPL_H

#include "graph/graph_impl.h"

/* Formats a shape into a caller buffer for messages: SHP(t, buf). */
#define GS_SHAPE_BUF 96
const char *gs_op_shp(const gs_shape *s, char *buf);

/* Normalises a possibly negative axis of a rank-r tensor; records "<op>: axis A out of range for
 * SHAPE" and returns -1 when it is out of range. */
int gs_op_axis(gs_graph *g, const char *op, int axis, const gs_shape *s);

/* A GS_NODE_OP node of opcode `op`, f32, with the given inputs; attributes zeroed. */
struct gs_node *gs_op_node(gs_graph *g, gs_opcode op, gs_shape shape, struct gs_node *const *in,
                           int n_in);

/* Same storage, new shape (equal numel, checked). Returns x itself when the shape is unchanged. */
struct gs_node *gs_op_alias(gs_graph *g, struct gs_node *x, gs_shape shape);
/* x with leading 1s so its rank is r (r >= rank of x). */
struct gs_node *gs_op_pad_rank(gs_graph *g, struct gs_node *x, int r);
/* x as a launchable [1] when it is rank 0; x itself otherwise. */
struct gs_node *gs_op_lift0(gs_graph *g, struct gs_node *x);

/* Primitive builders with the same checks as the public ops. */
struct gs_node *gs_op_unary(gs_graph *g, struct gs_node *x, gs_unary fn, float f0, float f1);
struct gs_node *gs_op_binary(gs_graph *g, struct gs_node *a, struct gs_node *b, gs_binary fn);
/* a*x + b*y for identical shapes (used to accumulate gradients). */
struct gs_node *gs_op_axpby(gs_graph *g, float a, struct gs_node *x, float b, struct gs_node *y);
/* REDUCE of `kind` over a mask of axes (bit k = axis k), keeping them as 1s. */
struct gs_node *gs_op_reduce_mask(gs_graph *g, struct gs_node *x, unsigned mask, gs_reduce kind);
/* x (same rank as `shape`, every dim 1 or equal) broadcast to `shape`. */
struct gs_node *gs_op_expand_same_rank(gs_graph *g, struct gs_node *x, gs_shape shape);
/* sum(a*b) as a [1] tensor; a and b have equal shapes. */
struct gs_node *gs_op_dot(gs_graph *g, struct gs_node *a, struct gs_node *b);
/* A concat of zeros and x along axis so that x sits at `start` in a tensor of shape `full`. */
struct gs_node *gs_op_pad_into(gs_graph *g, struct gs_node *x, gs_shape full, int axis,
                               int64_t start);

/* Gradient builders: equal in value to the plain ones, with fewer full-size passes over memory.
 * A gradient that is a broadcast (an EXPAND node a rule made, e.g. a mean's) stays one while it
 * flows on, and its consumers read the small source where they broadcast anyway; a reduction of
 * a scaled or broadcast gradient reduces the small operand. The full-size nodes they look past
 * may go unused: compile launches only what a program's outputs need. Only rules and autodiff
 * call them, since a node looked past must be one nobody differentiates with respect to. */
/* x's source when x is an EXPAND node, else NULL. */
struct gs_node *gs_op_broadcast_src(struct gs_node *x);
/* x's operand when x is a scale (UNARY AFFINE with no shift), else NULL. */
struct gs_node *gs_op_scale_src(struct gs_node *x);
/* s*dy: a broadcast dy is scaled before it is broadcast, and a scale of a scale is folded. */
struct gs_node *gs_op_grad_scale(gs_graph *g, struct gs_node *dy, float s);
/* a + b of equal shapes (two contributions to one gradient): a broadcast term is added from its
 * source by a broadcasting BINARY, two broadcast terms are added small and then broadcast. */
struct gs_node *gs_op_grad_add(gs_graph *g, struct gs_node *a, struct gs_node *b);
/* dy summed over the axes where `shape` was broadcast (numpy rules), then reshaped to `shape`. */
struct gs_node *gs_op_reduce_to(gs_graph *g, struct gs_node *dy, gs_shape shape);
/* dy summed over a mask of axes (as gs_op_reduce_mask with GS_RED_SUM). */
struct gs_node *gs_op_grad_sum(gs_graph *g, struct gs_node *dy, unsigned mask);

/* One all-reduce (mean or sum over ranks) of the flat concatenation of xs: [total elements]. Used
 * for gradient buckets; unlike gs_all_reduce it adds the node in a world of one too (exported for
 * the test of program segments, which runs in a world of one). */
GS_API struct gs_node *gs_op_all_reduce_flat(gs_graph *g, struct gs_node *const *xs, int n,
                                             int mean);

#endif
