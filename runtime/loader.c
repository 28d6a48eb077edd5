/* The plugin loader: finds libgessl-*.so files on the search path, dlopens each, checks its entry
 * symbol and table, and files it as a backend, a method or a meta-optimizer — or as refused, with
 * the reason, so `gessl devices` can say why something is missing. A bad plugin never stops the
 * others from loading. */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_impl.h"

#ifndef GESSL_PLUGIN_INSTALL_DIR
#define GESSL_PLUGIN_INSTALL_DIR "/usr/local/lib/gessl"
#endif

/* The smallest table each plugin must provide: every member up to the last one of the oldest
 * version loaded. Later members are optional, so an old plugin's smaller struct still loads. */
#define BACKEND_MIN_SIZE (offsetof(gs_backend_iface, sync) + sizeof(void *))
#define METHOD_MIN_SIZE (offsetof(gs_method_iface, after_step) + sizeof(void *))
#define META_MIN_SIZE (offsetof(gs_meta_iface, extra_bytes) + sizeof(void *))

typedef struct strlist {
  char **v;
  int n, cap;
} strlist;

static int strlist_push(strlist *l, const char *s) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char **v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n] = strdup(s))) return -1;
  l->n++;
  return 0;
}

static int strlist_has(const strlist *l, const char *s) {
  for (int k = 0; k < l->n; k++)
    if (strcmp(l->v[k], s) == 0) return 1;
  return 0;
}

static void strlist_free(strlist *l) {
  for (int k = 0; k < l->n; k++) free(l->v[k]);
  free(l->v);
}

static int add_plugin(gs_runtime *rt, const char *path, const char *name, gs_plugin_kind kind,
                      const char *why, void *handle) {
  if (rt->n_plugins == rt->cap_plugins) {
    int cap = rt->cap_plugins ? 2 * rt->cap_plugins : 16;
    rt_plugin *v = realloc(rt->plugins, (size_t)cap * sizeof *v);
    if (!v) return -1;
    rt->plugins = v;
    rt->cap_plugins = cap;
  }
  rt_plugin *p = &rt->plugins[rt->n_plugins];
  p->path = strdup(path);
  p->name = strdup(name ? name : "");
  p->why = strdup(why ? why : "");
  p->kind = kind;
  p->handle = handle;
  if (!p->path || !p->name || !p->why) {
    free(p->path);
    free(p->name);
    free(p->why);
    return -1;
  }
  rt->n_plugins++;
  return 0;
}

static int refuse(gs_runtime *rt, const char *path, void *handle, const char *fmt, ...)
    GS_PRINTF(4, 5);
