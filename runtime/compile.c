/* gs_compile: from a graph to a backend program.
 *
 * 1. Keep the nodes the outputs and the sinks need.
 * 2. Order them: creation order (a topological order), with the sinks — and anything that reads
 *    a sink's result — moved after everything else, so updates see the values of this run.
 * 3. Give every value a storage: params and sinks use the param's buffer, inputs a buffer of
 *    their own, aliases (reshape, detach) their root's storage, and every computed value a slot
 *    in an arena planned by liveness (plan.c), so values never alive together share bytes.
 * 4. Lower each node to launches (OP: one, CONCAT: one INSERT per input), check that the backend
 *    runs each, and hand the list to the backend to prepare. Collectives (data-parallel training)
 *    are no launches: they cut the list into segments, each compiled on its own, and run on the
 *    host between them (collective_plan below).
 * The program copies what it needs, so the graph may be freed right after. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_impl.h"
#include "plan.h"
#include "program_impl.h"

#define ARENA_ALIGN 256

typedef struct cnode {
  unsigned needed : 1, late : 1, output : 1;
  int root;      /* node whose storage this value uses (itself unless an alias) */
  int item;      /* arena slot, or -1 */
  int input;     /* program input, or -1 */
  gs_bbuf *pbuf; /* param storage (params and sinks), or NULL */
} cnode;

typedef struct cctx {
  gs_device *dev;
  gs_graph *g;
  cnode *cn;
  int *order, n_order;
  int n_coll; /* collective nodes needed */
  rt_plan_item *items;
  int n_items;
  gs_program *prog;
  int *node_end; /* checked mode: node_end[L] is the node whose launches end before launch L */
} cctx;

static size_t value_bytes(const struct gs_node *n) {
  return (size_t)gs_shape_numel(&n->desc.shape) * 4;
}

static gs_status mark_needed(cctx *c, gs_tensor *const *outputs, int n_outputs) {
  gs_graph *g = c->g;
  int *stack = malloc((size_t)(g->n ? g->n : 1) * sizeof *stack);
  if (!stack) return gs_fail(GS_ERR_NOMEM, "compile: out of memory");
  int sp = 0;
  for (int k = 0; k < n_outputs; k++) {
    if (!c->cn[outputs[k]->id].needed) stack[sp++] = outputs[k]->id;
    c->cn[outputs[k]->id].needed = 1;
    c->cn[outputs[k]->id].output = 1;
  }
  for (int k = 0; k < g->n; k++)
    if (g->nodes[k]->is_sink && !c->cn[k].needed) {
      c->cn[k].needed = 1;
      stack[sp++] = k;
    }
  while (sp > 0) {
    const struct gs_node *n = g->nodes[stack[--sp]];
    for (int k = 0; k < n->n_in; k++) {
      int id = n->in[k]->id;
      if (!c->cn[id].needed) {
        c->cn[id].needed = 1;
        stack[sp++] = id;
      }
    }
  }
  free(stack);
  return GS_OK;
}

static void make_order(cctx *c) {
  gs_graph *g = c->g;
  for (int k = 0; k < g->n; k++) {
    const struct gs_node *n = g->nodes[k];
    int late = n->is_sink;
    for (int j = 0; j < n->n_in && !late; j++) late = c->cn[n->in[j]->id].late;
    c->cn[k].late = late;
  }
  c->n_order = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int k = 0; k < g->n; k++)
      if (c->cn[k].needed && (int)c->cn[k].late == pass) c->order[c->n_order++] = k;
  /* A collective starts as soon as its inputs exist (a gradient bucket while the rest of the
   * backward pass runs): moved to just after the last of them. Nothing in between reads it, since
   * creation order is topological. */
  for (int o = 0; o < c->n_order; o++) {
    const struct gs_node *n = g->nodes[c->order[o]];
    if (n->kind != GS_NODE_COLLECTIVE) continue;
    int after = -1;
    for (int p = 0; p < o; p++)
      for (int j = 0; j < n->n_in; j++)
        if (c->order[p] == n->in[j]->id && p > after) after = p;
    int id = c->order[o];
    for (int p = o; p > after + 1; p--) c->order[p] = c->order[p - 1];
    c->order[after + 1] = id;
  }
}

