/* bigfile PATH [ignore]: write until the kernel stops us (SIGXFSZ, or EFBIG if ignored) */
#include <signal.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 2) signal(SIGXFSZ, SIG_IGN);
    FILE *f = fopen(argv[1], "w"); char buf[65536]; memset(buf, 'x', sizeof buf);
    for (;;) if (fwrite(buf, 1, sizeof buf, f) != sizeof buf || fflush(f)) { perror("write"); return 3; }
}
