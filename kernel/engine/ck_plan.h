/*
 * ck_plan.h - how to compile a cell without paying for the compiler driver each time.
 *
 * `gcc -c` is a driver that starts cc1 and then as; the driver alone costs several
 * milliseconds per cell. A plan is the list of commands the driver would run, read once
 * from `cc -### ...` for the current flags, with placeholders for the source, object and
 * temporary assembly file; each cell then runs those commands directly. When the output
 * of -### cannot be understood the plan is the plain driver command, so nothing depends
 * on this trick working.
 */
#ifndef CK_PLAN_H
#define CK_PLAN_H

#include <stddef.h>

#define CK_PLAN_MAX_CMDS 4

struct ck_plan {
    char **argv[CK_PLAN_MAX_CMDS]; /* NULL-terminated, malloc'd strings */
    int n;
    int direct; /* 1 when the commands come from -###, 0 for the driver fallback */
};

/* Build the plan for `cc -c <flags...> SRC -o OBJ` (flags NULL-terminated), running the
 * driver with -### in dir. Always yields a usable plan unless out of memory (JP_ENOMEM). */
int ck_plan_make(const char *cc, char *const flags[], const char *dir, struct ck_plan *out);
void ck_plan_dispose(struct ck_plan *p);
/* The argv of command i with the placeholders replaced by src, obj and asm_file. The
 * result is malloc'd (strings borrowed from the plan or the arguments): free only the
 * array. NULL on out-of-memory. */
char **ck_plan_argv(const struct ck_plan *p, int i, const char *src, const char *obj,
                    const char *asm_file);

/* Parse one line of -### output into a NULL-terminated argv (exposed for tests). */
char **ck_plan_split(const char *line);

#endif