static gs_status param_storage(cctx *c, const struct gs_node *n, gs_bbuf **out) {
  if (!n->param)
    return gs_fail(GS_ERR_INVALID, "compile: node %d (%s) writes no param", n->id,
                   gs_opcode_name(n->op));
  if (gs_param_device(n->param) != c->dev)
    return gs_fail(GS_ERR_INVALID, "compile: param '%s' lives on another device than %s (%s)",
                   gs_param_name(n->param), c->dev->info.name, c->dev->iface->name);
  gs_shape ps = gs_param_shape(n->param);
  if (gs_shape_numel(&n->desc.shape) > gs_shape_numel(&ps)) {
    char a[96], b[96];
    return gs_fail(GS_ERR_SHAPE, "compile: node %d %s is larger than param '%s' %s", n->id,
                   gs_shape_str(&n->desc.shape, a, sizeof a), gs_param_name(n->param),
                   gs_shape_str(&ps, b, sizeof b));
  }
  *out = gs_param_bbuf(n->param);
  return GS_OK;
}

/* Storage of every needed node, in creation order so an alias's root is resolved first. */
static gs_status assign_storage(cctx *c) {
  gs_graph *g = c->g;
  gs_program *prog = c->prog;
  gs_status st;
  c->items = calloc((size_t)(g->n ? g->n : 1), sizeof *c->items);
  int n_inputs = 0;
  for (int k = 0; k < g->n; k++) n_inputs += g->nodes[k]->kind == GS_NODE_INPUT;
  prog->inputs = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *prog->inputs);
  if (!c->items || !prog->inputs) return gs_fail(GS_ERR_NOMEM, "compile: out of memory");
  for (int k = 0; k < g->n; k++) {
    const struct gs_node *n = g->nodes[k];
    cnode *cn = &c->cn[k];
    cn->root = k;
    cn->item = cn->input = -1;
    if (n->kind == GS_NODE_INPUT) {
      /* Every input is listed, so feeding one the program dropped is not an error. */
      prog_input *in = &prog->inputs[prog->n_inputs];
      if (!(in->name = strdup(n->name ? n->name : "")))
        return gs_fail(GS_ERR_NOMEM, "compile: out of memory");
      in->key.graph = g->serial;
      in->key.node = n->id;
      in->bytes = value_bytes(n);
      cn->input = prog->n_inputs++;
      continue;
    }
    if (!cn->needed) continue;
    switch (n->kind) {
    case GS_NODE_PARAM:
      if ((st = param_storage(c, n, &cn->pbuf)) != GS_OK) return st;
      break;
    case GS_NODE_ALIAS:
      if (n->n_in != 1) return gs_fail(GS_ERR_INVALID, "compile: alias node %d has no source", k);
      if (gs_shape_numel(&n->desc.shape) != gs_shape_numel(&n->in[0]->desc.shape))
        return gs_fail(GS_ERR_SHAPE, "compile: alias node %d changes the element count", k);
      cn->root = c->cn[n->in[0]->id].root;
      break;
    case GS_NODE_OP:
      if (n->is_sink) {
        if ((st = param_storage(c, n, &cn->pbuf)) != GS_OK) return st;
        break;
      }
      /* A computed value, like a concat's. */
      /* fall through */
    case GS_NODE_COLLECTIVE:
    case GS_NODE_CONCAT:
      c->n_coll += n->kind == GS_NODE_COLLECTIVE;
      cn->item = c->n_items;
      c->items[c->n_items].bytes = value_bytes(n);
      c->items[c->n_items].first = INT_MAX;
      c->items[c->n_items].last = -1;
      c->n_items++;
      break;
    default: return gs_fail(GS_ERR_INVALID, "compile: node %d has unknown kind %d", k, n->kind);
    }
  }
  return GS_OK;
}

