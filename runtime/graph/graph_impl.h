/* Internal layout of graphs and nodes, shared by the graph builders (ops/), autodiff and the
 * compiler. Not a public header: plugins see gs_tensor as opaque. */
#ifndef GESSL_GRAPH_IMPL_H
#define GESSL_GRAPH_IMPL_H

#include "gessl/graph.h"

typedef enum gs_node_kind {
  GS_NODE_OP = 0,     /* a primitive launch: `op` with `in`, `i`, `f` as in op.h */
  GS_NODE_INPUT,      /* fed by the host before each run */
  GS_NODE_PARAM,      /* a persistent tensor (`param`) */
  GS_NODE_ALIAS,      /* same storage as in[0], other shape (reshape) or no gradient (detach) */
  GS_NODE_CONCAT,     /* in[0..n_in) joined along axis i[0]; lowered to INSERT launches */
  GS_NODE_COLLECTIVE, /* i[0] = gs_coll_kind over the world's ranks (ops/collective.c); run on the
                       * host between program segments */
} gs_node_kind;

/* What a GS_NODE_COLLECTIVE does: an all-reduce (sum or mean) of the flat concatenation of its
 * inputs, or an all-gather of its one input's rows, rank-major. */
typedef enum gs_coll_kind { GS_COLL_SUM = 0, GS_COLL_MEAN = 1, GS_COLL_GATHER = 2 } gs_coll_kind;
enum { GS_MAX_GATHER_CHUNKS = 16 };

struct gs_node {
  gs_graph *graph; /* NULL once the graph is freed */
  uint64_t serial; /* the serial of the graph that made it, kept after the graph is freed */
  struct gs_node *pool_next; /* graph.c's free list */
  int id;                    /* index in graph->nodes; creation order is a topological order */
  gs_node_kind kind;
  gs_opcode op;  /* GS_NODE_OP only */
  gs_tdesc desc; /* dtype and shape of the value */
  int n_in;
  struct gs_node **in; /* n_in inputs */
  int32_t i[GS_LAUNCH_MAX_I];
  float f[GS_LAUNCH_MAX_F];
  gs_param *param;      /* PARAM: the tensor; sink: the tensor written in place */
  char *name;           /* INPUT: its name */
  unsigned no_grad : 1; /* gradients stop here (detach, comparisons, onehot) */
  unsigned is_sink : 1; /* writes `param` in place; scheduled after every non-sink */
  /* Backward nodes (gs_grad): 1 + the id of the forward node whose gradient rule made them; 0
   * for forward nodes. Only messages read it (--detect-anomaly names the op differentiated). */
  int grad_of;
};

struct gs_graph {
  uint64_t serial; /* unique in the process: programs name their inputs and outputs by it */
  struct gs_node **nodes;
  int n, cap;
  gs_status status;
  char err[512];
};

/* Creates a node with the given inputs (copied) and value descriptor; attributes zeroed.
 * Returns NULL (recording "out of memory" in g) on failure, or if g already failed, or if any
 * input is NULL (no new message: the failure that produced the NULL was recorded already). */
struct gs_node *gs_node_new(gs_graph *g, gs_node_kind kind, gs_opcode op, gs_dtype dtype,
                            gs_shape shape, struct gs_node *const *in, int n_in);
/* True if g is usable and every one of the n operands is non-NULL and belongs to g. Records an
 * error naming `op` if an operand belongs to another graph. */
int gs_graph_check(gs_graph *g, const char *op, struct gs_node *const *xs, int n);

/* Access to a gs_param's internals for the compiler (runtime/param.c). */
struct gs_bbuf *gs_param_bbuf(const gs_param *p);

#endif
