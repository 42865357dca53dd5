import AEXHost
import Glibc

// Everything aex creates in AEX_HOME is for its user alone: the database and its -wal/-shm files
// (SQLite creates them 0644 less the umask), logs, daemon.json, plugin copies. Set before any file
// is created; the daemon inherits it.
// `aex run` gives the command it runs the umask it was started with.
AEXCommandLine.userUmask = umask(0o077)
exit(AEXCommandLine.run(Array(CommandLine.arguments.dropFirst())))