static void touch(cctx *c, int node, int launch) {
  int item = c->cn[c->cn[node].root].item;
  if (item < 0) return;
  rt_plan_item *it = &c->items[item];
  if (launch < it->first) it->first = launch;
  if (launch > it->last) it->last = launch;
}

/* Lifetimes: from the first launch that writes a value to the last that reads it (through any
 * alias). Outputs span the whole program so nothing ever overwrites them. A collective takes a
 * position of its own, where it reads its inputs and from which its result is kept. Returns the
 * number of positions (launches plus collectives). */
static size_t liveness(cctx *c) {
  int L = 0;
  for (int o = 0; o < c->n_order; o++) {
    const struct gs_node *n = c->g->nodes[c->order[o]];
    if (n->kind == GS_NODE_OP) {
      for (int k = 0; k < n->n_in; k++) touch(c, n->in[k]->id, L);
      touch(c, n->id, L);
      L++;
    } else if (n->kind == GS_NODE_CONCAT) {
      for (int k = 0; k < n->n_in; k++, L++) {
        touch(c, n->in[k]->id, L);
        touch(c, n->id, L);
      }
    } else if (n->kind == GS_NODE_COLLECTIVE) {
      for (int k = 0; k < n->n_in; k++) touch(c, n->in[k]->id, L);
      touch(c, n->id, L);
      L++;
    }
  }
  for (int k = 0; k < c->g->n; k++) {
    if (!c->cn[k].output) continue;
    int item = c->cn[c->cn[k].root].item;
    if (item >= 0) {
      c->items[item].first = 0;
      c->items[item].last = L > 0 ? L - 1 : 0;
    }
  }
  for (int k = 0; k < c->n_items; k++)
    if (c->items[k].last < 0) c->items[k].first = c->items[k].last = 0;
  return (size_t)L;
}

static gs_bref ref_of(cctx *c, int node) {
  const cnode *r = &c->cn[c->cn[node].root];
  gs_bref b = {NULL, 0};
  if (r->item >= 0) {
    b.buf = c->prog->arenas ? c->prog->arenas[c->items[r->item].arena] : NULL;
    b.off = c->items[r->item].off / 4;
  } else if (r->input >= 0) {
    b.buf = c->prog->inputs[r->input].buf;
  } else {
    b.buf = r->pbuf;
  }
  return b;
}

/* The collective whose result node `node` reads (through aliases), or -1. */
static int coll_of(cctx *c, const int *coll_node, int n_coll, int node) {
  int root = c->cn[node].root;
  for (int k = 0; k < n_coll; k++)
    if (coll_node[k] == root) return k;
  return -1;
}

/* A reader at launch L of a collective's result: it must be written back before L. */
static void mark_read(cctx *c, const int *coll_node, int n_coll, int node, size_t L) {
  int k = coll_of(c, coll_node, n_coll, node);
  if (k >= 0 && c->prog->colls[k].wait_at == SIZE_MAX) c->prog->colls[k].wait_at = L;
}

static gs_status record_collective(cctx *c, int *coll_node, const struct gs_node *n, size_t L) {
  prog_coll *pc = &c->prog->colls[c->prog->n_colls];
  for (int k = 0; k < n->n_in; k++) mark_read(c, coll_node, c->prog->n_colls, n->in[k]->id, L);
  coll_node[c->prog->n_colls++] = n->id;
  pc->kind = n->i[0];
  pc->at = L;
  pc->wait_at = SIZE_MAX;
  pc->out = ref_of(c, n->id);
  pc->out_n = (size_t)gs_shape_numel(&n->desc.shape);
  if (!pc->in) {
    pc->in = calloc((size_t)n->n_in, sizeof *pc->in);
    pc->in_n = calloc((size_t)n->n_in, sizeof *pc->in_n);
    if (!pc->in || !pc->in_n) return gs_fail(GS_ERR_NOMEM, "compile: out of memory");
  }
  pc->n_in = n->n_in;
  pc->in_total = 0;
  for (int k = 0; k < n->n_in; k++) {
    pc->in[k] = ref_of(c, n->in[k]->id);
    pc->in_n[k] = (size_t)gs_shape_numel(&n->in[k]->desc.shape);
    pc->in_total += pc->in_n[k];
  }
  return GS_OK;
}

