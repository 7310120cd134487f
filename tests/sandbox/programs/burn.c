/* burn SECONDS [PROCS]: burn CPU in PROCS processes until each used SECONDS of CPU time */
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    double s = atof(argv[1]); int procs = argc > 2 ? atoi(argv[2]) : 1;
    for (int i = 1; i < procs; i++) if (fork() == 0) break;
    volatile unsigned long x = 0; while (cpu() < s) x++;
    while (wait(NULL) > 0) ;
    return 0;
}
