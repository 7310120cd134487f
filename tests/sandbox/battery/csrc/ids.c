/* ids: print the real and effective user and group ids. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("%d %d %d %d\n", (int)getuid(), (int)geteuid(), (int)getgid(), (int)getegid());
    return 0;
}