static gs_status build_launches(cctx *c, gs_launch *ls, size_t n_launch) {
  size_t L = 0;
  int *coll_node = c->n_coll ? malloc((size_t)c->n_coll * sizeof *coll_node) : NULL;
  if (c->n_coll && !coll_node) return gs_fail(GS_ERR_NOMEM, "compile: out of memory");
  c->prog->n_colls = 0;
  for (int o = 0; o < c->n_order; o++) {
    const struct gs_node *n = c->g->nodes[c->order[o]];
    if (n->kind == GS_NODE_COLLECTIVE) {
      gs_status st = record_collective(c, coll_node, n, L);
      if (st != GS_OK) {
        free(coll_node);
        return st;
      }
      continue;
    }
    for (int k = 0; k < n->n_in && (n->kind == GS_NODE_OP || n->kind == GS_NODE_CONCAT); k++)
      mark_read(c, coll_node, c->prog->n_colls, n->in[k]->id, L);
    if (n->kind == GS_NODE_OP) {
      if (n->op <= GS_OP_NOP || n->op >= GS_OP_COUNT)
        return gs_fail(GS_ERR_INVALID, "compile: node %d has opcode %d", n->id, (int)n->op);
      if (n->n_in > GS_LAUNCH_MAX_IN)
        return gs_fail(GS_ERR_INVALID, "compile: node %d (%s) has %d inputs", n->id,
                       gs_opcode_name(n->op), n->n_in);
      gs_launch *l = &ls[L++];
      memset(l, 0, sizeof *l);
      l->op = n->op;
      l->n_in = n->n_in;
      for (int k = 0; k < n->n_in; k++) {
        l->in[k] = ref_of(c, n->in[k]->id);
        l->in_desc[k] = n->in[k]->desc;
      }
      l->out = ref_of(c, n->id);
      l->out_desc = n->desc;
      memcpy(l->i, n->i, sizeof l->i);
      memcpy(l->f, n->f, sizeof l->f);
      if (c->node_end) c->node_end[L] = n->id;
    } else if (n->kind == GS_NODE_CONCAT) {
      int axis = n->i[0];
      if (axis < 0) axis += n->desc.shape.rank;
      if (axis < 0 || axis >= n->desc.shape.rank)
        return gs_fail(GS_ERR_INVALID, "compile: concat node %d has axis %d", n->id, n->i[0]);
      int64_t start = 0;
      for (int k = 0; k < n->n_in; k++) {
        gs_launch *l = &ls[L++];
        memset(l, 0, sizeof *l);
        l->op = GS_OP_INSERT;
        l->n_in = 1;
        l->in[0] = ref_of(c, n->in[k]->id);
        l->in_desc[0] = n->in[k]->desc;
        l->out = ref_of(c, n->id);
        l->out_desc = n->desc;
        l->i[axis] = (int32_t)start;
        start += n->in[k]->desc.shape.dim[axis];
      }
      if (c->node_end) c->node_end[L] = n->id;
    }
  }
  free(coll_node);
  for (int k = 0; k < c->prog->n_colls; k++)
    if (c->prog->colls[k].wait_at == SIZE_MAX) c->prog->colls[k].wait_at = L;
  if (L != n_launch) return gs_fail(GS_ERR_INVALID, "compile: launch count mismatch");
  return GS_OK;
}

/* Checked mode: what is read back after the segment that ends before launch `to` — the value of
 * the node whose launches end there (f32 values only), and the words that name it. */
