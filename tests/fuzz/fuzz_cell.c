/*
 * fuzz_cell.c - libFuzzer target for the C engine's text processing: the tokenizer, the
 * cell splitter, the code generator (two cells in one session, the second a clone of the
 * first as the kernel does it), is_complete and completion. Any input must be handled
 * without a crash, a sanitizer report or a leak; the generated code is not compiled here
 * (tests/unit/kernel/test_ck_sess.c does that for known cells).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ck_intro.h"
#include "ck_sess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    size_t len = strlen(src); /* cells are text: stop at a NUL like the kernel's JSON would */

    struct ck_session s, next;
    if (ck_session_init(&s) == 0) {
        for (int round = 0; round < 2; round++) {
            if (ck_session_clone(&next, &s) != 0)
                break;
            struct ck_gen g = {0};
            int rc = ck_gen(&next, src, len, round ? "In[2]" : "In[1]", &g);
            ck_gen_dispose(&g);
            if (rc == 0) {
                ck_session_dispose(&s);
                s = next;
            } else {
                ck_session_dispose(&next);
            }
        }
        struct ck_completion c;
        if (ck_complete(&s, NULL, src, len / 2, &c) == 0)
            ck_completion_dispose(&c);
        ck_session_dispose(&s);
    }
    char indent[80];
    ck_is_complete(src, len, indent, sizeof indent);
    free(src);
    return 0;
}
