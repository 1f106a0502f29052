/* tmp_db.c - a throwaway store path for unit tests (tmp_db.h). */
#include "tmp_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int cs_test_tmpdb_make(const char *name, char *dir, size_t dircap, char *path, size_t pathcap) {
  int n = snprintf(dir, dircap, "/tmp/cs_%s_test.XXXXXX", name);
  if (n < 0 || (size_t)n >= dircap || !mkdtemp(dir)) return -1;
  n = snprintf(path, pathcap, "%s/t.db", dir);
  return n < 0 || (size_t)n >= pathcap ? -1 : 0;
}

void cs_test_tmpdb_remove(const char *dir, const char *path) {
  static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
  char p[512];
  for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
    snprintf(p, sizeof p, "%s%s", path, sfx[i]);
    unlink(p);
  }
  rmdir(dir);
}
