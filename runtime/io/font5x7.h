/* A 5x7 bitmap font for ASCII 32..126, for the labels of plots. */
#ifndef GESSL_IO_FONT5X7_H
#define GESSL_IO_FONT5X7_H

#define GS_FONT_FIRST 32
#define GS_FONT_LAST 126
#define GS_FONT_W 5
#define GS_FONT_H 7

/* Glyph of character c (FIRST..LAST; others draw as '?'): 5 columns, left to right, bit r of a
 * column set where row r (0 = top) is inked. */
const unsigned char *gs_font_glyph(int c);
/* Rows by which glyph c is drawn below the others (descenders reach GS_FONT_H + 2 rows). */
int gs_font_drop(int c);

#endif