static int refuse(gs_runtime *rt, const char *path, void *handle, const char *fmt, ...) {
  char reason[768], why[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  snprintf(why, sizeof why, "%s: %s", path, reason);
  if (handle) dlclose(handle);
  return add_plugin(rt, path, "", GS_PLUGIN_REFUSED, why, NULL);
}

/* The loaded plugin of that name (any kind), or NULL. */
static const rt_plugin *find_loaded(const gs_runtime *rt, const char *name) {
  for (int k = 0; k < rt->n_plugins; k++)
    if (rt->plugins[k].kind != GS_PLUGIN_REFUSED && strcmp(rt->plugins[k].name, name) == 0)
      return &rt->plugins[k];
  return NULL;
}

/* The version rule every plugin kind shares: abi_version within [min, max] (members are only
 * appended, so each older version is understood, and callers test GS_HAS before using a newer
 * member; a newer plugin may rely on host services this runtime lacks), and a table at least as
 * large as the oldest version's. Refuses (returning refuse's result) or returns 1 to go on. */
static int check_version(gs_runtime *rt, const char *path, void *h, const char *kind, uint32_t abi,
                         uint32_t size, unsigned min, unsigned max, size_t min_size) {
  if (abi < min || abi > max)
    return refuse(rt, path, h, "%s ABI version %u, this runtime understands %u to %u", kind,
                  (unsigned)abi, min, max);
  if (size < min_size)
    return refuse(rt, path, h, "%s table of %u bytes is smaller than the %zu of ABI version %u",
                  kind, (unsigned)size, min_size, min);
  return 1;
}

static const char *backend_missing_fn(const gs_backend_iface *b) {
#define NEED(f)                                                                                    \
  if (!b->f) return #f
  NEED(create);
  NEED(destroy);
  NEED(probe);
  NEED(device_info);
  NEED(open);
  NEED(close);
  NEED(supports);
  NEED(buf_alloc);
  NEED(buf_free);
  NEED(buf_write);
  NEED(buf_read);
  NEED(prog_compile);
  NEED(prog_run);
  NEED(prog_free);
  NEED(sync);
#undef NEED
  return NULL;
}

static int load_backend(gs_runtime *rt, const char *path, void *h, gs_backend_entry_fn entry) {
  const gs_backend_iface *b = entry();
  const char *missing;
  if (!b) return refuse(rt, path, h, "backend entry returned NULL");
  int go = check_version(rt, path, h, "backend", b->abi_version, b->struct_size, GS_BACKEND_ABI_MIN,
                         GS_BACKEND_ABI_VERSION, BACKEND_MIN_SIZE);
  if (go != 1) return go;
  if (!b->name || !*b->name) return refuse(rt, path, h, "backend has no name");
  if ((missing = backend_missing_fn(b)))
    return refuse(rt, path, h, "backend '%s' lacks the required function %s", b->name, missing);
  if (find_loaded(rt, b->name))
    return refuse(rt, path, h, "backend '%s' is shadowed by %s", b->name,
                  find_loaded(rt, b->name)->path);
  rt_backend *be = calloc(1, sizeof *be);
  rt_backend **v = be ? realloc(rt->backends, (size_t)(rt->n_backends + 1) * sizeof *v) : NULL;
  if (!v) return free(be), dlclose(h), -1;
  rt->backends = v;
  be->iface = b;
  rt_host_init(be, rt);
  gs_fail(GS_OK, "%s", ""); /* so a failure's reason is the plugin's own message, if any */
  if (b->create(&be->host, &be->ctx) != GS_OK || !be->ctx) {
    const char *msg = gs_errmsg();
    free(be);
    return refuse(rt, path, h, "backend '%s' failed to start%s%s", b->name, *msg ? ": " : "", msg);
  }
  if (add_plugin(rt, path, b->name, GS_PLUGIN_BACKEND, "", h) != 0) {
    b->destroy(be->ctx);
    free(be);
    dlclose(h);
    return -1;
  }
  be->path = rt->plugins[rt->n_plugins - 1].path;
  rt->backends[rt->n_backends++] = be;
  return 0;
}

static int load_method(gs_runtime *rt, const char *path, void *h, gs_method_entry_fn entry) {
  const gs_method_iface *m = entry();
  if (!m) return refuse(rt, path, h, "method entry returned NULL (init failed)");
  int go = check_version(rt, path, h, "method", m->abi_version, m->struct_size, 1,
                         GS_METHOD_ABI_VERSION, METHOD_MIN_SIZE);
  if (go != 1) return go;
  if (!m->name || !*m->name) return refuse(rt, path, h, "method has no name");
  if (!m->create || !m->destroy || !m->build_loss || !m->params)
    return refuse(rt, path, h, "method '%s' lacks create, destroy, params or build_loss", m->name);
  if (find_loaded(rt, m->name))
    return refuse(rt, path, h, "method '%s' is shadowed by %s", m->name,
                  find_loaded(rt, m->name)->path);
  const gs_method_iface **v = realloc(rt->methods, (size_t)(rt->n_methods + 1) * sizeof *v);
  if (!v) return dlclose(h), -1;
  rt->methods = v;
  if (add_plugin(rt, path, m->name, GS_PLUGIN_METHOD, "", h) != 0) return dlclose(h), -1;
  rt->methods[rt->n_methods++] = m;
  return 0;
}

static int load_meta(gs_runtime *rt, const char *path, void *h, gs_meta_entry_fn entry) {
  const gs_meta_iface *m = entry();
  if (!m) return refuse(rt, path, h, "meta-optimizer entry returned NULL (init failed)");
  int go = check_version(rt, path, h, "meta-optimizer", m->abi_version, m->struct_size, 1,
                         GS_META_ABI_VERSION, META_MIN_SIZE);
  if (go != 1) return go;
  if (!m->name || !*m->name) return refuse(rt, path, h, "meta-optimizer has no name");
  if (!m->create || !m->destroy || !m->step || !m->batches_per_step)
    return refuse(rt, path, h,
                  "meta-optimizer '%s' lacks create, destroy, step or batches_per_step", m->name);
  if (find_loaded(rt, m->name))
    return refuse(rt, path, h, "meta-optimizer '%s' is shadowed by %s", m->name,
                  find_loaded(rt, m->name)->path);
  const gs_meta_iface **v = realloc(rt->metas, (size_t)(rt->n_metas + 1) * sizeof *v);
  if (!v) return dlclose(h), -1;
  rt->metas = v;
  if (add_plugin(rt, path, m->name, GS_PLUGIN_META, "", h) != 0) return dlclose(h), -1;
  rt->metas[rt->n_metas++] = m;
  return 0;
}

/* The link map of the object that defines addr (NULL when none). */
static const void *object_of(const void *addr) {
  Dl_info info;
  void *map = NULL;
  if (!addr || !dladdr1(addr, &info, &map, RTLD_DL_LINKMAP)) return NULL;
  return map;
}

static int load_file(gs_runtime *rt, const char *given) {
  char path[PATH_MAX], why[PATH_MAX + 128];
  void *h = rt_dlopen_plugin(given, RTLD_LOCAL, path, why, sizeof why);
  if (!h) return refuse(rt, given, NULL, "%s", why);
  /* dlsym on a handle also searches its dependencies (libgessl itself, other plugins' deps), so
   * only symbols defined by this very file count as its entry. */
  void *sym[3] = {dlsym(h, GS_BACKEND_ENTRY_SYMBOL), dlsym(h, GS_METHOD_ENTRY_SYMBOL),
                  dlsym(h, GS_META_ENTRY_SYMBOL)};
  void *self = NULL;
  dlinfo(h, RTLD_DI_LINKMAP, &self);
  int found = 0, which = -1;
  for (int k = 0; k < 3; k++) {
    if (sym[k] && object_of(sym[k]) != self) sym[k] = NULL;
    if (sym[k]) found++, which = k;
  }
  if (found == 0)
    return refuse(rt, path, h, "no entry symbol (%s, %s or %s)", GS_BACKEND_ENTRY_SYMBOL,
                  GS_METHOD_ENTRY_SYMBOL, GS_META_ENTRY_SYMBOL);
  if (found > 1) return refuse(rt, path, h, "exports more than one entry symbol");
  /* Converting a data pointer to a function pointer is what dlsym's contract requires (POSIX). */
  switch (which) {
  case 0: {
    gs_backend_entry_fn fn;
    memcpy(&fn, &sym[0], sizeof fn);
    return load_backend(rt, path, h, fn);
  }
  case 1: {
    gs_method_entry_fn fn;
    memcpy(&fn, &sym[1], sizeof fn);
    return load_method(rt, path, h, fn);
  }
  default: {
    gs_meta_entry_fn fn;
    memcpy(&fn, &sym[2], sizeof fn);
    return load_meta(rt, path, h, fn);
  }
  }
}

static int is_plugin_name(const char *f) {
  size_t n = strlen(f);
  return strncmp(f, "libgessl-", 9) == 0 && n > 12 && strcmp(f + n - 3, ".so") == 0;
}

static int is_so_file(const char *p) {
  size_t n = strlen(p);
  struct stat st;
  if (stat(p, &st) == 0) return S_ISREG(st.st_mode);
  return n > 3 && strcmp(p + n - 3, ".so") == 0;
}

/* Path of a plugin already loaded from a file with this base name, or NULL. */
static const char *loaded_from_file_named(const gs_runtime *rt, const char *base) {
  for (int k = 0; k < rt->n_plugins; k++) {
    if (rt->plugins[k].kind == GS_PLUGIN_REFUSED) continue;
    const char *p = rt->plugins[k].path, *slash = strrchr(p, '/');
    if (strcmp(slash ? slash + 1 : p, base) == 0) return p;
  }
  return NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every plugin file of `dir` in name order (so the result does not depend on readdir).
 * Directories and files seen before (same real path) are skipped. */
static int scan_dir(gs_runtime *rt, const char *dir, strlist *seen_dirs, strlist *seen_files) {
  char real[PATH_MAX];
  if (!*dir || !realpath(dir, real)) return 0;
  if (strlist_has(seen_dirs, real)) return 0;
  if (strlist_push(seen_dirs, real) != 0) return -1;
  DIR *d = opendir(real);
  if (!d) return 0;
  strlist names = {0};
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)))
    if (is_plugin_name(e->d_name) && strlist_push(&names, e->d_name) != 0) rc = -1;
  closedir(d);
  if (names.n) qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);
  for (int k = 0; rc == 0 && k < names.n; k++) {
    char path[PATH_MAX + 256], freal[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", real, names.v[k]);
    if (realpath(path, freal) && strlist_has(seen_files, freal)) continue;
    if (strlist_push(seen_files, realpath(path, freal) ? freal : path) != 0) rc = -1;
    /* A file of the same name in an earlier directory wins without this one being opened: a
     * stale or foreign-built install (another sanitizer runtime, an old ABI) must not get to
     * run its constructors in a process that already has the plugin. */
    const char *first = rc == 0 ? loaded_from_file_named(rt, names.v[k]) : NULL;
    if (first)
      rc = refuse(rt, path, NULL, "shadowed by %s", first);
    else if (rc == 0)
      rc = load_file(rt, path);
  }
  strlist_free(&names);
  return rc;
}

