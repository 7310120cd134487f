/* flood FD MB: write MB MiB of 'x' to file descriptor FD (1 or 2) as fast as possible. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int fd = atoi(argv[1]);
    long long left = atoll(argv[2]) << 20;
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    while (left > 0) {
        ssize_t n = write(fd, block, sizeof block);
        if (n <= 0) return 3;
        left -= n;
    }
    return 0;
}
