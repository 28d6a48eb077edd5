/* Layout of a compiled program (runtime/compile.c builds it, runtime/program.c runs it).
 * Internal. A program keeps no pointer into the graph it came from: inputs and outputs are
 * matched by the graph's serial number and the node's index (graph.c keeps both readable in a
 * freed graph's nodes), so a tensor of another graph never matches, even one allocated where a
 * freed graph's node was. */
#ifndef GESSL_PROGRAM_IMPL_H
#define GESSL_PROGRAM_IMPL_H

#include "rt_impl.h"

/* The node a program input or output was compiled from. */
typedef struct prog_key {
  uint64_t graph; /* gs_graph serial */
  int node;       /* index in the graph */
} prog_key;

typedef struct prog_input {
  prog_key key;
  char *name;
  gs_bbuf *buf; /* NULL when nothing in the program reads it */
  size_t bytes;
} prog_input;

typedef struct prog_output {
  prog_key key;
  gs_bref ref;
  size_t bytes;
} prog_output;

/* A collective (GS_NODE_COLLECTIVE) run on the host between segments: its inputs are read into
 * `stage` (allocated once, at compile) at launch `at`, reduced or gathered across the world, and
 * written to `out` before launch `wait_at` (the first reader), so an all-reduce is in flight while
 * the device runs the launches in between. */
typedef struct prog_coll {
  int kind; /* gs_coll_kind */
  int n_in;
  gs_bref *in;
  size_t *in_n; /* elements of each input */
  size_t in_total, out_n;
  gs_bref out;
  size_t at, wait_at;
  float *stage; /* in_total floats (+ out_n for a gather) */
  struct gs_comm_req *req;
} prog_coll;

/* Checked execution (gs_device_set_detect_anomaly): the value a segment computes, read back
 * after the segment runs. n == 0: nothing to check (an integer value, or no value). */
typedef struct prog_check {
  gs_bref ref;
  size_t n;    /* floats */
  char *label; /* "unary(log) (node 12, forward, after layer fc)", made at compile time */
} prog_check;

/* What a run does, in order: a segment of launches, or a collective's start or wait. */
typedef struct prog_step {
  enum { STEP_SEG, STEP_START, STEP_WAIT } kind;
  int index; /* into segs or colls */
} prog_step;

struct gs_program {
  gs_device *dev;
  gs_bprog **segs; /* the launches cut at collectives; one segment when there are none */
  int n_segs;
  prog_coll *colls;
  int n_colls;
  prog_step *steps;
  int n_steps;
  gs_bbuf **arenas;
  int n_arenas;
  prog_input *inputs;
  int n_inputs;
  prog_output *outputs;
  int n_outputs;
  size_t peak_bytes, naive_bytes, input_bytes, n_launches;
  prog_check *checks; /* per segment; NULL unless compiled in checked mode (one node a segment) */
  float *check_stage; /* host copy of the largest checked value */
  struct gs_program *prev, *next; /* the device's list */
};

/* anomaly.c: what a message calls node n of g (malloc'd; NULL when out of memory), and the
 * check after segment `seg` of a checked program: GS_ERR_NUMERIC naming the node when its value
 * holds a NaN or an Inf. */
char *rt_anomaly_label(const gs_graph *g, const struct gs_node *n);
gs_status rt_anomaly_check(gs_program *prog, int seg);

#endif
