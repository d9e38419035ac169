/*
 * ck_diag.h - which compiler diagnostics a user sees.
 *
 * Cells are compiled with -Wall -Wextra, but a cell's C file also holds code the user did
 * not write on this cell: the prelude of earlier cells, the extern declarations and the
 * cell function the kernel generates (all under `#line 1 "<cnote>"` or an earlier cell's
 * name), and the system headers. The filter reads gcc's or clang's diagnostic output as
 * groups - the context lines before a message ("In function 'f':", "In file included
 * from ...", "inlined from ... at ..."), the message itself, and the notes after it - and
 * keeps a group when it is an error (a failed compile always says why) or when it is a
 * warning that points into the current cell: the warning itself or one of its notes or
 * "inlined from" lines is located there, and the warning is not located in generated code.
 * Lines naming the kernel's cell function ("In function '__ck_cell_7':"), "At top level:"
 * and clang's "N warnings generated." are dropped. Diagnostics without a source location
 * (`cc1: warning: ...` about a flag) are kept. Text only: no process, no colours.
 */
#ifndef CK_DIAG_H
#define CK_DIAG_H

#include "jp_buf.h"

/* Append to out the lines of compiler output `text` that the user of cell `cell` ("In[3]")
 * should see, each ending in '\n'. Returns 0, or JP_ENOMEM / the buffer's limit error. */
int ck_diag_filter(const char *text, const char *cell, struct jp_buf *out);

#endif
