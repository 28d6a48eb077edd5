/* Image folders: root/<class>/NAME.png (classes are the sorted sub-folder names) or a flat folder
 * of PNGs (unlabelled). Every image is decoded and resized at open; a file that is not a PNG, an
 * empty folder or an unreadable one fails with its path. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"

#define MAX_PNG_FILE ((size_t)1 << 30)

typedef struct names {
  char **v;
  int n, cap;
} names;

static void names_free(names *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int names_add(names *l, const char *s) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char **v = realloc(l->v, sizeof(char *) * (size_t)cap);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n] = strdup(s))) return -1;
  l->n++;
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
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
    if (names_add(into, e->d_name)) s = gs_fail(GS_ERR_NOMEM, "%s: out of memory", dir);
  }
  closedir(d);
  if (files && files->n) qsort(files->v, (size_t)files->n, sizeof(char *), by_name);
  if (dirs && dirs->n) qsort(dirs->v, (size_t)dirs->n, sizeof(char *), by_name);
  return s;
}

static gs_status load_png(const char *path, const gs_dataset_options *opt, int size, uint8_t *dst,
                          int *is_color) {
  uint8_t *buf, *rgb;
  size_t len;
  gs_status s = gs_read_file(path, MAX_PNG_FILE, &buf, &len);
  if (s) return s;
  gs_png_info info;
  s = gs_png_decode(buf, len, path, opt->max_pixels, &info, &rgb);
  free(buf);
  if (s) return s;
  gs_resize_u8(rgb, info.height, info.width, 3, dst, size, size);
  free(rgb);
  *is_color |= info.is_color;
  return GS_OK;
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
    s = gs_fail(GS_ERR_FORMAT, "%s/%s: a file beside the class folders of %s", dir, root.v[0], dir);
  if (!s && classes.n) {
    per_class = calloc((size_t)classes.n, sizeof(names));
    if (!per_class) s = gs_fail(GS_ERR_NOMEM, "%s: out of memory", dir);
    char sub[4096];
    for (int k = 0; !s && k < classes.n; k++) {
      snprintf(sub, sizeof sub, "%s/%s", dir, classes.v[k]);
      s = list_dir(sub, &per_class[k], NULL);
      if (!s && per_class[k].n == 0)
        s = gs_fail(GS_ERR_FORMAT, "class folder %s holds no images", sub);
      total += per_class[k].n;
    }
  } else if (!s) {
    total = root.n;
    if (total == 0)
      s = gs_fail(GS_ERR_FORMAT,
                  "folder %s holds no images (expected *.png files or class "
                  "sub-folders of them)",
                  dir);
  }
  size_t img = (size_t)size * size * 3;
  if (!s) {
    im->pixels = malloc(img * (size_t)total);
    im->labels = classes.n ? malloc(sizeof(int32_t) * (size_t)total) : NULL;
    if (!im->pixels || (classes.n && !im->labels))
      s = gs_fail(GS_ERR_NOMEM, "folder %s: cannot hold %lld images of %dx%d", dir,
                  (long long)total, size, size);
  }
  int is_color = 0;
  int64_t at = 0;
  char path[8192];
  for (int g = 0; !s && g < ngroups; g++) {
    names *files = classes.n ? &per_class[g] : &root;
    for (int f = 0; !s && f < files->n; f++, at++) {
      if (classes.n)
        snprintf(path, sizeof path, "%s/%s/%s", dir, classes.v[g], files->v[f]);
      else
        snprintf(path, sizeof path, "%s/%s", dir, files->v[f]);
      s = load_png(path, opt, size, im->pixels + img * (size_t)at, &is_color);
      if (im->labels) im->labels[at] = g;
    }
  }
  if (!s) {
    im->n = total;
    im->h = im->w = size;
    im->c = 3;
    im->classes = classes.n;
    if (!is_color) { /* an all-gray folder trains on one channel */
      for (size_t p = 0; p < (size_t)total * size * size; p++) im->pixels[p] = im->pixels[3 * p];
      im->c = 1;
    }
    *class_names = classes.v; /* the names now belong to the caller */
    classes.v = NULL;
    classes.n = 0;
  } else {
    gs_images_free(im);
  }
  for (int k = 0; per_class && k < ngroups; k++) names_free(&per_class[k]);
  free(per_class);
  names_free(&root);
  names_free(&classes);
  return s;
}
