/* OUT/log.jsonl (one JSON object per logged step, per epoch and per event) and OUT/curves.png.
 *
 * Every line carries "step", so a resumed run can drop the lines written after its checkpoint
 * (a crash between checkpoints) and the log reads as if the run had never stopped. The curves are
 * rebuilt from the kept lines, so a resumed run's plot covers the whole run. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/io.h"
#include "train_impl.h"

void train_curve_free(train_curve *c) {
  free(c->x);
  free(c->y);
  memset(c, 0, sizeof *c);
}

static void curve_add(train_curve *c, double x, double y) {
  if (c->n == c->cap) {
    int cap = c->cap ? c->cap * 2 : 64;
    double *nx = realloc(c->x, (size_t)cap * sizeof *nx);
    if (!nx) return;
    c->x = nx;
    double *ny = realloc(c->y, (size_t)cap * sizeof *ny);
    if (!ny) return;
    c->y = ny;
    c->cap = cap;
  }
  c->x[c->n] = x;
  c->y[c->n] = y;
  c->n++;
}

static void add_num(cJSON *o, const char *key, double v) {
  if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
}

/* Appends one line; the file is flushed so `tail -f` and a crash see whole lines. A failed append
 * (disk full) may leave part of a line, which a resume drops with the lines past its checkpoint. */
static gs_status put_line(train_run *r, cJSON *o) {
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!text) return gs_fail(GS_ERR_NOMEM, "%s/log.jsonl: out of memory", r->dir);
  if (!r->log) {
    cJSON_free(text);
    return GS_OK;
  }
  errno = 0;
  int bad = fputs(text, r->log) < 0 || fputc('\n', r->log) == EOF || fflush(r->log) != 0;
  int err = errno ? errno : EIO;
  cJSON_free(text);
  if (!bad) return GS_OK;
  clearerr(r->log);
  return gs_fail(GS_ERR_IO, "%s/log.jsonl: cannot append: %s", r->dir, strerror(err));
}

/* Feeds one kept line of an earlier log into the curves. */
static void curves_from_line(train_run *r, const cJSON *o) {
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
  const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
  if (!cJSON_IsString(type) || !cJSON_IsNumber(step)) return;
  double x = step->valuedouble / (double)r->steps_per_epoch;
  const cJSON *loss = cJSON_GetObjectItemCaseSensitive(o, "loss");
  if (!strcmp(type->valuestring, "step")) {
    const cJSON *lr = cJSON_GetObjectItemCaseSensitive(o, "lr");
    if (cJSON_IsNumber(loss)) curve_add(&r->c_loss, x, loss->valuedouble);
    if (cJSON_IsNumber(lr)) curve_add(&r->c_lr, x, lr->valuedouble);
  } else if (!strcmp(type->valuestring, "epoch")) {
    const cJSON *knn = cJSON_GetObjectItemCaseSensitive(o, "knn_top1");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(o, "sigma_norm");
    if (cJSON_IsNumber(loss)) curve_add(&r->c_epoch_loss, x, loss->valuedouble);
    if (cJSON_IsNumber(knn)) curve_add(&r->c_knn, x, 100.0 * knn->valuedouble);
    if (cJSON_IsNumber(sig)) curve_add(&r->c_sigma, x, sig->valuedouble);
  }
}

/* Keeps the lines up to the checkpoint's step, rewriting the file durably. */
static gs_status trim_log(train_run *r, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return errno == ENOENT ? GS_OK : gs_fail(GS_ERR_IO, "%s: %s", path, strerror(errno));
  char *kept = NULL, *line = NULL;
  size_t n_kept = 0, cap_line = 0;
  ssize_t len;
  gs_status st = GS_OK;
  while (st == GS_OK && (len = getline(&line, &cap_line, f)) > 0) {
    cJSON *o = cJSON_Parse(line);
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
    if (cJSON_IsNumber(step) && step->valuedouble <= (double)r->step) {
      char *nk = realloc(kept, n_kept + (size_t)len + 2);
      if (!nk) {
        st = gs_fail(GS_ERR_NOMEM, "%s: out of memory", path);
      } else {
        kept = nk;
        memcpy(kept + n_kept, line, (size_t)len);
        n_kept += (size_t)len;
        if (kept[n_kept - 1] != '\n') kept[n_kept++] = '\n';
        curves_from_line(r, o);
      }
    }
    cJSON_Delete(o);
  }
  free(line);
  fclose(f);
  if (st == GS_OK) st = gs_write_file_durable(path, kept ? kept : "", n_kept);
  free(kept);
  return st;
}