static gs_status check_of(cctx *c, size_t to, prog_check *ck) {
  int id = c->node_end[to];
  if (id < 0) return GS_OK;
  const struct gs_node *n = c->g->nodes[id];
  if (n->desc.dtype != GS_F32) return GS_OK;
  ck->ref = ref_of(c, id);
  ck->n = (size_t)gs_shape_numel(&n->desc.shape);
  if (!(ck->label = rt_anomaly_label(c->g, n)))
    return gs_fail(GS_ERR_NOMEM, "compile: out of memory");
  return GS_OK;
}

/* Cuts the launches at every collective's start and wait and compiles each piece; the steps of a
 * run are then: at each cut, the waits due there, then the starts, then the next segment. A
 * program without collectives is one segment, as before. Staging buffers are allocated here,
 * once. */
static gs_status collective_plan(cctx *c, const gs_launch *ls, size_t n_launch) {
  gs_program *prog = c->prog;
  gs_device *dev = c->dev;
  /* Checked mode cuts after every node as well. */
  int n_cuts_max = 2 * prog->n_colls + 2 + (c->node_end ? (int)n_launch : 0);
  size_t *cuts = malloc((size_t)n_cuts_max * sizeof *cuts);
  prog->segs = calloc((size_t)n_cuts_max, sizeof *prog->segs);
  prog->steps = calloc((size_t)(3 * prog->n_colls + n_cuts_max), sizeof *prog->steps);
  if (c->node_end) {
    prog->checks = calloc((size_t)n_cuts_max, sizeof *prog->checks);
    size_t most = 1;
    for (size_t L = 1; L <= n_launch; L++)
      if (c->node_end[L] >= 0) {
        size_t n = (size_t)gs_shape_numel(&c->g->nodes[c->node_end[L]]->desc.shape);
        if (n > most) most = n;
      }
    prog->check_stage = malloc(most * sizeof *prog->check_stage);
  }
  if (!cuts || !prog->segs || !prog->steps ||
      (c->node_end && (!prog->checks || !prog->check_stage))) {
    free(cuts);
    return gs_fail(GS_ERR_NOMEM, "compile: out of memory");
  }
  int n_cuts = 0;
  cuts[n_cuts++] = 0;
  for (int k = 0; k < prog->n_colls; k++) {
    cuts[n_cuts++] = prog->colls[k].at;
    cuts[n_cuts++] = prog->colls[k].wait_at;
  }
  for (size_t L = 1; c->node_end && L < n_launch; L++)
    if (c->node_end[L] >= 0) cuts[n_cuts++] = L;
  /* Sorted, unique (few collectives, and node ends come in order: insertion sort). */
  for (int i = 1; i < n_cuts; i++)
    for (int j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
      size_t t = cuts[j];
      cuts[j] = cuts[j - 1];
      cuts[j - 1] = t;
    }
  int u = 0;
  for (int i = 0; i < n_cuts; i++)
    if (u == 0 || cuts[u - 1] != cuts[i]) cuts[u++] = cuts[i];
  n_cuts = u;
  gs_status st = GS_OK;
  for (int i = 0; i < n_cuts && st == GS_OK; i++) {
    size_t from = cuts[i], to = i + 1 < n_cuts ? cuts[i + 1] : n_launch;
    /* Waits due here first; a collective that starts here and is read here (by a launch, or by a
     * later collective starting here) is waited for before its reader. A gather completes at its
     * start. */
    for (int k = 0; k < prog->n_colls; k++)
      if (prog->colls[k].wait_at == from && prog->colls[k].at < from &&
          prog->colls[k].kind != GS_COLL_GATHER)
        prog->steps[prog->n_steps++] = (prog_step){STEP_WAIT, k};
    int pending = -1;
    for (int k = 0; k < prog->n_colls; k++) {
      if (prog->colls[k].at != from) continue;
      for (int j = pending + 1; j < k; j++)
        if (prog->colls[j].at == from && prog->colls[j].wait_at == from &&
            prog->colls[j].kind != GS_COLL_GATHER)
          prog->steps[prog->n_steps++] = (prog_step){STEP_WAIT, j};
      pending = k - 1;
      prog->steps[prog->n_steps++] = (prog_step){STEP_START, k};
    }
    for (int j = pending + 1; j < prog->n_colls; j++)
      if (prog->colls[j].at == from && prog->colls[j].wait_at == from &&
          prog->colls[j].kind != GS_COLL_GATHER)
        prog->steps[prog->n_steps++] = (prog_step){STEP_WAIT, j};
    if (to > from || prog->n_colls == 0) {
      st = dev->iface->prog_compile(dev->bdev, ls + from, to - from, &prog->segs[prog->n_segs]);
      if (st == GS_OK) {
        rt_count_compile(dev);
        prog->steps[prog->n_steps++] = (prog_step){STEP_SEG, prog->n_segs++};
        if (c->node_end) st = check_of(c, to, &prog->checks[prog->n_segs - 1]);
      }
    }
  }
  free(cuts);
  for (int k = 0; k < prog->n_colls && st == GS_OK; k++) {
    prog_coll *pc = &prog->colls[k];
    size_t n = pc->in_total + (pc->kind == GS_COLL_GATHER ? pc->out_n : 0);
    if (!(pc->stage = malloc((n ? n : 1) * sizeof *pc->stage)))
      st = gs_fail(GS_ERR_NOMEM, "compile: out of memory for %zu bytes of collective staging",
                   n * sizeof *pc->stage);
  }
  return st;
}

