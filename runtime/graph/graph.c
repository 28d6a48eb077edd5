/* Graph storage, sticky errors and leaves: the core that ops/ builds on. It includes nothing from
 * ops/; the ops, their gradient rules and autodiff (ops/) include this folder's graph_impl.h. */
#include "graph_impl.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/runtime.h"

/* Node structs are recycled through a process-wide free list instead of going back to malloc. A
 * program knows its inputs and outputs by (graph serial, node index), and a caller may still name
 * a node of a freed graph as a key; its memory stays readable, and its serial (kept after the
 * free, replaced when the struct is reused) tells the original from a new node at its address. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gs_node *pool;

static struct gs_node *node_alloc(void) {
  pthread_mutex_lock(&pool_lock);
  struct gs_node *n = pool;
  if (n) pool = n->pool_next;
  pthread_mutex_unlock(&pool_lock);
  if (n) memset(n, 0, sizeof *n);
  return n ? n : calloc(1, sizeof *n);
}

gs_graph *gs_graph_new(void) {
  static uint64_t next_serial;
  gs_graph *g = calloc(1, sizeof *g);
  if (!g) gs_fail(GS_ERR_NOMEM, "gs_graph_new: out of memory");
  if (g) g->serial = __atomic_add_fetch(&next_serial, 1, __ATOMIC_RELAXED);
  return g;
}

void gs_graph_free(gs_graph *g) {
  if (!g) return;
  /* Last node first onto the list, so a graph built next reuses the same addresses in the same
   * order (which the stale-key test relies on to mean something). */
  pthread_mutex_lock(&pool_lock);
  for (int k = g->n - 1; k >= 0; k--) {
    struct gs_node *n = g->nodes[k];
    free(n->name);
    free(n->in);
    n->name = NULL;
    n->in = NULL;
    n->graph = NULL;
    n->pool_next = pool;
    pool = n;
  }
  pthread_mutex_unlock(&pool_lock);
  free(g->nodes);
  free(g);
}

gs_status gs_graph_status(const gs_graph *g) { return g ? g->status : GS_ERR_INVALID; }

const char *gs_graph_error(const gs_graph *g) { return g ? g->err : "no graph"; }

struct gs_node *gs_graph_fail(gs_graph *g, gs_status s, const char *fmt, ...) {
  if (!g || g->status != GS_OK) return NULL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->err, sizeof g->err, fmt, ap);
  va_end(ap);
  g->status = s;
  gs_fail(s, "%s", g->err);
  return NULL;
}

int gs_graph_check(gs_graph *g, const char *op, struct gs_node *const *xs, int n) {
  if (!g || g->status != GS_OK) return 0;
  for (int k = 0; k < n; k++) {
    if (!xs[k]) return 0; /* an earlier failure produced it; already recorded */
    if (xs[k]->graph != g) {
      gs_graph_fail(g, GS_ERR_INVALID, "%s: operand %d belongs to another graph", op, k);
      return 0;
    }
  }
  return 1;
}

struct gs_node *gs_node_new(gs_graph *g, gs_node_kind kind, gs_opcode op, gs_dtype dtype,
                            gs_shape shape, struct gs_node *const *in, int n_in) {
  if (!g || g->status != GS_OK) return NULL;
  for (int k = 0; k < n_in; k++)
    if (!in[k]) return NULL;
  if (g->n == g->cap) {
    int cap = g->cap ? 2 * g->cap : 64;
    struct gs_node **nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) return gs_graph_fail(g, GS_ERR_NOMEM, "graph: out of memory");
    g->nodes = nodes;
    g->cap = cap;
  }
  struct gs_node *n = node_alloc();
  if (!n) return gs_graph_fail(g, GS_ERR_NOMEM, "graph: out of memory");
  n->in = n_in ? malloc((size_t)n_in * sizeof *n->in) : NULL;
  if (n_in && !n->in) {
    n->pool_next = NULL;
    free(n);
    return gs_graph_fail(g, GS_ERR_NOMEM, "graph: out of memory");
  }
  n->graph = g;
  n->serial = g->serial;
  n->id = g->n;
  n->kind = kind;
  n->op = op;
  n->desc.dtype = dtype;
  n->desc.shape = shape;
  n->n_in = n_in;
  for (int k = 0; k < n_in; k++) n->in[k] = in[k];
  g->nodes[g->n++] = n;
  return n;
}

static int shape_ok(gs_graph *g, const char *op, gs_shape s) {
  if (s.rank < 0 || s.rank > GS_MAX_RANK) {
    gs_graph_fail(g, GS_ERR_SHAPE, "%s: rank %d outside 0..%d", op, s.rank, GS_MAX_RANK);
    return 0;
  }
  for (int k = 0; k < s.rank; k++)
    if (s.dim[k] < 1) {
      char b[96];
      gs_graph_fail(g, GS_ERR_SHAPE, "%s: dim %d of %s is not positive", op, k,
                    gs_shape_str(&s, b, sizeof b));
      return 0;
    }
  return 1;
}

gs_tensor *gs_input(gs_graph *g, const char *name, gs_dtype dtype, gs_shape shape) {
  if (!g || g->status != GS_OK) return NULL;
  if (!name || !*name) return gs_graph_fail(g, GS_ERR_INVALID, "input: empty name");
  if (dtype != GS_F32 && dtype != GS_I32)
    return gs_graph_fail(g, GS_ERR_INVALID, "input '%s': unknown dtype %d", name, (int)dtype);
  if (!shape_ok(g, "input", shape)) return NULL;
  if (gs_graph_input(g, name))
    return gs_graph_fail(g, GS_ERR_INVALID, "input: name '%s' used twice", name);
  struct gs_node *n = gs_node_new(g, GS_NODE_INPUT, GS_OP_NOP, dtype, shape, NULL, 0);
  if (!n) return NULL;
  n->name = strdup(name);
  if (!n->name) return gs_graph_fail(g, GS_ERR_NOMEM, "input: out of memory");
  n->no_grad = 0;
  return n;
}

gs_tensor *gs_graph_input(const gs_graph *g, const char *name) {
  for (int k = 0; g && name && k < g->n; k++)
    if (g->nodes[k]->kind == GS_NODE_INPUT && strcmp(g->nodes[k]->name, name) == 0)
      return g->nodes[k];
  return NULL;
}

gs_tensor *gs_param_ref(gs_graph *g, gs_param *p) {
  if (!g || g->status != GS_OK) return NULL;
  if (!p) return gs_graph_fail(g, GS_ERR_INVALID, "param_ref: NULL param");
  /* One node per param, so gradients of every use meet in one place. */
  for (int k = 0; k < g->n; k++)
    if (g->nodes[k]->kind == GS_NODE_PARAM && g->nodes[k]->param == p) return g->nodes[k];
  struct gs_node *n = gs_node_new(g, GS_NODE_PARAM, GS_OP_NOP, GS_F32, gs_param_shape(p), NULL, 0);
  if (n) n->param = p;
  return n;
}

gs_tensor *gs_fill(gs_graph *g, gs_shape shape, float value) {
  if (!g || g->status != GS_OK) return NULL;
  if (!shape_ok(g, "fill", shape)) return NULL;
  struct gs_node *n = gs_node_new(g, GS_NODE_OP, GS_OP_FILL, GS_F32, shape, NULL, 0);
  if (n) {
    n->f[0] = value;
    n->no_grad = 1;
  }
  return n;
}

gs_shape gs_tensor_shape(const gs_tensor *t) {
  gs_shape s = {0, {0}};
  return t ? t->desc.shape : s;
}

gs_dtype gs_tensor_dtype(const gs_tensor *t) { return t ? t->desc.dtype : GS_F32; }

int64_t gs_tensor_dim(const gs_tensor *t, int axis) {
  if (!t) return 0;
  int r = t->desc.shape.rank;
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return 0;
  return t->desc.shape.dim[axis];
}

gs_graph *gs_tensor_graph(const gs_tensor *t) { return t ? t->graph : NULL; }
