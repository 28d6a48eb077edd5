/* Gradient rules, one function per op family, each defined next to that family's builders.
 * Autodiff (runtime/autodiff.c) dispatches on the node kind and opcode.
 *
 * A rule gets the forward node y and the gradient dy of the loss with respect to y (same shape as
 * y) and stores in dx[k] the contribution to the gradient of input k, with exactly in[k]'s shape,
 * for every k with want[k] != 0 (dx[k] = NULL: no contribution). It returns 0 after recording an
 * error in g, 1 otherwise. */
#ifndef GESSL_GRAD_RULES_H
#define GESSL_GRAD_RULES_H

#include "graph/graph_impl.h"

typedef int (*gs_grad_rule)(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                            struct gs_node **dx);

int gs_grad_elementwise(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                        struct gs_node **dx); /* UNARY, BINARY, AXPBY */
int gs_grad_reduce(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                   struct gs_node **dx); /* REDUCE, EXPAND, DOT */
int gs_grad_shape(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                  struct gs_node **dx); /* ALIAS, CONCAT, PERMUTE, SLICE, GATHER/SCATTER rows */
int gs_grad_matmul(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                   struct gs_node **dx); /* MATMUL */
int gs_grad_conv(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                 struct gs_node **dx); /* CONV2D, MAXPOOL2D, AVGPOOL2D */
int gs_grad_collective(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                       struct gs_node **dx); /* COLLECTIVE */

#endif
