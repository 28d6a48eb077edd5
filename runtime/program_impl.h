/* Layout of a compiled program (runtime/compile.c builds it, runtime/program.c runs it).
 * Internal. A program keeps no pointer into the graph it came from: inputs and outputs are
 * matched by the address of their node, used only as a key, never dereferenced. */
#ifndef GESSL_PROGRAM_IMPL_H
#define GESSL_PROGRAM_IMPL_H

#include "rt_impl.h"

typedef struct prog_input {
  const void *key; /* the gs_tensor it was compiled from */
  char *name;
  gs_bbuf *buf; /* NULL when nothing in the program reads it */
  size_t bytes;
} prog_input;

typedef struct prog_output {
  const void *key;
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
