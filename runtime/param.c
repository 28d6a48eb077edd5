/* Persistent tensors: device buffers that outlive programs, owned by their device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_impl.h"
#include "rt_impl.h"

struct gs_bbuf *gs_param_bbuf(const gs_param *p) {
  return p ? p->buf : NULL;
}

static gs_status fill(gs_param *p, float value, int cached);

gs_param *gs_param_new(gs_device *dev, const char *name, gs_shape shape, int trainable) {
  char sb[96];
  if (!dev || !name) {
    gs_fail(GS_ERR_INVALID, "gs_param_new: no device or name");
    return NULL;
  }
  if (shape.rank < 0 || shape.rank > GS_MAX_RANK) {
    gs_fail(GS_ERR_SHAPE, "param '%s': rank %d outside 0..%d", name, shape.rank, GS_MAX_RANK);
    return NULL;
  }
  for (int k = 0; k < shape.rank; k++)
    if (shape.dim[k] < 1) {
      gs_fail(GS_ERR_SHAPE, "param '%s': shape %s has a dim below 1", name,
              gs_shape_str(&shape, sb, sizeof sb));
      return NULL;
    }
  gs_param *p = calloc(1, sizeof *p);
  if (!p || !(p->name = strdup(name))) {
    free(p);
    gs_fail(GS_ERR_NOMEM, "param '%s': out of memory", name);
    return NULL;
  }
  p->dev = dev;
  p->shape = shape;
  p->trainable = trainable;
  p->bytes = (size_t)gs_shape_numel(&shape) * 4;
  if (rt_buf_alloc(dev, p->bytes, &p->buf) != GS_OK || !p->buf) {
    char why[512];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    free(p->name);
    free(p);
    gs_fail(GS_ERR_NOMEM, "param '%s' %s: cannot allocate %zu bytes on %s: %s", name,
            gs_shape_str(&shape, sb, sizeof sb), (size_t)gs_shape_numel(&shape) * 4, dev->info.name,
            why);
    return NULL;
  }
  p->next = dev->params;
  if (dev->params) dev->params->prev = p;
  dev->params = p;
  dev->param_bytes += p->bytes;
  if (fill(p, 0.0f, 0) != GS_OK) {
    gs_param_free(p);
    return NULL;
  }
  return p;
}

void gs_param_free(gs_param *p) {
  if (!p) return;
  gs_device *dev = p->dev;
  if (p->prev)
    p->prev->next = p->next;
  else
    dev->params = p->next;
  if (p->next) p->next->prev = p->prev;
  dev->param_bytes -= p->bytes;
  rt_pset_forget(dev, p);
  dev->iface->buf_free(dev->bdev, p->buf);
  free(p->name);
  free(p);
}

const char *gs_param_name(const gs_param *p) { return p ? p->name : ""; }

gs_shape gs_param_shape(const gs_param *p) {
  gs_shape s = {0, {0}};
  return p ? p->shape : s;
}

int gs_param_trainable(const gs_param *p) { return p ? p->trainable : 0; }

gs_device *gs_param_device(const gs_param *p) { return p ? p->dev : NULL; }

gs_status gs_param_write(gs_param *p, const float *src) {
  if (!p || !src) return gs_fail(GS_ERR_INVALID, "gs_param_write: no param or data");
  return p->dev->iface->buf_write(p->dev->bdev, p->buf, 0, src, p->bytes);
}

gs_status gs_param_read(gs_param *p, float *dst) {
  if (!p || !dst) return gs_fail(GS_ERR_INVALID, "gs_param_read: no param or destination");
  return p->dev->iface->buf_read(p->dev->bdev, p->buf, 0, dst, p->bytes);
}

/* A new param's zero fill runs once, through a throw-away program; later fills are cached. */
static gs_status fill(gs_param *p, float value, int cached) {
  gs_launch l;
  memset(&l, 0, sizeof l);
  l.op = GS_OP_FILL;
  l.out.buf = p->buf;
  l.out_desc.dtype = GS_F32;
  l.out_desc.shape = p->shape;
  l.f[0] = value;
  if (p->dev->iface->supports(p->dev->bdev, &l))
    return cached ? rt_pset_run(p->dev, RT_PS_FILL, &p, 1, value, 0.0f, NULL, "gs_param_fill")
                  : rt_run_launches(p->dev, &l, 1);
  /* A backend without FILL still gets its params initialised, through the host. */
  size_t n = p->bytes / 4;
  float *tmp = malloc(p->bytes);
  if (!tmp) return gs_fail(GS_ERR_NOMEM, "param '%s': out of memory filling", p->name);
  for (size_t k = 0; k < n; k++) tmp[k] = value;
  gs_status st = gs_param_write(p, tmp);
  free(tmp);
  return st;
}

gs_status gs_param_fill(gs_param *p, float value) {
  if (!p) return gs_fail(GS_ERR_INVALID, "gs_param_fill: no param");
  return fill(p, value, 1);
}
