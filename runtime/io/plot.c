/* Line charts as PNG: panels in a grid, each with a frame, grid lines at "nice" ticks (1, 2, 5
 * times a power of ten), numeric tick labels, axis labels, a title and a legend placed in the
 * corner that hides the fewest points. Drawn in software on an RGB canvas with anti-aliased
 * lines, encoded with libpng into memory, then written durably so a reader never sees a
 * half-written image while training redraws it every epoch. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "font5x7.h"
#include "gessl/io.h"

typedef struct rgb {
  unsigned char r, g, b;
} rgb;

static const rgb WHITE = {255, 255, 255}, BLACK = {0, 0, 0}, GRID = {228, 228, 228},
                 TEXT = {30, 30, 30}, FRAME = {90, 90, 90};
/* Distinguishable line colours (the tab10 palette). */
static const rgb PALETTE[10] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                {188, 189, 34},  {23, 190, 207}};

typedef struct canvas {
  int w, h;
  unsigned char *px; /* w*h*3 */
} canvas;

typedef struct rect {
  int x0, y0, x1, y1; /* x1, y1 exclusive */
} rect;

static void blend(canvas *c, int x, int y, rgb col, double a) {
  if (x < 0 || y < 0 || x >= c->w || y >= c->h || a <= 0) return;
  if (a > 1) a = 1;
  unsigned char *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
  p[0] = (unsigned char)lround(p[0] + (col.r - p[0]) * a);
  p[1] = (unsigned char)lround(p[1] + (col.g - p[1]) * a);
  p[2] = (unsigned char)lround(p[2] + (col.b - p[2]) * a);
}

static void fill(canvas *c, int x0, int y0, int x1, int y1, rgb col) {
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) blend(c, x, y, col, 1);
}

/* ---- Text ---- */

static int text_w(const char *s, int scale) {
  int n = (int)strlen(s);
  return n ? (n * (GS_FONT_W + 1) - 1) * scale : 0;
}

static int text_h(int scale) { return GS_FONT_H * scale; }

/* Horizontal text with its top-left corner at (x, y). */
static void text(canvas *c, int x, int y, const char *s, int scale, rgb col) {
  for (; *s; s++, x += (GS_FONT_W + 1) * scale) {
    const unsigned char *g = gs_font_glyph((unsigned char)*s);
    int y0 = y + gs_font_drop((unsigned char)*s) * scale;
    for (int cx = 0; cx < GS_FONT_W; cx++)
      for (int r = 0; r < GS_FONT_H; r++)
        if (g[cx] >> r & 1)
          fill(c, x + cx * scale, y0 + r * scale, x + (cx + 1) * scale, y0 + (r + 1) * scale, col);
  }
}

/* Text turned 90 degrees anticlockwise (read bottom to top), its baseline-start at the
 * bottom-left corner (x, y). */
static void text_up(canvas *c, int x, int y, const char *s, int scale, rgb col) {
  for (; *s; s++, y -= (GS_FONT_W + 1) * scale) {
    const unsigned char *g = gs_font_glyph((unsigned char)*s);
    int x0 = x + gs_font_drop((unsigned char)*s) * scale;
    for (int cx = 0; cx < GS_FONT_W; cx++)
      for (int r = 0; r < GS_FONT_H; r++)
        if (g[cx] >> r & 1)
          fill(c, x0 + r * scale, y - (cx + 1) * scale, x0 + (r + 1) * scale, y - cx * scale, col);
  }
}

/* ---- Lines ---- */

/* Anti-aliased segment of half-width hw, clipped to r: each pixel's coverage falls off with its
 * distance from the segment. */
static void segment(canvas *c, rect r, double x0, double y0, double x1, double y1, double hw,
                    rgb col) {
  int bx0 = (int)floor(fmin(x0, x1) - hw - 1), bx1 = (int)ceil(fmax(x0, x1) + hw + 1);
  int by0 = (int)floor(fmin(y0, y1) - hw - 1), by1 = (int)ceil(fmax(y0, y1) + hw + 1);
  if (bx0 < r.x0) bx0 = r.x0;
  if (by0 < r.y0) by0 = r.y0;
  if (bx1 > r.x1) bx1 = r.x1;
  if (by1 > r.y1) by1 = r.y1;
  double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  for (int y = by0; y < by1; y++)
    for (int x = bx0; x < bx1; x++) {
      double px = x + 0.5 - x0, py = y + 0.5 - y0;
      double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      double ex = px - t * dx, ey = py - t * dy;
      double cover = hw + 0.5 - sqrt(ex * ex + ey * ey);
      if (cover > 0) blend(c, x, y, col, cover);
    }
}

