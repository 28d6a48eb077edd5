/* Image folders: root/<class>/NAME.png|jpg (classes are the sorted sub-folder names) or a flat
 * folder of images (unlabelled). Opening indexes the folder: paths, labels, and each image's size
 * and colour from its header, read by several threads. Nothing is decoded here: the loader's
 * workers decode images when a batch needs them. A file that is not a PNG or JPEG (or whose header
 * is bad), an empty folder or an unreadable one fails at open with its path. With a decode-once
 * cache (image_cache.c) that matches the folder, the probe is skipped too: the sizes come from the
 * cache, and only the directory listing (the stat of every file, for the fingerprint) remains. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "data_internal.h"
#include "log_line.h"

/* A listed name with its file size and modification time (the cache's fingerprint). */
typedef struct entry {
  char *name;
  int64_t size, mtime_ns;
} entry;

typedef struct names {
  entry *v;
  int n, cap;
} names;

static void names_free(names *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i].name);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int names_add(names *l, const char *s, const struct stat *st) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    entry *v = realloc(l->v, sizeof(entry) * (size_t)cap);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  entry *e = &l->v[l->n];
  if (!(e->name = strdup(s))) return -1;
  e->size = (int64_t)st->st_size;
  e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
  l->n++;
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* Lists the visible entries of dir, split into files and sub-folders, each sorted by name. */
static gs_status list_dir(const char *dir, names *files, names *dirs) {
  DIR *d = opendir(dir);
  if (!d) return gs_fail(GS_ERR_IO, "cannot open folder %s: %s", dir, strerror(errno));
  struct dirent *e;
  char path[4096];
  gs_status s = GS_OK;
  while (!s && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue; /* ., .. and hidden files such as .DS_Store */
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0) {
      s = gs_fail(GS_ERR_IO, "cannot read %s: %s", path, strerror(errno));
      break;
    }
    names *into = S_ISDIR(st.st_mode) ? dirs : files;
    if (!into) {
      s = gs_fail(GS_ERR_FORMAT, "%s: unexpected sub-folder inside a class folder", path);
      break;
    }
    if (names_add(into, e->d_name, &st)) s = gs_fail(GS_ERR_NOMEM, "%s: out of memory", dir);
  }
  closedir(d);
  if (files && files->n) qsort(files->v, (size_t)files->n, sizeof(entry), by_name);
  if (dirs && dirs->n) qsort(dirs->v, (size_t)dirs->n, sizeof(entry), by_name);
  return s;
}

/* The header probe at open, spread over threads (the work is mostly waiting on the disk). Each
 * thread takes every T-th image; the first bad file in folder order is the one reported. */
typedef struct probe_job {
  gs_images *im;
  int t, nthreads;
  int is_color;
  int64_t bad; /* first failing image of this thread, -1: none */
  char msg[1024];
} probe_job;

static void *probe_main(void *arg) {
  probe_job *j = arg;
  gs_images *im = j->im;
  for (int64_t i = j->t; i < im->n; i += j->nthreads) {
    gs_png_info info;
    if (gs_image_probe_file(im->paths + im->path_at[i], im->max_pixels, &info) != GS_OK) {
      j->bad = i;
      snprintf(j->msg, sizeof j->msg, "%s", gs_errmsg());
      break;
    }
    im->full_h[i] = info.height;
    im->full_w[i] = info.width;
    im->is_jpeg[i] = (uint8_t)info.is_jpeg;
    j->is_color |= info.is_color;
  }
  return NULL;
}

