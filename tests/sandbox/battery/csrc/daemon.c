/* daemon: leave a busy-looping and a sleeping process behind, detached the way daemons
   detach (double fork, setsid, stdio closed), print their pids, and exit 0 at once. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void detach(int burn) {
    pid_t child = fork();
    if (child != 0) return;              /* parent goes on */
    setsid();
    if (fork() != 0) _exit(0);           /* the session leader exits: the grandchild is orphaned */
    printf("%d\n", (int)getpid());
    fflush(stdout);
    fclose(stdin); fclose(stdout); fclose(stderr);
    volatile unsigned long spin = 0;
    if (burn) for (;;) spin++;
    for (;;) pause();
}

int main(void) {
    detach(1);
    detach(0);
    usleep(200000);                      /* let both print their pids */
    return 0;
}