static void disc(canvas *c, rect r, double cx, double cy, double rad, rgb col) {
  segment(c, r, cx, cy, cx, cy, rad, col);
}

/* ---- Axes ---- */

#define MAX_TICKS 40

typedef struct axis {
  double lo, hi; /* in data units (log axes: positive) */
  int log;
  int nt;
  double tick[MAX_TICKS];
  double step; /* linear: tick spacing; decides the label precision */
} axis;

static double nice_step(double raw) {
  double e = pow(10, floor(log10(raw))), f = raw / e;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e;
}

/* Axis covering [lo, hi] (finite, lo <= hi) with about `target` ticks at nice values. */
static void axis_linear(axis *a, double lo, double hi, int target) {
  if (!(hi > lo)) {
    double d = fabs(lo) > 1e-300 ? fabs(lo) * 0.1 : 1;
    lo -= d;
    hi += d;
  }
  a->log = 0;
  double step = nice_step((hi - lo) / (target < 2 ? 2 : target));
  double l = floor(lo / step) * step, h = ceil(hi / step) * step;
  if (!isfinite(step) || !isfinite(l) || !isfinite(h) || step <= 0 ||
      (h - l) / step > MAX_TICKS - 1) {
    a->lo = lo, a->hi = hi, a->step = hi - lo;
    a->nt = 2, a->tick[0] = lo, a->tick[1] = hi;
    return;
  }
  a->lo = l, a->hi = h, a->step = step;
  a->nt = 0;
  long k0 = lround(l / step), k1 = lround(h / step);
  for (long k = k0; k <= k1 && a->nt < MAX_TICKS; k++) a->tick[a->nt++] = (double)k * step;
}

static void axis_log(axis *a, double lo, double hi) {
  a->log = 1;
  double e0 = floor(log10(lo)), e1 = ceil(log10(hi));
  if (e1 <= e0) e1 = e0 + 1;
  a->lo = pow(10, e0), a->hi = pow(10, e1), a->step = 0;
  a->nt = 0;
  int decades = (int)(e1 - e0);
  int every = decades > 8 ? (decades + 7) / 8 : 1;
  for (int e = (int)e0; e <= (int)e1 && a->nt < MAX_TICKS; e += every) {
    a->tick[a->nt++] = pow(10, e);
    if (decades <= 2 && e < (int)e1) {
      a->tick[a->nt++] = 2 * pow(10, e);
      a->tick[a->nt++] = 5 * pow(10, e);
    }
  }
}

