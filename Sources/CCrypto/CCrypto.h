// libcrypto: SHA-256, constant-time comparison and the CSPRNG. Nothing else of OpenSSL is used.
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