static gs_status alloc_buffers(cctx *c, const size_t *sizes, int n_arenas) {
  gs_device *dev = c->dev;
  gs_program *prog = c->prog;
  uint64_t cap = dev->info.max_alloc_bytes;
  prog->arenas = calloc((size_t)(n_arenas ? n_arenas : 1), sizeof *prog->arenas);
  if (!prog->arenas) return gs_fail(GS_ERR_NOMEM, "compile: out of memory");
  prog->n_arenas = n_arenas;
  for (int a = 0; a < n_arenas; a++) {
    if (rt_buf_alloc(dev, sizes[a], &prog->arenas[a]) != GS_OK) {
      char why[512];
      snprintf(why, sizeof why, "%s", gs_errmsg());
      return gs_fail(GS_ERR_NOMEM, "compile: cannot allocate %zu bytes of intermediates on %s: %s",
                     sizes[a], dev->info.name, why);
    }
    prog->peak_bytes += sizes[a];
  }
  for (int k = 0; k < prog->n_inputs; k++) {
    prog_input *in = &prog->inputs[k];
    if (!c->cn[in->key.node].needed) continue;
    if (cap && in->bytes > cap)
      return gs_fail(GS_ERR_NOMEM,
                     "compile: input '%s' of %zu bytes exceeds the largest single allocation of %s "
                     "(%llu bytes)",
                     in->name, in->bytes, dev->info.name, (unsigned long long)cap);
    void *zeros = calloc(1, in->bytes);
    if (!zeros) return gs_fail(GS_ERR_NOMEM, "compile: out of memory");
    gs_status st = rt_buf_alloc(dev, in->bytes, &in->buf);
    if (st == GS_OK) st = dev->iface->buf_write(dev->bdev, in->buf, 0, zeros, in->bytes);
    free(zeros);
    if (st != GS_OK) return st;
    prog->input_bytes += in->bytes;
  }
  return GS_OK;
}

