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

struct gs_program {
  gs_device *dev;
  gs_bprog *bprog;
  gs_bbuf **arenas;
  int n_arenas;
  prog_input *inputs;
  int n_inputs;
  prog_output *outputs;
  int n_outputs;
  size_t peak_bytes, naive_bytes, input_bytes, n_launches;
  struct gs_program *prev, *next; /* the device's list */
};

#endif
