/* burn SECONDS [PROCS]: PROCS processes (default 1) each burn SECONDS of their own CPU time,
   measured with CLOCK_PROCESS_CPUTIME_ID; SECONDS < 0 burns forever. */
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double seconds = atof(argv[1]);
    int procs = argc > 2 ? atoi(argv[2]) : 1;
    for (int i = 1; i < procs; i++)
        if (fork() == 0) break;
    volatile unsigned long spin = 0;
    while (seconds < 0 || cpu() < seconds) spin++;
    while (wait(NULL) > 0) {}
    return 0;
}