gs_program *gs_compile(gs_device *dev, gs_graph *g, gs_tensor *const *outputs, int n_outputs) {
  if (!dev || !g || n_outputs < 0 || (n_outputs > 0 && !outputs)) {
    gs_fail(GS_ERR_INVALID, "compile: no device, graph or outputs");
    return NULL;
  }
  if (g->status != GS_OK) {
    gs_fail(g->status, "compile: the graph has an error: %s", g->err);
    return NULL;
  }
  for (int k = 0; k < n_outputs; k++)
    if (!outputs[k] || outputs[k]->graph != g) {
      gs_fail(GS_ERR_INVALID, "compile: output %d is %s", k,
              outputs[k] ? "a node of another graph" : "NULL");
      return NULL;
    }
  cctx c = {.dev = dev, .g = g};
  gs_launch *ls = NULL;
  size_t *sizes = NULL;
  int n_arenas = 0;
  gs_status st = GS_OK;
  c.cn = calloc((size_t)(g->n ? g->n : 1), sizeof *c.cn);
  c.order = malloc((size_t)(g->n ? g->n : 1) * sizeof *c.order);
  c.prog = calloc(1, sizeof *c.prog);
  if (c.prog) {
    for (int k = 0; k < g->n; k++) c.n_coll += g->nodes[k]->kind == GS_NODE_COLLECTIVE;
    c.prog->colls = calloc((size_t)(c.n_coll ? c.n_coll : 1), sizeof *c.prog->colls);
  }
  c.n_coll = 0; /* counted again over the needed nodes by assign_storage */
  if (!c.cn || !c.order || !c.prog || !c.prog->colls) {
    st = gs_fail(GS_ERR_NOMEM, "compile: out of memory");
    goto fail;
  }
  c.prog->dev = NULL; /* linked to the device only once complete */
  if ((st = mark_needed(&c, outputs, n_outputs)) != GS_OK) goto fail;
  make_order(&c);
  if ((st = assign_storage(&c)) != GS_OK) goto fail;
  size_t n_launch = liveness(&c) - (size_t)c.n_coll;
  char where[256];
  snprintf(where, sizeof where, "%s (%s)", dev->info.name, dev->iface->name);
  if ((st = rt_plan(c.items, c.n_items, (size_t)dev->info.max_alloc_bytes, ARENA_ALIGN, where,
                    &sizes, &n_arenas)) != GS_OK)
    goto fail;
  for (int k = 0; k < c.n_items; k++) c.prog->naive_bytes += c.items[k].bytes;
  ls = calloc(n_launch ? n_launch : 1, sizeof *ls);
  if (!ls) {
    st = gs_fail(GS_ERR_NOMEM, "compile: out of memory");
    goto fail;
  }
  /* Asked before any buffer exists, so an unsupported op costs no device memory; supports()
   * judges opcodes, dtypes, shapes and attributes, never the buffers. */
  if ((st = build_launches(&c, ls, n_launch)) != GS_OK) goto fail;
  if ((st = rt_launch_check(c.dev, ls, n_launch, "compile")) != GS_OK) goto fail;
  /* Buffers are freed through the device's interface, so the program needs it from here on. */
  c.prog->dev = dev;
  if ((st = alloc_buffers(&c, sizes, n_arenas)) != GS_OK) goto fail;
  if (dev->detect_anomaly) {
    if (!(c.node_end = malloc((n_launch + 1) * sizeof *c.node_end))) {
      st = gs_fail(GS_ERR_NOMEM, "compile: out of memory");
      goto fail;
    }
    for (size_t L = 0; L <= n_launch; L++) c.node_end[L] = -1;
  }
  if ((st = build_launches(&c, ls, n_launch)) != GS_OK) goto fail;
  c.prog->n_launches = n_launch;
  if ((st = collective_plan(&c, ls, n_launch)) != GS_OK) goto fail;
  c.prog->outputs = calloc((size_t)(n_outputs ? n_outputs : 1), sizeof *c.prog->outputs);
  if (!c.prog->outputs) {
    st = gs_fail(GS_ERR_NOMEM, "compile: out of memory");
    goto fail;
  }
  for (int k = 0; k < n_outputs; k++) {
    prog_output *o = &c.prog->outputs[c.prog->n_outputs++];
    o->key.graph = g->serial;
    o->key.node = outputs[k]->id;
    o->ref = ref_of(&c, outputs[k]->id);
    o->bytes = value_bytes(outputs[k]);
  }
  rt_program_link(dev, c.prog);
  goto done;
fail:
  if (c.prog) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", gs_errmsg());
    gs_program_free(c.prog);
    c.prog = NULL;
    gs_fail(st, "%s", msg);
  }
done:
  free(ls);
  free(sizes);
  free(c.items);
  free(c.order);
  free(c.cn);
  free(c.node_end);
  return c.prog;
}
