/* touch_mb N: allocate and touch N MiB (every page), then exit 0 */
#include <stdlib.h>
int main(int argc, char **argv) {
    size_t n = (size_t)atoi(argv[1]) << 20;
    volatile char *p = n ? malloc(n) : 0;
    if (n && !p) return 1;
    for (size_t i = 0; i < n; i += 4096) p[i] = 7;
    return 0;
}