/* An entry of a path list that names a file (".so") rather than a directory is loaded as it
 * is, whatever its name, and refused with the reason when it is missing or broken. */
static int load_listed_file(gs_runtime *rt, const char *path, strlist *seen_files) {
  char real[PATH_MAX];
  const char *key = realpath(path, real) ? real : path;
  if (strlist_has(seen_files, key)) return 0;
  if (strlist_push(seen_files, key) != 0) return -1;
  return load_file(rt, path);
}

static int scan_list(gs_runtime *rt, const char *list, strlist *sd, strlist *sf) {
  if (!list) return 0;
  char *copy = strdup(list);
  if (!copy) return -1;
  int rc = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ":", &save); tok && rc == 0; tok = strtok_r(NULL, ":", &save))
    rc = is_so_file(tok) ? load_listed_file(rt, tok, sf) : scan_dir(rt, tok, sd, sf);
  free(copy);
  return rc;
}

static int scan_all(gs_runtime *rt, const gs_runtime_options *opt) {
  strlist sd = {0}, sf = {0};
  int rc = scan_list(rt, opt ? opt->plugin_path : NULL, &sd, &sf);
  if (rc == 0) rc = scan_list(rt, getenv("GESSL_PLUGIN_PATH"), &sd, &sf);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (rc == 0 && n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      char dir[PATH_MAX + 16];
      snprintf(dir, sizeof dir, "%s/../lib/gessl", exe);
      rc = scan_dir(rt, dir, &sd, &sf);
      if (rc == 0) rc = scan_dir(rt, exe, &sd, &sf);
    }
  }
  if (rc == 0) rc = scan_dir(rt, GESSL_PLUGIN_INSTALL_DIR, &sd, &sf);
  strlist_free(&sd);
  strlist_free(&sf);
  return rc;
}

