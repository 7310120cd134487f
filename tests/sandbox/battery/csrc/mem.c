/* mem touch MB [PROCS [HOLD_MS]]: PROCS processes (default 1) each malloc and touch every page
   of MB MiB, hold it HOLD_MS ms, exit 0 (3 if malloc fails).
   mem bomb: malloc and memset 1 MiB blocks until killed (or malloc fails: exit 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (!strcmp(argv[1], "bomb")) {
        for (;;) {
            char *p = malloc(1 << 20);
            if (!p) { fprintf(stderr, "malloc failed\n"); return 3; }
            memset(p, 1, 1 << 20);
        }
    }
    size_t bytes = (size_t)atol(argv[2]) << 20;
    int procs = argc > 3 ? atoi(argv[3]) : 1;
    long hold_ms = argc > 4 ? atol(argv[4]) : 0;
    for (int i = 1; i < procs; i++)
        if (fork() == 0) break;
    if (bytes) {
        volatile char *p = malloc(bytes);
        if (!p) { fprintf(stderr, "malloc failed\n"); return 3; }
        for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
    }
    struct timespec t = {hold_ms / 1000, (hold_ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
    int status, worst = 0;
    while (wait(&status) > 0)
        if (!WIFEXITED(status) || WEXITSTATUS(status)) worst = 4;
    return worst;
}
