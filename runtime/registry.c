/* Queries over the loaded plugins: backends and their (cached) devices, methods, meta-optimizers.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_impl.h"

int gs_runtime_plugin_count(const gs_runtime *rt) { return rt ? rt->n_plugins : 0; }

gs_plugin_info gs_runtime_plugin(const gs_runtime *rt, int i) {
  gs_plugin_info info = {"", "", GS_PLUGIN_REFUSED, "no such plugin"};
  if (!rt || i < 0 || i >= rt->n_plugins) return info;
  const rt_plugin *p = &rt->plugins[i];
  info.path = p->path;
  info.name = p->name;
  info.kind = p->kind;
  info.why = p->why;
  return info;
}

int gs_runtime_backend_count(const gs_runtime *rt) { return rt ? rt->n_backends : 0; }

const gs_backend_iface *gs_runtime_backend(const gs_runtime *rt, int i) {
  if (!rt || i < 0 || i >= rt->n_backends) return NULL;
  return rt->backends[i]->iface;
}

gs_backend *gs_runtime_backend_context(const gs_runtime *rt, int i) {
  if (!rt || i < 0 || i >= rt->n_backends) return NULL;
  return rt->backends[i]->ctx;
}

int gs_runtime_backend_from(const gs_runtime *rt, const char *path) {
  /* The loader keeps each plugin's resolved path, so a relative or linked name must be resolved
   * the same way before it can match. */
  char real[PATH_MAX];
  const char *key = path && realpath(path, real) ? real : path;
  for (int k = 0; rt && key && k < rt->n_plugins; k++) {
    const rt_plugin *p = &rt->plugins[k];
    if (strcmp(p->path, key) != 0) continue;
    if (p->kind == GS_PLUGIN_REFUSED) return gs_fail(GS_ERR_PLUGIN, "%s", p->why), -1;
    for (int i = 0; i < rt->n_backends; i++)
      if (rt->backends[i]->path == p->path) return i;
    return gs_fail(GS_ERR_PLUGIN, "%s: not a backend plugin", path), -1;
  }
  return gs_fail(GS_ERR_PLUGIN, "%s: no plugin loaded from this file", path ? path : "(null)"), -1;
}

gs_status rt_backend_probe(rt_backend *be) {
  if (be->probed) {
    if (be->probe_status != GS_OK) gs_fail(be->probe_status, "%s", be->probe_why);
    return be->probe_status;
  }
  be->probed = 1;
  int n = 0;
  char why[256] = "";
  gs_fail(GS_OK, "%s", "");
  gs_status st = be->iface->probe(be->ctx, &n, why, sizeof why);
  why[sizeof why - 1] = 0;
  if (st != GS_OK) {
    const char *msg = *why ? why : gs_errmsg();
    snprintf(be->probe_why, sizeof be->probe_why, "%s", *msg ? msg : "probe failed");
    be->probe_status = st == GS_ERR_UNAVAILABLE ? st : GS_ERR_UNAVAILABLE;
    return gs_fail(be->probe_status, "%s", be->probe_why);
  }
  if (n < 0) n = 0;
  if (n == 0) {
    snprintf(be->probe_why, sizeof be->probe_why, "%s", *why ? why : "no device found");
    be->probe_status = GS_ERR_UNAVAILABLE;
    return gs_fail(be->probe_status, "%s", be->probe_why);
  }
  be->infos = calloc((size_t)n, sizeof *be->infos);
  if (!be->infos) {
    be->probed = 0;
    return gs_fail(GS_ERR_NOMEM, "%s: out of memory listing devices", be->iface->name);
  }
  for (int k = 0; k < n; k++) {
    gs_device_info *d = &be->infos[k];
    if (be->iface->device_info(be->ctx, k, d) != GS_OK) {
      memset(d, 0, sizeof *d);
      snprintf(d->name, sizeof d->name, "device %d", k);
      snprintf(d->why, sizeof d->why, "%s", *gs_errmsg() ? gs_errmsg() : "device_info failed");
      d->available = 0;
    }
    /* Plugins fill fixed-size fields; make sure every one is terminated. */
    d->name[sizeof d->name - 1] = d->vendor[sizeof d->vendor - 1] = 0;
    d->driver[sizeof d->driver - 1] = d->extra[sizeof d->extra - 1] = 0;
    d->why[sizeof d->why - 1] = 0;
  }
  be->n_dev = n;
  be->probe_status = GS_OK;
  return GS_OK;
}

gs_status gs_runtime_devices(gs_runtime *rt, int i, int *n) {
  if (n) *n = 0;
  if (!rt || i < 0 || i >= rt->n_backends)
    return gs_fail(GS_ERR_INVALID, "gs_runtime_devices: no backend %d", i);
  rt_backend *be = rt->backends[i];
  gs_status st = rt_backend_probe(be);
  if (st == GS_OK && n) *n = be->n_dev;
  return st;
}

