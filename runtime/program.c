/* Running compiled programs: feeding inputs, queueing runs, fetching outputs. Nothing here
 * allocates or rebuilds: a run is one call into the backend. */
#include <stdlib.h>
#include <string.h>

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
    if (prog->bprog) {
      dev->iface->sync(dev->bdev);
      dev->iface->prog_free(dev->bdev, prog->bprog);
    }
    for (int k = 0; k < prog->n_arenas; k++)
      if (prog->arenas[k]) dev->iface->buf_free(dev->bdev, prog->arenas[k]);
    for (int k = 0; k < prog->n_inputs; k++)
      if (prog->inputs[k].buf) dev->iface->buf_free(dev->bdev, prog->inputs[k].buf);
  }
  for (int k = 0; k < prog->n_inputs; k++) free(prog->inputs[k].name);
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

gs_status gs_program_run(gs_program *prog) {
  if (!prog) return gs_fail(GS_ERR_INVALID, "gs_program_run: no program");
  return prog->dev->iface->prog_run(prog->dev->bdev, prog->bprog);
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