gs_runtime *gs_runtime_open(const gs_runtime_options *opt) {
  gs_runtime *rt = calloc(1, sizeof *rt);
  if (!rt) {
    gs_fail(GS_ERR_NOMEM, "gs_runtime_open: out of memory");
    return NULL;
  }
  rt->threads = opt ? opt->threads : 0;
  rt->cache_dir = rt_cache_dir(opt ? opt->cache_dir : NULL);
  if (scan_all(rt, opt) != 0) {
    gs_runtime_close(rt);
    gs_fail(GS_ERR_NOMEM, "gs_runtime_open: out of memory while loading plugins");
    return NULL;
  }
  return rt;
}

void gs_runtime_close(gs_runtime *rt) {
  if (!rt) return;
  for (int k = 0; k < rt->n_backends; k++) {
    rt->backends[k]->iface->destroy(rt->backends[k]->ctx);
    rt_host_fini(rt->backends[k]);
    free(rt->backends[k]->infos);
    free(rt->backends[k]);
  }
  /* Unload in reverse order of loading, after every table pointer is dropped. */
  for (int k = rt->n_plugins - 1; k >= 0; k--) {
    if (rt->plugins[k].handle) dlclose(rt->plugins[k].handle);
    free(rt->plugins[k].path);
    free(rt->plugins[k].name);
    free(rt->plugins[k].why);
  }
  free(rt->plugins);
  free(rt->backends);
  free(rt->methods);
  free(rt->metas);
  free(rt->cache_dir);
  free(rt);
}