gs_status gs_runtime_device_info(gs_runtime *rt, int i, int dev, gs_device_info *info) {
  int n = 0;
  gs_status st = gs_runtime_devices(rt, i, &n);
  if (st != GS_OK) return st;
  if (dev < 0 || dev >= n)
    return gs_fail(GS_ERR_INVALID, "%s: no device %d (it has %d)", rt->backends[i]->iface->name,
                   dev, n);
  if (info) *info = rt->backends[i]->infos[dev];
  return GS_OK;
}

static void list_names(char *buf, size_t len, const char *const *names, int n) {
  size_t at = 0;
  buf[0] = 0;
  for (int k = 0; k < n && at < len; k++) {
    int w = snprintf(buf + at, len - at, "%s%s", k ? ", " : "", names[k]);
    if (w < 0) break;
    at += (size_t)w;
  }
  if (n == 0) snprintf(buf, len, "none");
}

gs_status gs_method_views(const gs_method_iface *m, const double *hp, int size,
                          gs_aug_recipe *out) {
  if (!m || !out) return gs_fail(GS_ERR_INVALID, "gs_method_views: no method or output");
  memset(out, 0, sizeof *out);
  gs_status st = GS_OK;
  double *dflt = NULL; /* no values given: the declared defaults */
  if (!hp && m->n_hparams > 0) {
    if (!(dflt = malloc((size_t)m->n_hparams * sizeof *dflt)))
      return gs_fail(GS_ERR_NOMEM, "method %s: out of memory", m->name);
    for (int k = 0; k < m->n_hparams; k++) dflt[k] = m->hparams[k].def;
    hp = dflt;
  }
  if (GS_HAS(m, views)) {
    st = m->views(hp, size, out);
  } else {
    int n = m->n_views < 1 ? 2 : m->n_views;
    if (hp && GS_HAS(m, views_for)) n = m->views_for(hp);
    if (n >= 1 && n <= GS_MAX_VIEWS)
      *out = gs_aug_recipe_make(NULL, size, n);
    else
      out->n_views = n;
  }
  if (st == GS_OK && (out->n_views < 1 || out->n_views > GS_MAX_VIEWS))
    st = gs_fail(GS_ERR_INVALID, "method %s: %d views, must be 1..%d", m->name, out->n_views,
                 GS_MAX_VIEWS);
  free(dflt);
  return st;
}

gs_status gs_method_create(const gs_method_iface *m, const gs_method_ctx *ctx, void **self) {
  if (!m || !ctx || !self) return gs_fail(GS_ERR_INVALID, "gs_method_create: no method or ctx");
  /* A plugin built before version 4 reads a table without the head. */
  const void *t = m->abi_version >= 4 ? (const void *)ctx : (const void *)&ctx->dev;
  return m->create(t, self);
}

const struct gs_method_iface *gs_runtime_method(const gs_runtime *rt, const char *name) {
  if (!rt || !name) {
    gs_fail(GS_ERR_INVALID, "gs_runtime_method: no runtime or name");
    return NULL;
  }
  const char *names[64];
  int n = 0;
  for (int k = 0; k < rt->n_methods; k++) {
    if (strcmp(rt->methods[k]->name, name) == 0) return rt->methods[k];
    if (n < 64) names[n++] = rt->methods[k]->name;
  }
  char list[1024];
  list_names(list, sizeof list, names, n);
  gs_fail(GS_ERR_INVALID, "unknown method '%s' (available: %s)", name, list);
  return NULL;
}

const struct gs_meta_iface *gs_runtime_meta(const gs_runtime *rt, const char *name) {
  if (!rt || !name) {
    gs_fail(GS_ERR_INVALID, "gs_runtime_meta: no runtime or name");
    return NULL;
  }
  const char *names[64];
  int n = 0;
  for (int k = 0; k < rt->n_metas; k++) {
    if (strcmp(rt->metas[k]->name, name) == 0) return rt->metas[k];
    if (n < 64) names[n++] = rt->metas[k]->name;
  }
  char list[1024];
  list_names(list, sizeof list, names, n);
  gs_fail(GS_ERR_INVALID, "unknown meta-optimizer '%s' (available: %s)", name, list);
  return NULL;
}

int gs_runtime_method_count(const gs_runtime *rt) { return rt ? rt->n_methods : 0; }

const struct gs_method_iface *gs_runtime_method_at(const gs_runtime *rt, int i) {
  return rt && i >= 0 && i < rt->n_methods ? rt->methods[i] : NULL;
}

int gs_runtime_meta_count(const gs_runtime *rt) { return rt ? rt->n_metas : 0; }

const struct gs_meta_iface *gs_runtime_meta_at(const gs_runtime *rt, int i) {
  return rt && i >= 0 && i < rt->n_metas ? rt->metas[i] : NULL;
}
