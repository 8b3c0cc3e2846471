/* The replay driver linked with every fuzz target in normal builds: a
 * main() that runs LLVMFuzzerTestOneInput once on each file of the folders
 * (or files) named on the command line, in name order, so that the seed
 * corpora and the regressions are checked by `meson test` without clang or
 * libFuzzer. A folder that does not exist counts as empty (git keeps no
 * empty folders). Each input is copied to a buffer of exactly its size, so
 * a sanitizer build catches reads past its end as the fuzzer would. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        uint8_t *grown = realloc(buf, len + n);
        if (!grown) {
            free(buf);
            fclose(f);
            return -1;
        }
        buf = grown;
        memcpy(buf + len, chunk, n);
        len += n;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    /* Say which input runs before running it: a crash names its input. */
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(buf ? buf : (const uint8_t *)"", len);
    free(buf);
    return 0;
}

static int skip_entry(const struct dirent *e)
{
    /* Hidden files and notes (README) are not inputs. */
    return e->d_name[0] != '.' && strncmp(e->d_name, "README", 6) != 0;
}

static int replay_dir(const char *dir, unsigned *count)
{
    struct dirent **names;
    int n = scandir(dir, &names, skip_entry, alphasort);
    if (n < 0)
        return errno == ENOENT ? 0 : -1;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = replay_file(path);
            (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int rc;
        if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
            rc = replay_file(argv[i]);
            count++;
        } else {
            rc = replay_dir(argv[i], &count);
        }
        if (rc != 0) {
            fprintf(stderr, "replay: %s failed\n", argv[i]);
            return 1;
        }
    }
    printf("replayed %u inputs\n", count);
    return 0;
}