/* Position of v along the axis as a fraction of its length. */
static double axis_frac(const axis *a, double v) {
  if (a->log) return (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
  return (v - a->lo) / (a->hi - a->lo);
}

/* "1e-5" rather than printf's "1e-05". */
static void sci(char *buf, size_t n, double v, int digits) {
  if (v == 0) {
    snprintf(buf, n, "0");
    return;
  }
  int e = (int)floor(log10(fabs(v)) + 1e-9);
  double m = v / pow(10, e);
  if (fabs(m) >= 9.9999999) m /= 10, e++;
  snprintf(buf, n, "%.*ge%d", digits, m, e);
}

static void tick_label(const axis *a, double v, char *buf, size_t n) {
  if (a->log) {
    double e = floor(log10(v) + 1e-9);
    if (e >= -3 && e <= 4)
      snprintf(buf, n, "%g", v);
    else
      sci(buf, n, v, 1);
    return;
  }
  double big = fmax(fabs(a->lo), fabs(a->hi));
  if (a->step > 0 && fabs(v) < a->step * 1e-6) v = 0; /* no "-0.0" */
  if (big >= 1e6 || a->step < 1e-4 || a->step <= 0) {
    /* Enough significant digits that neighbouring ticks differ. */
    int digits = a->step > 0 ? (int)ceil(log10(big / a->step) + 1e-9) + 1 : 3;
    sci(buf, n, v, digits < 1 ? 1 : digits > 15 ? 15 : digits);
    return;
  }
  int dec = a->step >= 1 ? 0 : (int)ceil(-log10(a->step) - 1e-9);
  snprintf(buf, n, "%.*f", dec, v);
}

/* A y value the axis can show (finite; positive on a log axis). */
static int y_ok(const gs_plot_panel *p, double y) { return isfinite(y) && (!p->log_y || y > 0); }

/* ---- One panel ---- */

static void draw_panel(canvas *c, rect box, const gs_plot_panel *p, int s) {
  const int pad = 8 * s, tick = 4 * s, gap = 4 * s, ts = s + 1;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (int i = 0; i < p->n_series; i++) {
    const gs_plot_series *se = &p->series[i];
    for (int k = 0; se->x && se->y && k < se->n; k++) {
      if (!isfinite(se->x[k]) || !y_ok(p, se->y[k])) continue;
      xmin = fmin(xmin, se->x[k]), xmax = fmax(xmax, se->x[k]);
      ymin = fmin(ymin, se->y[k]), ymax = fmax(ymax, se->y[k]);
    }
  }
  int any = xmin <= xmax;
  if (!any) xmin = 0, xmax = 1, ymin = p->log_y ? 0.1 : 0, ymax = 1;

  /* Vertical layout: title, plot, tick labels, x label. */
  int top = box.y0 + pad + (p->title && *p->title ? text_h(ts) + 2 * gap : 0);
  int bottom =
      box.y1 - pad - (p->xlabel && *p->xlabel ? text_h(s) + gap : 0) - text_h(s) - gap - tick;
  if (bottom - top < 20) bottom = top + 20;
  axis ax, ay;
  if (p->log_y) {
    if (!(ymax > ymin)) ymin /= 2, ymax *= 2;
    axis_log(&ay, ymin, ymax);
  } else {
    axis_linear(&ay, ymin, ymax, (bottom - top) / (40 * s) + 2);
  }
  char lab[64];
  int labw = 0;
  for (int i = 0; i < ay.nt; i++) {
    tick_label(&ay, ay.tick[i], lab, sizeof lab);
    if (text_w(lab, s) > labw) labw = text_w(lab, s);
  }
  int left = box.x0 + pad + (p->ylabel && *p->ylabel ? text_h(s) + 2 * gap : 0) + labw + gap + tick;
  int right = box.x1 - pad - 3 * (GS_FONT_W + 1) * s;
  if (right - left < 20) right = left + 20;
  axis_linear(&ax, xmin, xmax, (right - left) / (70 * s) + 1);
  double W = right - left, H = bottom - top;

  if (p->title && *p->title)
    text(c, (box.x0 + box.x1 - text_w(p->title, ts)) / 2, box.y0 + pad, p->title, ts, BLACK);
  /* Grid and ticks. */
  for (int i = 0; i < ay.nt; i++) {
    int y = bottom - (int)lround(axis_frac(&ay, ay.tick[i]) * H);
    fill(c, left + 1, y, right, y + 1, GRID);
    fill(c, left - tick, y, left, y + 1, FRAME);
    tick_label(&ay, ay.tick[i], lab, sizeof lab);
    text(c, left - tick - gap - text_w(lab, s), y - text_h(s) / 2, lab, s, TEXT);
  }
  for (int i = 0; i < ax.nt; i++) {
    int x = left + (int)lround(axis_frac(&ax, ax.tick[i]) * W);
    fill(c, x, top + 1, x + 1, bottom, GRID);
    fill(c, x, bottom + 1, x + 1, bottom + 1 + tick, FRAME);
    tick_label(&ax, ax.tick[i], lab, sizeof lab);
    text(c, x - text_w(lab, s) / 2, bottom + tick + gap, lab, s, TEXT);
  }
  /* Frame. */
  fill(c, left, top, right + 1, top + 1, FRAME);
  fill(c, left, bottom, right + 1, bottom + 1, FRAME);
  fill(c, left, top, left + 1, bottom + 1, FRAME);
  fill(c, right, top, right + 1, bottom + 1, FRAME);
  if (p->xlabel && *p->xlabel)
    text(c, (left + right - text_w(p->xlabel, s)) / 2, box.y1 - pad - text_h(s), p->xlabel, s,
         TEXT);
  if (p->ylabel && *p->ylabel)
    text_up(c, box.x0 + pad, (top + bottom + text_w(p->ylabel, s)) / 2, p->ylabel, s, TEXT);
  if (!any) return;

  /* Series. */
  rect inner = {left + 1, top + 1, right, bottom};
  double hw = 0.6 + 0.5 * s;
#define PX(v) (left + axis_frac(&ax, (v)) * W)
#define PY(v) (bottom - axis_frac(&ay, (v)) * H)
  for (int i = 0; i < p->n_series; i++) {
    const gs_plot_series *se = &p->series[i];
    rgb col = PALETTE[i % 10];
    if (!se->x || !se->y) continue;
    for (int k = 0; k < se->n; k++) {
      int ok = isfinite(se->x[k]) && y_ok(p, se->y[k]);
      int prev = k > 0 && isfinite(se->x[k - 1]) && y_ok(p, se->y[k - 1]);
      int next = k + 1 < se->n && isfinite(se->x[k + 1]) && y_ok(p, se->y[k + 1]);
      if (ok && prev)
        segment(c, inner, PX(se->x[k - 1]), PY(se->y[k - 1]), PX(se->x[k]), PY(se->y[k]), hw, col);
      /* Markers while points are few enough to tell apart; an isolated point always gets one. */
      if (ok && (se->n <= 40 || (!prev && !next)))
        disc(c, inner, PX(se->x[k]), PY(se->y[k]), hw + 1.2 * s, col);
    }
  }

  /* Legend: in whichever inside corner covers the fewest points. */
  int n_named = 0, namew = 0;
  for (int i = 0; i < p->n_series; i++)
    if (p->series[i].name && *p->series[i].name) {
      n_named++;
      if (text_w(p->series[i].name, s) > namew) namew = text_w(p->series[i].name, s);
    }
  if (!n_named) return;
  int row = text_h(s) + 2 * gap, sample = 14 * s;
  int lw = gap + sample + gap + namew + 2 * gap, lh = n_named * row + gap;
  int m = 3 * gap;
  rect corners[4] = {{right - m - lw, top + m, right - m, top + m + lh},
                     {left + m, top + m, left + m + lw, top + m + lh},
                     {right - m - lw, bottom - m - lh, right - m, bottom - m},
                     {left + m, bottom - m - lh, left + m + lw, bottom - m}};
  int best = 0;
  long best_hits = -1;
  for (int q = 0; q < 4; q++) {
    long hits = 0;
    rect r = corners[q];
    for (int i = 0; i < p->n_series; i++) {
      const gs_plot_series *se = &p->series[i];
      for (int k = 0; se->x && se->y && k < se->n; k++) {
        if (!isfinite(se->x[k]) || !y_ok(p, se->y[k])) continue;
        /* The point and the midpoint of the segment after it, so long lines count too. */
        for (int half = 0; half < 2; half++) {
          double vx = se->x[k], vy = se->y[k];
          if (half) {
            if (k + 1 >= se->n || !isfinite(se->x[k + 1]) || !y_ok(p, se->y[k + 1])) break;
            vx = (vx + se->x[k + 1]) / 2;
            vy = p->log_y ? sqrt(vy * se->y[k + 1]) : (vy + se->y[k + 1]) / 2;
          }
          double x = PX(vx), y = PY(vy);
          if (x >= r.x0 - 4 && x < r.x1 + 4 && y >= r.y0 - 4 && y < r.y1 + 4) hits++;
        }
      }
    }
    if (best_hits < 0 || hits < best_hits) best = q, best_hits = hits;
  }
#undef PX
#undef PY
  rect L = corners[best];
  fill(c, L.x0, L.y0, L.x1, L.y1, WHITE);
  fill(c, L.x0, L.y0, L.x1, L.y0 + 1, FRAME);
  fill(c, L.x0, L.y1 - 1, L.x1, L.y1, FRAME);
  fill(c, L.x0, L.y0, L.x0 + 1, L.y1, FRAME);
  fill(c, L.x1 - 1, L.y0, L.x1, L.y1, FRAME);
  int y = L.y0 + gap;
  for (int i = 0; i < p->n_series; i++) {
    const char *name = p->series[i].name;
    if (!name || !*name) continue;
    double cy = y + gap + text_h(s) / 2.0;
    rect all = {0, 0, c->w, c->h};
    segment(c, all, L.x0 + gap, cy, L.x0 + gap + sample, cy, hw, PALETTE[i % 10]);
    text(c, L.x0 + 2 * gap + sample, y + gap, name, s, TEXT);
    y += row;
  }
}

/* ---- PNG encoding ---- */

typedef struct membuf {
  unsigned char *p;
  size_t n, cap;
  char err[200];
} membuf;

static void png_write_mem(png_structp png, png_bytep data, png_size_t len) {
  membuf *m = png_get_io_ptr(png);
  if (m->n + len > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 1 << 16;
    while (cap < m->n + len) cap *= 2;
    unsigned char *p = realloc(m->p, cap);
    if (!p) png_error(png, "out of memory");
    m->p = p, m->cap = cap;
  }
  memcpy(m->p + m->n, data, len);
  m->n += len;
}

static void png_flush_mem(png_structp png) { (void)png; }

static void png_on_error(png_structp png, png_const_charp msg) {
  membuf *m = png_get_error_ptr(png);
  snprintf(m->err, sizeof m->err, "%s", msg);
  png_longjmp(png, 1);
}

/* Library code does not print: warnings are dropped. */
static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static gs_status encode_png(const canvas *c, membuf *out, const char *path) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, out, png_on_error, png_on_warning);
  if (!png) return gs_fail(GS_ERR_NOMEM, "%s: cannot start the PNG encoder", path);
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    return gs_fail(GS_ERR_NOMEM, "%s: cannot start the PNG encoder", path);
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return gs_fail(GS_ERR_IO, "%s: PNG encoding failed: %s", path, out->err);
  }
  png_set_write_fn(png, out, png_write_mem, png_flush_mem);
  png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < c->h; y++) png_write_row(png, c->px + (size_t)y * (size_t)c->w * 3);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  return GS_OK;
}

