/* tmp_db.h - a throwaway store path for unit tests: a fresh directory under /tmp holding one
 * database file, and its removal with SQLite's side files (-wal, -shm, -journal). */
#ifndef CS_TEST_TMP_DB_H
#define CS_TEST_TMP_DB_H

#include <stddef.h>

/* Creates /tmp/cs_<name>_test.XXXXXX in dir and sets path to "<dir>/t.db". Returns 0, or -1
 * when the directory cannot be made or a buffer is too small. */
int cs_test_tmpdb_make(const char *name, char *dir, size_t dircap, char *path, size_t pathcap);

/* Removes the database file, its side files and the directory (what is absent is skipped). */
void cs_test_tmpdb_remove(const char *dir, const char *path);

#endif
