/* Running compiled programs: feeding inputs, queueing runs, fetching outputs. Nothing here
 * allocates or rebuilds: a run is one call into the backend. */
#include <stdlib.h>
#include <string.h>

#include "gessl/comm.h"
#include "graph/graph_impl.h"
#include "program_impl.h"

void rt_program_link(gs_device *dev, struct gs_program *prog) {
  prog->dev = dev;
  prog->prev = NULL;
  prog->next = dev->programs;
  if (dev->programs) dev->programs->prev = prog;
  dev->programs = prog;
  dev->program_bytes += prog->peak_bytes + prog->input_bytes;
}

void rt_program_unlink(struct gs_program *prog) {
  gs_device *dev = prog->dev;
  if (!dev) return;
  if (prog->prev)
    prog->prev->next = prog->next;
  else if (dev->programs == prog)
    dev->programs = prog->next;
  if (prog->next) prog->next->prev = prog->prev;
  dev->program_bytes -= prog->peak_bytes + prog->input_bytes;
  prog->prev = prog->next = NULL;
}

void gs_program_free(gs_program *prog) {
  if (!prog) return;
  gs_device *dev = prog->dev;
  rt_program_unlink(prog);
  if (dev) {
    /* The backend may still be running it; buffers must outlive the work. */
    if (prog->n_segs > 0) dev->iface->sync(dev->bdev);
    for (int k = 0; k < prog->n_segs; k++)
      if (prog->segs[k]) dev->iface->prog_free(dev->bdev, prog->segs[k]);
    for (int k = 0; k < prog->n_arenas; k++)
      if (prog->arenas[k]) dev->iface->buf_free(dev->bdev, prog->arenas[k]);
    for (int k = 0; k < prog->n_inputs; k++)
      if (prog->inputs[k].buf) dev->iface->buf_free(dev->bdev, prog->inputs[k].buf);
  }
  for (int k = 0; k < prog->n_inputs; k++) free(prog->inputs[k].name);
  for (int k = 0; k < prog->n_colls; k++) {
    if (prog->colls[k].req) gs_world_wait(prog->colls[k].req);
    free(prog->colls[k].in);
    free(prog->colls[k].in_n);
    free(prog->colls[k].stage);
  }
  free(prog->colls);
  for (int k = 0; prog->checks && k < prog->n_segs; k++) free(prog->checks[k].label);
  free(prog->checks);
  free(prog->check_stage);
  free(prog->segs);
  free(prog->steps);
  free(prog->arenas);
  free(prog->inputs);
  free(prog->outputs);
  free(prog);
}

static int same_node(prog_key key, const gs_tensor *t) {
  return t->serial == key.graph && t->id == key.node;
}

static gs_status feed_at(gs_program *prog, const prog_input *in, const void *data) {
  if (!data) return gs_fail(GS_ERR_INVALID, "feed '%s': no data", in->name);
  if (!in->buf) return GS_OK; /* dropped: nothing reads it */
  return prog->dev->iface->buf_write(prog->dev->bdev, in->buf, 0, data, in->bytes);
}

gs_status gs_program_feed(gs_program *prog, const gs_tensor *input, const void *data) {
  if (!prog || !input) return gs_fail(GS_ERR_INVALID, "gs_program_feed: no program or input");
  for (int k = 0; k < prog->n_inputs; k++)
    if (same_node(prog->inputs[k].key, input)) return feed_at(prog, &prog->inputs[k], data);
  return gs_fail(GS_ERR_INVALID, "gs_program_feed: the tensor is not an input of the graph this "
                                 "program was compiled from");
}

gs_status gs_program_feed_name(gs_program *prog, const char *name, const void *data) {
  if (!prog || !name) return gs_fail(GS_ERR_INVALID, "gs_program_feed_name: no program or name");
  for (int k = 0; k < prog->n_inputs; k++)
    if (strcmp(prog->inputs[k].name, name) == 0) return feed_at(prog, &prog->inputs[k], data);
  return gs_fail(GS_ERR_INVALID, "feed: the program has no input named '%s'", name);
}

