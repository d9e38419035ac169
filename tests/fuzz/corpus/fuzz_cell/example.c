#include <math.h>
typedef struct { double x, y; } pt;
double *v = malloc(1000 * sizeof *v);
for (int i = 0; i < 1000; i++) v[i] = sin(i);
double norm(pt p) { return sqrt(p.x*p.x + p.y*p.y); }
norm((pt){3, 4}) * 2