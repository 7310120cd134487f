/* recurse DEPTH: recurse DEPTH levels with 1 KiB stack frames the compiler cannot elide. */
#include <stdio.h>
#include <stdlib.h>

static int down(int n) {
    volatile char frame[1024];
    frame[0] = (char)n;
    frame[sizeof frame - 1] = 1;
    if (n == 0) return 0;
    return down(n - 1) + frame[0] - (char)n;
}

int main(int argc, char **argv) {
    int r = down(atoi(argv[1]));
    printf("depth %s ok\n", argv[1]);
    return r;
}