int gs_program_has_input(const gs_program *prog, const char *name) {
  if (!prog || !name) return 0;
  for (int k = 0; k < prog->n_inputs; k++)
    if (prog->inputs[k].buf && strcmp(prog->inputs[k].name, name) == 0) return 1;
  return 0;
}

/* Device -> host: the inputs side by side in the staging buffer (buf_read waits for the segment
 * that computed them). Then the collective itself; an all-reduce is only started. */
static gs_status coll_start(gs_program *prog, prog_coll *pc) {
  gs_device *dev = prog->dev;
  size_t at = 0;
  for (int k = 0; k < pc->n_in; k++) {
    gs_status st = dev->iface->buf_read(dev->bdev, pc->in[k].buf, pc->in[k].off * 4, pc->stage + at,
                                        pc->in_n[k] * 4);
    if (st != GS_OK) return st;
    at += pc->in_n[k];
  }
  if (pc->kind == GS_COLL_GATHER) {
    float *recv = pc->stage + pc->in_total;
    gs_status st = gs_world_all_gather(pc->stage, pc->in_total, recv);
    if (st == GS_OK)
      st = dev->iface->buf_write(dev->bdev, pc->out.buf, pc->out.off * 4, recv, pc->out_n * 4);
    return st;
  }
  return gs_world_all_reduce_start(pc->stage, pc->in_total, &pc->req);
}

/* Host -> device: the reduced values, scaled for a mean. */
static gs_status coll_wait(gs_program *prog, prog_coll *pc) {
  gs_comm_req *req = pc->req;
  pc->req = NULL;
  gs_status st = gs_world_wait(req);
  if (st != GS_OK) return st;
  if (pc->kind == GS_COLL_MEAN && gs_world_size() > 1) {
    float s = 1.0f / (float)gs_world_size();
    for (size_t k = 0; k < pc->in_total; k++) pc->stage[k] *= s;
  }
  return prog->dev->iface->buf_write(prog->dev->bdev, pc->out.buf, pc->out.off * 4, pc->stage,
                                     pc->out_n * 4);
}

gs_status gs_program_run(gs_program *prog) {
  if (!prog) return gs_fail(GS_ERR_INVALID, "gs_program_run: no program");
  gs_device *dev = prog->dev;
  gs_status st = GS_OK;
  for (int s = 0; s < prog->n_steps && st == GS_OK; s++) {
    const prog_step *step = &prog->steps[s];
    if (step->kind == STEP_SEG) {
      st = dev->iface->prog_run(dev->bdev, prog->segs[step->index]);
      if (st == GS_OK && prog->checks) st = rt_anomaly_check(prog, step->index);
    } else if (step->kind == STEP_START)
      st = coll_start(prog, &prog->colls[step->index]);
    else
      st = coll_wait(prog, &prog->colls[step->index]);
  }
  return st;
}

gs_status gs_program_fetch(gs_program *prog, const gs_tensor *out, void *dst) {
  if (!prog || !out || !dst) return gs_fail(GS_ERR_INVALID, "gs_program_fetch: NULL argument");
  for (int k = 0; k < prog->n_outputs; k++) {
    const prog_output *o = &prog->outputs[k];
    if (same_node(o->key, out))
      return prog->dev->iface->buf_read(prog->dev->bdev, o->ref.buf, o->ref.off * 4, dst, o->bytes);
  }
  return gs_fail(GS_ERR_INVALID, "gs_program_fetch: the tensor is not an output of the program");
}

size_t gs_program_peak_bytes(const gs_program *prog) { return prog ? prog->peak_bytes : 0; }
size_t gs_program_naive_bytes(const gs_program *prog) { return prog ? prog->naive_bytes : 0; }
size_t gs_program_launch_count(const gs_program *prog) { return prog ? prog->n_launches : 0; }
