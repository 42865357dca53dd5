import AEXHost
import Glibc

exit(AEXCommandLine.run(Array(CommandLine.arguments.dropFirst())))
