/* bigfile PATH [ignore]: write 64 KiB blocks to PATH until the kernel stops it: SIGXFSZ past
   RLIMIT_FSIZE, or (with "ignore", SIGXFSZ ignored) the failing write's errno. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 2) signal(SIGXFSZ, SIG_IGN);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror("open"); return 2; }
    static char block[65536];
    memset(block, 'x', sizeof block);
    long long total = 0;
    for (;;) {
        ssize_t n = write(fd, block, sizeof block);
        if (n <= 0) { printf("%lld %s\n", total, strerror(errno)); return 3; }
        total += n;
    }
}