gs_status gs_plot_png(const char *path, const gs_plot_panel *panels, int n_panels,
                      const gs_plot_options *opt) {
  if (!path) return gs_fail(GS_ERR_INVALID, "plot: NULL path");
  if (n_panels < 1 || !panels) return gs_fail(GS_ERR_INVALID, "%s: no panels to plot", path);
  for (int i = 0; i < n_panels; i++)
    if (panels[i].n_series < 0 || (panels[i].n_series > 0 && !panels[i].series))
      return gs_fail(GS_ERR_INVALID, "%s: panel %d has a bad series list", path, i);
  gs_plot_options o = opt ? *opt : (gs_plot_options){0};
  int cols = o.columns > 0 ? o.columns : n_panels == 1 ? 1 : 2;
  if (cols > n_panels) cols = n_panels;
  int rows = (n_panels + cols - 1) / cols;
  const char *title = o.title && *o.title ? o.title : NULL;
  int w = o.width > 0 ? o.width : 640 * cols;
  int h = o.height > 0 ? o.height : 400 * rows + (title ? 44 : 0);
  if (w > 16384 || h > 16384 || (long)w * h > 64L << 20)
    return gs_fail(GS_ERR_INVALID, "%s: image of %dx%d pixels is too large", path, w, h);
  canvas c = {w, h, malloc((size_t)w * (size_t)h * 3)};
  if (!c.px) return gs_fail(GS_ERR_NOMEM, "%s: out of memory for a %dx%d image", path, w, h);
  memset(c.px, 255, (size_t)w * (size_t)h * 3);
  int head = 0;
  if (title) {
    int ts = w >= 900 ? 3 : 2;
    head = text_h(ts) + 16;
    text(&c, (w - text_w(title, ts)) / 2, 10, title, ts, BLACK);
  }
  int pw = w / cols, ph = (h - head) / rows;
  int s = pw >= 480 && ph >= 300 ? 2 : 1; /* text scale: legible at the image's size */
  for (int i = 0; i < n_panels; i++) {
    rect box = {(i % cols) * pw, head + (i / cols) * ph, (i % cols + 1) * pw,
                head + (i / cols + 1) * ph};
    draw_panel(&c, box, &panels[i], s);
  }
  membuf m = {0};
  gs_status st = encode_png(&c, &m, path);
  free(c.px);
  if (st == GS_OK) st = gs_write_file_durable(path, m.p, m.n);
  free(m.p);
  return st;
}