static gs_status probe_all(gs_images *im) {
  enum { MAX_THREADS = 8 };
  probe_job jobs[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  int nt = im->n < MAX_THREADS ? (int)im->n : MAX_THREADS, started = 0;
  if (nt < 1) nt = 1;
  for (int t = 0; t < MAX_THREADS; t++) jobs[t] = (probe_job){im, t, nt, 0, -1, {0}};
  for (int t = 1; t < nt; t++) {
    if (pthread_create(&th[t], NULL, probe_main, &jobs[t]) == 0) started |= 1 << t;
  }
  probe_main(&jobs[0]);
  for (int t = 1; t < nt; t++)
    if (started & (1 << t))
      pthread_join(th[t], NULL);
    else
      probe_main(&jobs[t]); /* no thread to spare: do its share here */
  int64_t first = -1;
  const char *msg = "";
  int is_color = 0;
  for (int t = 0; t < nt; t++) {
    is_color |= jobs[t].is_color;
    if (jobs[t].bad >= 0 && (first < 0 || jobs[t].bad < first)) {
      first = jobs[t].bad;
      msg = jobs[t].msg;
    }
  }
  if (first >= 0) return gs_fail(GS_ERR_FORMAT, "%s", msg);
  im->c = is_color ? 3 : 1; /* an all-gray folder trains on one channel */
  return GS_OK;
}

static void note(const gs_dataset_options *opt, const char *fmt, ...) GS_PRINTF(2, 3);
static void note(const gs_dataset_options *opt, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rt_log_line(opt->log, opt->log_user, fmt, ap);
  va_end(ap);
}

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Attaches the folder's cache, (re)building it first when it is missing or stale. */
static gs_status use_cache(const char *dir, const gs_dataset_options *opt, int size, gs_cache_fp fp,
                           gs_images *im) {
  const char *path = opt->cache;
  const int cs = opt->cache_size > 0 ? opt->cache_size : size;
  if (cs > 4096)
    return gs_fail(GS_ERR_INVALID, "image cache %s: size %d too large (at most 4096)", path, cs);
  char why[512];
  gs_status s = gs_image_cache_open(im, path, cs, fp, why, sizeof why);
  if (s || !why[0]) return s;
  note(opt, "image cache %s: %s; decoding the %lld images of %s into it at %dx%d", path, why,
       (long long)im->n, dir, cs, cs);
  if ((s = probe_all(im))) return s;
  double t0 = seconds();
  int64_t bad = 0;
  if ((s = gs_image_cache_build(im, path, cs, fp, opt->threads, &bad))) return s;
  note(opt, "image cache %s: %.1f MB written in %.1f s%s", path,
       (double)im->n * cs * cs * im->c / 1e6, seconds() - t0,
       bad ? " (some images did not decode: the loader skips them, naming each)" : "");
  if ((s = gs_image_cache_open(im, path, cs, fp, why, sizeof why)) == GS_OK && why[0])
    s = gs_fail(GS_ERR_IO, "image cache %s: %s, right after it was written", path, why);
  return s;
}

gs_status gs_folder_load(const char *dir, const gs_dataset_options *opt, gs_images *im,
                         char ***class_names) {
  const int size = opt->image_size > 0 ? opt->image_size : 32;
  if (size > 4096) return gs_fail(GS_ERR_INVALID, "folder %s: image size %d too large", dir, size);
  names root = {0}, classes = {0};
  names *per_class = NULL;
  gs_status s = list_dir(dir, &root, &classes);
  int ngroups = classes.n ? classes.n : 1;
  int64_t total = 0;
  if (!s && classes.n && root.n)
    s = gs_fail(GS_ERR_FORMAT, "%s/%s: a file beside the class folders of %s", dir, root.v[0].name,
                dir);
  if (!s && classes.n) {
    per_class = calloc((size_t)classes.n, sizeof(names));
    if (!per_class) s = gs_fail(GS_ERR_NOMEM, "%s: out of memory", dir);
    char sub[4096];
    for (int k = 0; !s && k < classes.n; k++) {
      snprintf(sub, sizeof sub, "%s/%s", dir, classes.v[k].name);
      s = list_dir(sub, &per_class[k], NULL);
      if (!s && per_class[k].n == 0)
        s = gs_fail(GS_ERR_FORMAT, "class folder %s holds no images", sub);
      total += per_class[k].n;
    }
  } else if (!s) {
    total = root.n;
    if (total == 0)
      s = gs_fail(GS_ERR_FORMAT,
                  "folder %s holds no images (expected PNG or JPEG files or class "
                  "sub-folders of them)",
                  dir);
  }
  /* The index: every path in one block, then labels and sizes per image. */
  size_t blob = 0, dlen = strlen(dir);
  for (int g = 0; !s && g < ngroups; g++) {
    names *files = classes.n ? &per_class[g] : &root;
    size_t prefix = dlen + 1 + (classes.n ? strlen(classes.v[g].name) + 1 : 0);
    for (int f = 0; f < files->n; f++) blob += prefix + strlen(files->v[f].name) + 1;
  }
  if (!s) {
    im->paths = malloc(blob ? blob : 1);
    im->path_at = malloc(sizeof(int64_t) * (size_t)total);
    im->full_h = malloc(sizeof(int32_t) * (size_t)total);
    im->full_w = malloc(sizeof(int32_t) * (size_t)total);
    im->is_jpeg = malloc((size_t)total);
    im->labels = classes.n ? malloc(sizeof(int32_t) * (size_t)total) : NULL;
    if (!im->paths || !im->path_at || !im->full_h || !im->full_w || !im->is_jpeg ||
        (classes.n && !im->labels))
      s = gs_fail(GS_ERR_NOMEM, "folder %s: cannot index %lld images", dir, (long long)total);
  }
  int64_t at = 0;
  size_t pos = 0;
  gs_cache_fp fp = GS_CACHE_FP_INIT;
  for (int g = 0; !s && g < ngroups; g++) {
    names *files = classes.n ? &per_class[g] : &root;
    for (int f = 0; f < files->n; f++, at++) {
      const entry *e = &files->v[f];
      im->path_at[at] = (int64_t)pos;
      int len = classes.n ? sprintf(im->paths + pos, "%s/%s/%s", dir, classes.v[g].name, e->name)
                          : sprintf(im->paths + pos, "%s/%s", dir, e->name);
      /* The path under the folder: a folder moved elsewhere keeps its cache. */
      gs_cache_fp_add(&fp, im->paths + pos + dlen + 1, e->size, e->mtime_ns);
      pos += (size_t)len + 1;
      if (im->labels) im->labels[at] = g;
    }
  }
  if (!s) {
    im->n = total;
    im->h = im->w = size;
    im->classes = classes.n;
    im->max_pixels = opt->max_pixels > 0 ? opt->max_pixels : (int64_t)8192 * 8192;
    s = opt->cache && *opt->cache ? use_cache(dir, opt, size, fp, im) : probe_all(im);
  }
  if (!s) {
    char **cn = classes.n ? malloc(sizeof(char *) * (size_t)classes.n) : NULL;
    if (classes.n && !cn) {
      s = gs_fail(GS_ERR_NOMEM, "%s: out of memory", dir);
      gs_images_free(im);
    }
    for (int k = 0; cn && k < classes.n; k++) { /* the names now belong to the caller */
      cn[k] = classes.v[k].name;
      classes.v[k].name = NULL;
    }
    *class_names = cn;
  } else {
    gs_images_free(im);
  }
  for (int k = 0; per_class && k < ngroups; k++) names_free(&per_class[k]);
  free(per_class);
  names_free(&root);
  names_free(&classes);
  return s;
}