gs_status train_log_open(train_run *r, int resume) {
  char path[4200];
  snprintf(path, sizeof path, "%s/log.jsonl", r->dir);
  if (resume) {
    gs_status st = trim_log(r, path);
    if (st != GS_OK) return st;
  }
  r->log = fopen(path, resume ? "ab" : "wb");
  if (!r->log) return gs_fail(GS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  return resume ? train_log_event(r, "resumed", NULL) : GS_OK;
}

void train_log_close(train_run *r) {
  if (r->log) fclose(r->log);
  r->log = NULL;
}

gs_status train_log_step(train_run *r, const gs_meta_result *mr, double images_per_s,
                         double collapse_std) {
  double loss = mr->loss;
  cJSON *o = cJSON_CreateObject();
  if (!o) return gs_fail(GS_ERR_NOMEM, "log.jsonl: out of memory");
  cJSON_AddStringToObject(o, "type", "step");
  cJSON_AddNumberToObject(o, "step", (double)r->step);
  cJSON_AddNumberToObject(o, "epoch", (double)((r->step - 1) / r->steps_per_epoch));
  cJSON_AddNumberToObject(o, "loss", loss);
  cJSON_AddNumberToObject(o, "lr", (double)r->lr);
  cJSON_AddNumberToObject(o, "images_per_s", round(images_per_s * 10.0) / 10.0);
  add_num(o, "collapse_std", collapse_std);
  for (int k = 0; k < mr->n_figures && k < GS_META_MAX_FIGURES; k++) {
    char key[80];
    snprintf(key, sizeof key, "meta_%s", mr->figures[k].name ? mr->figures[k].name : "?");
    add_num(o, key, mr->figures[k].value);
  }
  gs_status st = put_line(r, o);
  double x = (double)r->step / (double)r->steps_per_epoch;
  curve_add(&r->c_loss, x, loss);
  curve_add(&r->c_lr, x, (double)r->lr);
  return st;
}

gs_status train_log_epoch(train_run *r, const gs_train_epoch *e) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return gs_fail(GS_ERR_NOMEM, "log.jsonl: out of memory");
  cJSON_AddStringToObject(o, "type", "epoch");
  cJSON_AddNumberToObject(o, "step", (double)e->step);
  cJSON_AddNumberToObject(o, "epoch", (double)e->epoch);
  add_num(o, "loss", e->loss_mean);
  add_num(o, "seconds", e->seconds);
  add_num(o, "knn_top1", e->knn_top1);
  add_num(o, "knn_top5", e->knn_top5);
  add_num(o, "sigma", e->sigma);
  add_num(o, "sigma_norm", e->sigma_norm);
  gs_status st = put_line(r, o);
  double x = (double)e->step / (double)r->steps_per_epoch;
  if (isfinite(e->loss_mean)) curve_add(&r->c_epoch_loss, x, e->loss_mean);
  if (isfinite(e->knn_top1)) curve_add(&r->c_knn, x, 100.0 * e->knn_top1);
  if (isfinite(e->sigma_norm)) curve_add(&r->c_sigma, x, e->sigma_norm);
  return st;
}

gs_status train_log_event(train_run *r, const char *event, const char *detail) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return gs_fail(GS_ERR_NOMEM, "log.jsonl: out of memory");
  cJSON_AddStringToObject(o, "type", "event");
  cJSON_AddNumberToObject(o, "step", (double)r->step);
  cJSON_AddStringToObject(o, "event", event);
  if (detail) cJSON_AddStringToObject(o, "detail", detail);
  return put_line(r, o);
}

gs_status train_plot(train_run *r) {
  gs_plot_series loss[] = {{"logged steps", r->c_loss.x, r->c_loss.y, r->c_loss.n},
                           {"epoch mean", r->c_epoch_loss.x, r->c_epoch_loss.y, r->c_epoch_loss.n}};
  gs_plot_series lr[] = {{"", r->c_lr.x, r->c_lr.y, r->c_lr.n}};
  gs_plot_series knn[] = {{"top-1, held-out split", r->c_knn.x, r->c_knn.y, r->c_knn.n}};
  gs_plot_series sig[] = {{"held-out tasks", r->c_sigma.x, r->c_sigma.y, r->c_sigma.n}};
  gs_plot_panel p[] = {
      {"Loss", "epoch", "loss", loss, 2, 0},
      {"Learning rate", "epoch", "lr", lr, 1, 0},
      {"kNN accuracy (--monitor-knn)", "epoch", "accuracy (%)", knn, 1, 0},
      {"Universality gap sigma", "epoch", "sigma / log(2N-1)", sig, 1, 0},
  };
  char title[256], path[4200];
  snprintf(title, sizeof title, "%s + %s / %s, %s, batch %d", r->cfg->model, r->method->name,
           r->meta->name, r->cfg->data, r->cfg->batch);
  gs_plot_options o = {0, 0, 2, title};
  snprintf(path, sizeof path, "%s/curves.png", r->dir);
  return gs_plot_png(path, p, 4, &o);
}
