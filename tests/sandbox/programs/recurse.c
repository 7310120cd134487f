/* recurse DEPTH: recursion with 1 KB frames the compiler cannot elide */
#include <stdlib.h>
static int down(int n) {
    volatile char frame[1024];
    frame[0] = (char)n;
    if (!n) return 0;
    int r = down(n - 1);
    return r + frame[0];
}
int main(int argc, char **argv) { return down(atoi(argv[1])) == -1; }
