// Swift cannot import SQLITE_TRANSIENT (a cast macro); expose it as a function.
#include <sqlite3.h>

static inline sqlite3_destructor_type aex_sqlite_transient(void) { return SQLITE_TRANSIENT; }

/* Turns off SQLite's global memory statistics (a mutex on every allocation). Must run before
   SQLite is first used in the process; later it returns SQLITE_MISUSE and changes nothing. */
static inline int aex_sqlite_disable_memory_statistics(void) { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }
