/* The interactor of a guessing game (tests/sandbox/test_interaction.py). argv[1] names a file
 * in its own box holding "<secret> <most guesses>". It reads one guess per line from stdin
 * and answers on stdout: "<" (the secret is smaller), ">" (larger) or "=". testlib's exit
 * codes: 0 guessed within the bound, 1 (wrong answer) over the bound or at the end of input,
 * 2 (presentation error) on a line that is not a number, 3 (judge failure) without its secret.
 * Its verdict goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    long secret, bound;
    FILE *f = argc > 1 ? fopen(argv[1], "r") : NULL;
    if (!f || fscanf(f, "%ld %ld", &secret, &bound) != 2) {
        fprintf(stderr, "cannot read the secret\n");
        return 3;
    }
    fclose(f);
    char line[64];
    for (long guesses = 1;; guesses++) {
        if (!fgets(line, sizeof line, stdin)) {
            fprintf(stderr, "unexpected end of input after %ld guesses\n", guesses - 1);
            return 1;
        }
        char *end;
        long guess = strtol(line, &end, 10);
        if (end == line || *end != '\n') {
            fprintf(stderr, "guess %ld is not a number on a line of its own\n", guesses);
            return 2;
        }
        if (guesses > bound) {
            fprintf(stderr, "more than %ld guesses\n", bound);
            return 1;
        }
        if (guess == secret) {
            puts("=");
            fprintf(stderr, "guessed in %ld\n", guesses);
            return 0;
        }
        puts(guess < secret ? ">" : "<");
        fflush(stdout);
    }
}
