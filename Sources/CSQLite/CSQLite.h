// Swift cannot import SQLITE_TRANSIENT (a cast macro); expose it as a function.
#include <sqlite3.h>

static inline sqlite3_destructor_type aex_sqlite_transient(void) { return SQLITE_TRANSIENT; }
