/* signals KIND: die in the way KIND names */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    if (!strcmp(argv[1], "segv")) { volatile int *p = 0; return *p; }
    if (!strcmp(argv[1], "fpe")) { volatile int z = 0; volatile int r = 10 / z; return r; }
    if (!strcmp(argv[1], "abort")) abort();
    if (!strcmp(argv[1], "kill")) raise(SIGKILL);
    return 0;
}
