/* crash HOW [N]: end in the way HOW names: exit N, segv, fpe, abort, kill (SIGKILL self). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "exit";
    if (!strcmp(how, "exit")) return argc > 2 ? atoi(argv[2]) : 0;
    if (!strcmp(how, "segv")) { volatile int *p = NULL; return *p; }
    if (!strcmp(how, "fpe")) { volatile int zero = 0; volatile int r = 7 / zero; return r; }
    if (!strcmp(how, "abort")) abort();
    if (!strcmp(how, "kill")) raise(SIGKILL);
    fprintf(stderr, "unknown: %s\n", how);
    return 2;
}
