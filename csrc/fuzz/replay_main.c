/*
 * replay_main.c -- run inputs through LLVMFuzzerTestOneInput without libFuzzer
 * (for gcc + ASan/UBSan builds, see run.sh replay).
 *
 *   replay [-all-configs] FILE|DIR...
 *
 * A directory is read one level deep, in name order.  With -all-configs each
 * input is also run with its first byte (the configuration) set to each of
 * the 256 values.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long files, runs;
static int all_configs;

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL) { perror(path); return 1; }
    for (;;) {
        size_t n;
        if (len == cap) {
            unsigned char *p = realloc(data, cap = cap ? 2 * cap : 4096);
            if (p == NULL) { fclose(f); free(data); fprintf(stderr, "%s: out of memory\n", path); return 1; }
            data = p;
        }
        n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    if (ferror(f)) { perror(path); fclose(f); free(data); return 1; }
    fclose(f);

    /* an exact-size copy, as libFuzzer hands it over */
    unsigned char *exact = malloc(len ? len : 1);
    if (exact == NULL) abort();
    memcpy(exact, data, len);
    free(data);

    fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(exact, len);
    runs++;
    if (all_configs && len > 0) {
        unsigned char orig = exact[0];
        for (unsigned c = 0; c < 256; c++) {
            if (c == orig) continue;
            exact[0] = (unsigned char)c;
            LLVMFuzzerTestOneInput(exact, len);
            runs++;
        }
    }
    free(exact);
    files++;
    return 0;
}

static int replay_path(const char *path)
{
    struct stat st;
    struct dirent **names;
    int n, bad = 0;

    if (stat(path, &st) != 0) { perror(path); return 1; }
    if (!S_ISDIR(st.st_mode)) return replay_file(path);
    n = scandir(path, &names, NULL, alphasort);
    if (n < 0) { perror(path); return 1; }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (name[0] != '.') {
            size_t m = strlen(path) + strlen(name) + 2;
            char *full = malloc(m);
            if (full == NULL) abort();
            snprintf(full, m, "%s/%s", path, name);
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) bad |= replay_file(full);
            free(full);
        }
        free(names[i]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0, inputs = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-all-configs") == 0) { all_configs = 1; continue; }
        bad |= replay_path(argv[i]);
        inputs++;
    }
    if (inputs == 0) {
        fprintf(stderr, "usage: %s [-all-configs] FILE|DIR...\n", argv[0]);
        return 2;
    }
    printf("replayed %lu inputs (%lu executions), no invariant violated\n", files, runs);
    return bad;
}
