struct S { int a; } s = {.a = 1};
enum { A, B } e;
static inline int f(int x) { return x; }
#ifdef X
int y;
#endif
#define N 3
int arr[] = {1, 2, N};
if (s.a) { e = B; } else e = A;
do { s.a++; } while (s.a < 3);
int (*fp)(int) = f;
"str\"ing" L'c' /* c */ // d
fp