/* bomb fork|thread: create processes (or threads) forever, ignoring failures. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static void *idle(void *arg) { (void)arg; for (;;) pause(); return NULL; }

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "thread")) {
        pthread_t t;
        for (;;) pthread_create(&t, NULL, idle, NULL);
    }
    for (;;) fork();
}
