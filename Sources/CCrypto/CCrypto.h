// libcrypto: SHA-256, constant-time comparison and the CSPRNG. Nothing else of OpenSSL is used.
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

// SHA-256 through a digest fetched once: OpenSSL 3's one-shot SHA256() looks the algorithm up on
// every call, which costs more than hashing a ledger record. EVP_MD objects may be shared between
// threads; each call has its own context. Returns 1 on success.
static inline int aex_sha256(const void *data, size_t count, unsigned char out[32]) {
    static EVP_MD *fetched = NULL;
    EVP_MD *md = __atomic_load_n(&fetched, __ATOMIC_ACQUIRE);
    if (md == NULL) {
        EVP_MD *candidate = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (candidate == NULL) return 0;
        EVP_MD *expected = NULL;
        if (__atomic_compare_exchange_n(&fetched, &expected, candidate, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            md = candidate;
        } else {
            EVP_MD_free(candidate);
            md = expected;
        }
    }
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context == NULL) return 0;
    unsigned int length = 0;
    int ok = EVP_DigestInit_ex(context, md, NULL) && EVP_DigestUpdate(context, data, count) && EVP_DigestFinal_ex(context, out, &length);
    EVP_MD_CTX_free(context);
    return ok && length == 32;
}
