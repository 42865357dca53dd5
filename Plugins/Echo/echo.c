/*
 * echo.c — the `echo` provider plugin (provider type `echo`): the offline demo provider.
 *
 * It answers every call locally (set_local_response), never contacts an upstream, and is
 * deterministic: the same call gives byte-identical output. A streamed call is answered with the
 * whole Server-Sent Event stream at once, with the usage of the same call without streaming; the
 * host then hands each event back to translate_stream_event, as for a real upstream stream.
 * Plain C99 and libc only; the one exported symbol is aex_plugin_entry. See README.md beside
 * this file.
 *
 * Build: cc -std=c99 -O2 -shared -fPIC -Wall -Wextra -Werror -I Sources/AEXPluginAPI/include \
 *           -o libaex-echo.so Plugins/Echo/echo.c
 */
#include "aex_plugin.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Limits                                                                                      */

#define ECHO_MAX_DEPTH 64                  /* deepest JSON nesting accepted */
#define ECHO_MAX_OUTPUT ((size_t)64 << 20) /* largest answer body built, in bytes */
#define ECHO_MSG_OVERHEAD 4                /* prompt tokens added per message */
#define ECHO_DIMENSIONS 8                  /* floats per embedding */
#define ECHO_PIECE 16                      /* bytes of reply per streamed delta, at most ... */
#define ECHO_MAX_PIECES 4096               /* ... unless that makes more deltas than this */

static const aex_host_table *echo_host; /* borrowed from the host; outlives the plugin */

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */

typedef struct {
    const uint8_t *p;
    size_t n;
} span;

static uint64_t fnv1a_init(void) { return 0xcbf29ce484222325ULL; }

static uint64_t fnv1a_add(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int64_t tokens_for_bytes(size_t bytes) { return (int64_t)(bytes / 4 + (bytes % 4 != 0)); }

static int64_t add_sat(int64_t a, int64_t b) { return (a > INT64_MAX - b) ? INT64_MAX : a + b; }

/* Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not one. */
static size_t utf8_len_at(const uint8_t *s, size_t n, size_t i)
{
    if (i >= n) return 0;
    uint8_t c = s[i];
    if (c < 0x80) return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return 0;
    if (n - i < len) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    return len;
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at s[i..i+4) as a code unit, or -1. */
static long hex4_at(const uint8_t *s, size_t n, size_t i)
{
    if (i > n || n - i < 4) return -1;
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = hex_val(s[i + k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON reading: a validating scanner over the raw bytes. Every index is bounds-checked.       */

static size_t skip_ws(const uint8_t *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* s[*pos] should be '"'. On success the raw (still escaped) contents go to *out and *pos moves
   past the closing quote. Rejects bad escapes, control characters and invalid UTF-8. */
static int parse_string(const uint8_t *s, size_t n, size_t *pos, span *out)
{
    size_t i = *pos;
    if (i >= n || s[i] != '"') return 0;
    i++;
    size_t start = i;
    while (i < n) {
        uint8_t c = s[i];
        if (c == '"') {
            if (out) { out->p = s + start; out->n = i - start; }
            *pos = i + 1;
            return 1;
        }
        if (c == '\\') {
            if (i + 1 >= n) return 0;
            uint8_t e = s[i + 1];
            if (e == 'u') {
                if (hex4_at(s, n, i + 2) < 0) return 0;
                i += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                i += 2;
            } else {
                return 0;
            }
        } else if (c < 0x20) {
            return 0;
        } else {
            size_t len = utf8_len_at(s, n, i);
            if (len == 0) return 0;
            i += len;
        }
    }
    return 0;
}

static int parse_number(const uint8_t *s, size_t n, size_t *pos)
{
    size_t i = *pos;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9') { while (i < n && s[i] >= '0' && s[i] <= '9') i++; }
    else return 0;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    *pos = i;
    return 1;
}

static int match_word(const uint8_t *s, size_t n, size_t *pos, const char *w)
{
    size_t len = strlen(w);
    if (*pos > n || n - *pos < len || memcmp(s + *pos, w, len) != 0) return 0;
    *pos += len;
    return 1;
}

/* Moves *pos past one JSON value starting at *pos (no leading whitespace). */
static int skip_value(const uint8_t *s, size_t n, size_t *pos, int depth)
{
    size_t i = *pos;
    if (i >= n) return 0;
    switch (s[i]) {
    case '"':
        return parse_string(s, n, pos, NULL);
    case 't':
        return match_word(s, n, pos, "true");
    case 'f':
        return match_word(s, n, pos, "false");
    case 'n':
        return match_word(s, n, pos, "null");
    case '{':
    case '[': {
        uint8_t close = s[i] == '{' ? '}' : ']';
        int object = s[i] == '{';
        if (depth >= ECHO_MAX_DEPTH) return 0;
        i = skip_ws(s, n, i + 1);
        if (i < n && s[i] == close) { *pos = i + 1; return 1; }
        for (;;) {
            if (object) {
                if (!parse_string(s, n, &i, NULL)) return 0;
                i = skip_ws(s, n, i);
                if (i >= n || s[i] != ':') return 0;
                i = skip_ws(s, n, i + 1);
            }
            if (!skip_value(s, n, &i, depth + 1)) return 0;
            i = skip_ws(s, n, i);
            if (i < n && s[i] == ',') { i = skip_ws(s, n, i + 1); continue; }
            if (i < n && s[i] == close) { *pos = i + 1; return 1; }
            return 0;
        }
    }
    default:
        if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) return parse_number(s, n, pos);
        return 0;
    }
}

/* In the (validated) object at s[at] == '{', the position of the value of the LAST member whose
   raw key equals `key`. Returns 1 found, 0 absent, -1 malformed. */
static int obj_find(const uint8_t *s, size_t n, size_t at, const char *key, size_t *val)
{
    size_t klen = strlen(key);
    int found = 0;
    if (at >= n || s[at] != '{') return -1;
    size_t i = skip_ws(s, n, at + 1);
    if (i < n && s[i] == '}') return 0;
    for (;;) {
        span k;
        if (!parse_string(s, n, &i, &k)) return -1;
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != ':') return -1;
        i = skip_ws(s, n, i + 1);
        if (k.n == klen && memcmp(k.p, key, klen) == 0) { *val = i; found = 1; }
        if (!skip_value(s, n, &i, 0)) return -1;
        i = skip_ws(s, n, i);
        if (i < n && s[i] == ',') { i = skip_ws(s, n, i + 1); continue; }
        if (i < n && s[i] == '}') return found;
        return -1;
    }
}

/* Iterates over the elements of the (validated) array at s[at] == '['. */
typedef struct {
    const uint8_t *s;
    size_t n;
    size_t i;
    int done;
} arr_iter;

static int arr_begin(arr_iter *it, const uint8_t *s, size_t n, size_t at)
{
    if (at >= n || s[at] != '[') return 0;
    it->s = s;
    it->n = n;
    it->i = skip_ws(s, n, at + 1);
    it->done = (it->i < n && s[it->i] == ']');
    return 1;
}

/* 1: *elem is the next element's position; 0: no more; -1: malformed. */
static int arr_next(arr_iter *it, size_t *elem)
{
    if (it->done) return 0;
    size_t e = it->i;
    if (!skip_value(it->s, it->n, &it->i, 0)) return -1;
    it->i = skip_ws(it->s, it->n, it->i);
    if (it->i < it->n && it->s[it->i] == ',') it->i = skip_ws(it->s, it->n, it->i + 1);
    else if (it->i < it->n && it->s[it->i] == ']') it->done = 1;
    else return -1;
    *elem = e;
    return 1;
}

/* A top-level member that is a non-negative JSON integer (no fraction or exponent), clamped to
   INT64_MAX. Returns 1 and sets *value, else 0. */
static int obj_int(const uint8_t *s, size_t n, size_t at, const char *key, int64_t *value)
{
    size_t v;
    if (obj_find(s, n, at, key, &v) != 1) return 0;
    size_t end = v;
    if (!parse_number(s, n, &end)) return 0;
    int64_t x = 0;
    for (size_t i = v; i < end; i++) {
        if (s[i] < '0' || s[i] > '9') return 0; /* '-', '.', 'e': not a non-negative integer */
        int d = s[i] - '0';
        x = (x > (INT64_MAX - d) / 10) ? INT64_MAX : x * 10 + d;
    }
    *value = x;
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Escaped-string units: one escape (\x, \uXXXX, or a surrogate pair \uD8xx\uDCxx) or one     */
/* UTF-8 character. Never split when truncating; decoded bytes are what tokens count.         */

static size_t put_utf8(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* The unit of raw string r at i: returns its raw length (>= 1 while i < n) and writes its decoded
   UTF-8 bytes to dec / *dlen. A lone surrogate decodes as U+FFFD. */
static size_t str_unit(const uint8_t *r, size_t n, size_t i, uint8_t dec[4], size_t *dlen)
{
    if (i >= n) { *dlen = 0; return 0; }
    if (r[i] == '\\' && i + 1 < n) {
        uint8_t e = r[i + 1];
        if (e == 'u') {
            long u = hex4_at(r, n, i + 2);
            if (u < 0) { dec[0] = '?'; *dlen = 1; return (n - i < 2) ? n - i : 2; }
            if (u >= 0xD800 && u <= 0xDBFF && n - i >= 12 && r[i + 6] == '\\' && r[i + 7] == 'u') {
                long lo = hex4_at(r, n, i + 8);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    uint32_t cp = 0x10000 + (((uint32_t)u - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                    *dlen = put_utf8(cp, dec);
                    return 12;
                }
            }
            if (u >= 0xD800 && u <= 0xDFFF) u = 0xFFFD;
            *dlen = put_utf8((uint32_t)u, dec);
            return 6;
        }
        switch (e) {
        case 'b': dec[0] = '\b'; break;
        case 'f': dec[0] = '\f'; break;
        case 'n': dec[0] = '\n'; break;
        case 'r': dec[0] = '\r'; break;
        case 't': dec[0] = '\t'; break;
        default: dec[0] = e; break; /* '"', '\\', '/' */
        }
        *dlen = 1;
        return 2;
    }
    size_t len = utf8_len_at(r, n, i);
    if (len == 0) len = 1; /* not reached for validated strings */
    memcpy(dec, r + i, len);
    *dlen = len;
    return len;
}

/* Decoded UTF-8 byte count of a raw string, and (if h) its FNV-1a over the decoded bytes. */
static size_t str_decoded(span raw, uint64_t *h)
{
    size_t total = 0, i = 0;
    uint8_t dec[4];
    size_t dlen;
    while (i < raw.n) {
        size_t step = str_unit(raw.p, raw.n, i, dec, &dlen);
        if (step == 0) break;
        if (h) *h = fnv1a_add(*h, dec, dlen);
        total += dlen;
        i += step;
    }
    return total;
}

/* ------------------------------------------------------------------------------------------ */
/* Output building: a growable buffer that fails (bad = 1) instead of overflowing.             */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    int bad;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->bad || n == 0) return;
    if (n > ECHO_MAX_OUTPUT - b->len) { b->bad = 1; return; }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n) cap = (cap > ECHO_MAX_OUTPUT / 2) ? ECHO_MAX_OUTPUT : cap * 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) { b->bad = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put_s(buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_i64(buf *b, int64_t v)
{
    char t[24];
    size_t k = sizeof t;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do { t[--k] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) t[--k] = '-';
    put(b, t + k, sizeof t - k);
}

static void put_hex64(buf *b, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char t[16];
    for (int k = 15; k >= 0; k--) { t[k] = digits[v & 15]; v >>= 4; }
    put(b, t, 16);
}

/* Arbitrary bytes as JSON string contents (invalid UTF-8 becomes U+FFFD). */
static void put_escaped(buf *b, span s)
{
    static const char digits[] = "0123456789abcdef";
    size_t i = 0;
    while (i < s.n) {
        uint8_t c = s.p[i];
        if (c == '"') { put_s(b, "\\\""); i++; }
        else if (c == '\\') { put_s(b, "\\\\"); i++; }
        else if (c == '\n') { put_s(b, "\\n"); i++; }
        else if (c == '\r') { put_s(b, "\\r"); i++; }
        else if (c == '\t') { put_s(b, "\\t"); i++; }
        else if (c < 0x20) {
            char t[6] = {'\\', 'u', '0', '0', digits[c >> 4], digits[c & 15]};
            put(b, t, 6);
            i++;
        } else {
            size_t len = utf8_len_at(s.p, s.n, i);
            if (len == 0) { put_s(b, "\\ufffd"); i++; }
            else { put(b, s.p + i, len); i += len; }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Replies                                                                                     */

/* The reply "Echo: <text>" as raw escaped bytes (lone surrogate escapes become \ufffd), cut to at
   most cap decoded bytes at a unit boundary. Returns 1 if it was cut. *decoded gets the reply's
   decoded byte count. */
static int put_reply(buf *b, span text, uint64_t cap, size_t *decoded)
{
    static const char prefix[] = "Echo: ";
    size_t plen = sizeof prefix - 1;
    if (cap < plen) {
        put(b, prefix, (size_t)cap);
        *decoded = (size_t)cap;
        return 1;
    }
    put(b, prefix, plen);
    size_t total = plen, i = 0;
    uint8_t dec[4];
    size_t dlen;
    int cut = 0;
    size_t copied = 0; /* text.p[0..copied) is already in b */
    while (i < text.n) {
        size_t step = str_unit(text.p, text.n, i, dec, &dlen);
        if (step == 0) break;
        if ((uint64_t)(total + dlen) > cap) { cut = 1; break; }
        long u = (step == 6 && text.p[i] == '\\' && text.p[i + 1] == 'u') ? hex4_at(text.p, text.n, i + 2) : -1;
        if (u >= 0xD800 && u <= 0xDFFF) {
            /* a lone surrogate escape: strict JSON readers refuse it, so write U+FFFD instead */
            put(b, text.p + copied, i - copied);
            put_s(b, "\\ufffd");
            copied = i + step;
        }
        total += dlen;
        i += step;
    }
    put(b, text.p + copied, i - copied);
    *decoded = total;
    return cut;
}

/* The output cap in bytes for a token limit (0 = none): 4 bytes per token. */
static uint64_t cap_for_limit(int64_t limit)
{
    if (limit <= 0 || (uint64_t)limit > UINT64_MAX / 8) return UINT64_MAX;
    return (uint64_t)limit * 4;
}

static int64_t min_limit(int64_t a, int64_t b)
{
    if (a <= 0) return b;
    if (b <= 0) return a;
    return a < b ? a : b;
}

/* Text of a message's `content`: a string, or the last `text` string of an array of parts.
   Adds every text's decoded bytes to *bytes. Returns 1 if *last was set, 0 if none, -1 bad. */
static int content_text(const uint8_t *s, size_t n, size_t at, span *last, size_t *bytes)
{
    if (at >= n) return -1;
    if (s[at] == '"') {
        size_t p = at;
        if (!parse_string(s, n, &p, last)) return -1;
        *bytes += str_decoded(*last, NULL);
        return 1;
    }
    if (s[at] != '[') return 0; /* null (tool calls) or other: no text */
    arr_iter it;
    size_t e;
    int r, got = 0;
    if (!arr_begin(&it, s, n, at)) return -1;
    while ((r = arr_next(&it, &e)) == 1) {
        size_t tv;
        if (s[e] != '{') continue;
        int f = obj_find(s, n, e, "text", &tv);
        if (f < 0) return -1;
        if (f == 0 || s[tv] != '"') continue;
        size_t p = tv;
        if (!parse_string(s, n, &p, last)) return -1;
        *bytes += str_decoded(*last, NULL);
        got = 1;
    }
    return r < 0 ? -1 : got;
}

/* Walks an array of message objects (`input`: 0 for chat "messages", 1 for responses "input"):
   counts them, sums their text bytes, keeps the last text. Returns NULL or a short reason. */
static const char *walk_messages(const uint8_t *s, size_t n, size_t at, int input, span *last,
                                 size_t *bytes, int64_t *count)
{
    arr_iter it;
    size_t e;
    int r;
    if (!arr_begin(&it, s, n, at)) return input ? "input must be a string or an array" : "messages must be an array";
    while ((r = arr_next(&it, &e)) == 1) {
        size_t cv;
        if (s[e] != '{') return input ? "each input item must be an object" : "each message must be an object";
        *count = add_sat(*count, 1);
        int f = obj_find(s, n, e, "content", &cv);
        if (f < 0) return "malformed message";
        if (f == 0) continue;
        if (content_text(s, n, cv, last, bytes) < 0) return "malformed message content";
    }
    if (r < 0) return "malformed array";
    if (*count == 0) return input ? "input must not be empty" : "messages must not be empty";
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Chat completions and responses: the reply is worked out once (text, cut, usage) and then    */
/* written either as one JSON answer or as a stream of Server-Sent Events.                     */

typedef struct {
    int64_t prompt;
    int64_t completion;
} usage;

typedef struct {
    buf text; /* the reply as raw JSON string contents (what goes between the quotes) */
    int cut;  /* 1 when the output limit cut the reply */
    usage u;
} reply;

static int64_t prompt_tokens(size_t bytes, int64_t count)
{
    int64_t p = add_sat(tokens_for_bytes(bytes),
                        count > INT64_MAX / ECHO_MSG_OVERHEAD ? INT64_MAX : count * ECHO_MSG_OVERHEAD);
    return p < 1 ? 1 : p;
}

static const char *chat_reply(const aex_call *call, const uint8_t *s, size_t n, reply *r)
{
    size_t mv;
    span last = {(const uint8_t *)"", 0};
    size_t bytes = 0, reply_bytes = 0;
    int64_t count = 0, limit = call->max_output_tokens, own;
    if (obj_find(s, n, 0, "messages", &mv) != 1 || s[mv] != '[') return "messages must be an array";
    const char *why = walk_messages(s, n, mv, 0, &last, &bytes, &count);
    if (why) return why;
    if (obj_int(s, n, 0, "max_tokens", &own)) limit = min_limit(limit, own);
    if (obj_int(s, n, 0, "max_completion_tokens", &own)) limit = min_limit(limit, own);
    r->cut = put_reply(&r->text, last, cap_for_limit(limit), &reply_bytes);
    r->u.prompt = prompt_tokens(bytes, count);
    r->u.completion = tokens_for_bytes(reply_bytes);
    return NULL;
}

static const char *responses_reply(const aex_call *call, const uint8_t *s, size_t n, reply *r)
{
    size_t iv, insv;
    span last = {(const uint8_t *)"", 0};
    size_t bytes = 0, reply_bytes = 0;
    int64_t count = 0, limit = call->max_output_tokens, own;
    if (obj_find(s, n, 0, "input", &iv) != 1) return "input must be a string or an array";
    if (s[iv] == '"') {
        size_t p = iv;
        if (!parse_string(s, n, &p, &last)) return "malformed input";
        bytes += str_decoded(last, NULL);
        count = 1;
    } else if (s[iv] == '[') {
        const char *why = walk_messages(s, n, iv, 1, &last, &bytes, &count);
        if (why) return why;
    } else {
        return "input must be a string or an array";
    }
    if (obj_find(s, n, 0, "instructions", &insv) == 1 && s[insv] == '"') {
        span ins;
        size_t p = insv;
        if (!parse_string(s, n, &p, &ins)) return "malformed instructions";
        bytes += str_decoded(ins, NULL);
        count = add_sat(count, 1);
    }
    if (obj_int(s, n, 0, "max_output_tokens", &own)) limit = min_limit(limit, own);
    r->cut = put_reply(&r->text, last, cap_for_limit(limit), &reply_bytes);
    r->u.prompt = prompt_tokens(bytes, count);
    r->u.completion = tokens_for_bytes(reply_bytes);
    return NULL;
}

static void put_text(buf *b, const reply *r) { put(b, r->text.p, r->text.len); }

static void put_chat_usage(buf *b, usage u)
{
    put_s(b, "\"usage\":{\"prompt_tokens\":");
    put_i64(b, u.prompt);
    put_s(b, ",\"completion_tokens\":");
    put_i64(b, u.completion);
    put_s(b, ",\"total_tokens\":");
    put_i64(b, add_sat(u.prompt, u.completion));
    put_s(b, "}");
}

static void chat_json(buf *b, span alias, uint64_t id, const reply *r)
{
    put_s(b, "{\"id\":\"chatcmpl-echo-");
    put_hex64(b, id);
    put_s(b, "\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"");
    put_escaped(b, alias);
    put_s(b, "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
    put_text(b, r);
    put_s(b, "\"},\"finish_reason\":\"");
    put_s(b, r->cut ? "length" : "stop");
    put_s(b, "\"}],");
    put_chat_usage(b, r->u);
    put_s(b, "}");
}

/* The "message" output item of a response; `done` 0 gives the in-progress item with no content. */
static void put_response_item(buf *b, uint64_t id, const reply *r, int done)
{
    put_s(b, "{\"type\":\"message\",\"id\":\"msg-echo-");
    put_hex64(b, id);
    put_s(b, "\",\"status\":\"");
    put_s(b, !done ? "in_progress" : r->cut ? "incomplete" : "completed");
    if (!done) { put_s(b, "\",\"role\":\"assistant\",\"content\":[]}"); return; }
    put_s(b, "\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"");
    put_text(b, r);
    put_s(b, "\",\"annotations\":[]}]}");
}

static void responses_json(buf *b, span alias, uint64_t id, const reply *r)
{
    const char *status = r->cut ? "incomplete" : "completed";
    put_s(b, "{\"id\":\"resp-echo-");
    put_hex64(b, id);
    put_s(b, "\",\"object\":\"response\",\"created_at\":0,\"status\":\"");
    put_s(b, status);
    put_s(b, r->cut ? "\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"model\":\""
                    : "\",\"model\":\"");
    put_escaped(b, alias);
    put_s(b, "\",\"output\":[");
    put_response_item(b, id, r, 1);
    put_s(b, "],\"usage\":{\"input_tokens\":");
    put_i64(b, r->u.prompt);
    put_s(b, ",\"output_tokens\":");
    put_i64(b, r->u.completion);
    put_s(b, ",\"total_tokens\":");
    put_i64(b, add_sat(r->u.prompt, r->u.completion));
    put_s(b, "}}");
}

/* Streams: the reply's raw text is sent in pieces of at most ECHO_PIECE bytes, cut only between
   units (a whole escape or UTF-8 character; a unit longer than a piece goes alone). Pieces are at
   most half the reply, so any reply (at least "Echo") comes in two pieces or more; a long one in
   at most about ECHO_MAX_PIECES, the pieces growing, which bounds the stream's size. */
static size_t piece_size(size_t n)
{
    size_t p = ECHO_PIECE;
    if (n / ECHO_MAX_PIECES + 1 > p) p = n / ECHO_MAX_PIECES + 1;
    if (p > n / 2 + n % 2) p = n / 2 + n % 2;
    return p ? p : 1;
}

/* The end of the piece of t[0..n) that starts at i (> i while i < n). */
static size_t piece_end(const uint8_t *t, size_t n, size_t i, size_t size)
{
    size_t e = i;
    uint8_t dec[4];
    size_t dlen;
    while (e < n) {
        size_t step = str_unit(t, n, e, dec, &dlen);
        if (step == 0) step = 1; /* not reached: the reply is well-formed */
        if (e > i && step > size - (e - i)) break;
        e += step;
        if (e - i >= size) break;
    }
    return e;
}

/* One chat chunk up to and including `"choices":[`. */
static void chat_chunk_head(buf *b, span alias, uint64_t id)
{
    put_s(b, "data: {\"id\":\"chatcmpl-echo-");
    put_hex64(b, id);
    put_s(b, "\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"");
    put_escaped(b, alias);
    put_s(b, "\",\"choices\":[");
}

/* The streamed chat completion: a role chunk, the content pieces, the finish chunk, the usage-only
   chunk when the call asks for stream usage, and [DONE]. */
static void chat_sse(buf *b, span alias, uint64_t id, const reply *r, int include_usage)
{
    const uint8_t *t = r->text.p;
    size_t n = r->text.len, size = piece_size(n);
    chat_chunk_head(b, alias, id);
    put_s(b, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
    for (size_t i = 0; i < n && !b->bad;) {
        size_t e = piece_end(t, n, i, size);
        chat_chunk_head(b, alias, id);
        put_s(b, "{\"index\":0,\"delta\":{\"content\":\"");
        put(b, t + i, e - i);
        put_s(b, "\"},\"finish_reason\":null}]}\n\n");
        i = e;
    }
    chat_chunk_head(b, alias, id);
    put_s(b, "{\"index\":0,\"delta\":{},\"finish_reason\":\"");
    put_s(b, r->cut ? "length" : "stop");
    put_s(b, "\"}]}\n\n");
    if (include_usage) {
        chat_chunk_head(b, alias, id);
        put_s(b, "],");
        put_chat_usage(b, r->u);
        put_s(b, "}\n\n");
    }
    put_s(b, "data: [DONE]\n\n");
}

/* One Responses API event up to and including its sequence number. */
static void response_event_head(buf *b, const char *type, int64_t *seq)
{
    put_s(b, "event: ");
    put_s(b, type);
    put_s(b, "\ndata: {\"type\":\"");
    put_s(b, type);
    put_s(b, "\",\"sequence_number\":");
    put_i64(b, (*seq)++);
}

static void response_item_ref(buf *b, uint64_t id)
{
    put_s(b, ",\"item_id\":\"msg-echo-");
    put_hex64(b, id);
    put_s(b, "\",\"output_index\":0,\"content_index\":0");
}

/* The streamed response, in OpenAI's event order: created, in_progress, output_item.added,
   content_part.added, output_text.delta per piece, output_text.done, content_part.done,
   output_item.done, and response.completed carrying the whole non-stream answer (with its usage,
   status and incomplete_details). No [DONE]: the Responses API sends none. */
static void responses_sse(buf *b, span alias, uint64_t id, const reply *r)
{
    static const char *const starts[] = {"response.created", "response.in_progress"};
    const uint8_t *t = r->text.p;
    size_t n = r->text.len, size = piece_size(n);
    int64_t seq = 0;
    for (int k = 0; k < 2; k++) {
        response_event_head(b, starts[k], &seq);
        put_s(b, ",\"response\":{\"id\":\"resp-echo-");
        put_hex64(b, id);
        put_s(b, "\",\"object\":\"response\",\"created_at\":0,\"status\":\"in_progress\",\"model\":\"");
        put_escaped(b, alias);
        put_s(b, "\",\"output\":[],\"usage\":null}}\n\n");
    }
    response_event_head(b, "response.output_item.added", &seq);
    put_s(b, ",\"output_index\":0,\"item\":");
    put_response_item(b, id, r, 0);
    put_s(b, "}\n\n");
    response_event_head(b, "response.content_part.added", &seq);
    response_item_ref(b, id);
    put_s(b, ",\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}\n\n");
    for (size_t i = 0; i < n && !b->bad;) {
        size_t e = piece_end(t, n, i, size);
        response_event_head(b, "response.output_text.delta", &seq);
        response_item_ref(b, id);
        put_s(b, ",\"delta\":\"");
        put(b, t + i, e - i);
        put_s(b, "\"}\n\n");
        i = e;
    }
    response_event_head(b, "response.output_text.done", &seq);
    response_item_ref(b, id);
    put_s(b, ",\"text\":\"");
    put_text(b, r);
    put_s(b, "\"}\n\n");
    response_event_head(b, "response.content_part.done", &seq);
    response_item_ref(b, id);
    put_s(b, ",\"part\":{\"type\":\"output_text\",\"text\":\"");
    put_text(b, r);
    put_s(b, "\",\"annotations\":[]}}\n\n");
    response_event_head(b, "response.output_item.done", &seq);
    put_s(b, ",\"output_index\":0,\"item\":");
    put_response_item(b, id, r, 1);
    put_s(b, "}\n\n");
    response_event_head(b, "response.completed", &seq);
    put_s(b, ",\"response\":");
    responses_json(b, alias, id, r);
    put_s(b, "}\n\n");
}

/* ------------------------------------------------------------------------------------------ */
/* Embeddings                                                                                  */

static void put_base64(buf *b, const uint8_t *d, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n) v |= d[i + 2];
        char t[4] = {a[(v >> 18) & 63], a[(v >> 12) & 63], i + 1 < n ? a[(v >> 6) & 63] : '=',
                     i + 2 < n ? a[v & 63] : '='};
        put(b, t, 4);
    }
}

/* One embedding: ECHO_DIMENSIONS values in [-1, 1] with 6 decimals, from FNV-1a of the decoded
   input. Printed from integers (no floating point, no locale); base64 = little-endian float32. */
static void put_embedding(buf *b, span raw, int base64)
{
    uint64_t h = fnv1a_init();
    str_decoded(raw, &h);
    uint8_t packed[ECHO_DIMENSIONS * 4];
    if (!base64) put_s(b, "[");
    for (int k = 0; k < ECHO_DIMENSIONS; k++) {
        uint64_t x = splitmix64(h ^ (((uint64_t)k + 1u) * 0xd6e8feb86659fd93u));
        int64_t micro = (int64_t)(x % 2000001u) - 1000000; /* [-1000000, 1000000] */
        if (base64) {
            float f = (float)((double)micro / 1000000.0);
            uint32_t bits;
            memcpy(&bits, &f, 4);
            for (int j = 0; j < 4; j++) packed[k * 4 + j] = (uint8_t)(bits >> (8 * j));
            continue;
        }
        if (k) put_s(b, ",");
        uint64_t m = micro < 0 ? (uint64_t)(-micro) : (uint64_t)micro;
        char t[10];
        t[0] = '0' + (char)(m / 1000000);
        t[1] = '.';
        uint64_t frac = m % 1000000;
        for (int j = 7; j >= 2; j--) { t[j] = (char)('0' + frac % 10); frac /= 10; }
        if (micro < 0) put_s(b, "-");
        put(b, t, 8);
    }
    if (base64) { put_s(b, "\""); put_base64(b, packed, sizeof packed); put_s(b, "\""); }
    else put_s(b, "]");
}

static const char *embeddings(const uint8_t *s, size_t n, span alias, buf *b, usage *u)
{
    size_t iv, fv;
    int base64 = 0;
    int64_t prompt = 0, index = 0;
    if (obj_find(s, n, 0, "encoding_format", &fv) == 1 && s[fv] == '"') {
        span f;
        size_t p = fv;
        if (!parse_string(s, n, &p, &f)) return "malformed encoding_format";
        if (f.n == 6 && memcmp(f.p, "base64", 6) == 0) base64 = 1;
        else if (!(f.n == 5 && memcmp(f.p, "float", 5) == 0)) return "encoding_format must be float or base64";
    }
    if (obj_find(s, n, 0, "input", &iv) != 1 || (s[iv] != '"' && s[iv] != '['))
        return "input must be a string or an array of strings";
    put_s(b, "{\"object\":\"list\",\"data\":[");
    arr_iter it;
    int single = s[iv] == '"', r = 1;
    size_t e = iv;
    if (!single && !arr_begin(&it, s, n, iv)) return "malformed input";
    while (single ? (index == 0) : ((r = arr_next(&it, &e)) == 1)) {
        span raw;
        size_t p = e;
        if (s[e] != '"') return "input must be a string or an array of strings";
        if (!parse_string(s, n, &p, &raw)) return "malformed input";
        if (index) put_s(b, ",");
        put_s(b, "{\"object\":\"embedding\",\"index\":");
        put_i64(b, index);
        put_s(b, ",\"embedding\":");
        put_embedding(b, raw, base64);
        put_s(b, "}");
        prompt = add_sat(prompt, tokens_for_bytes(str_decoded(raw, NULL)));
        index++;
    }
    if (r < 0) return "malformed input";
    if (index == 0) return "input must not be empty";
    if (prompt < 1) prompt = 1;
    u->prompt = prompt;
    u->completion = 0;
    put_s(b, "],\"model\":\"");
    put_escaped(b, alias);
    put_s(b, "\",\"usage\":{\"prompt_tokens\":");
    put_i64(b, prompt);
    put_s(b, ",\"total_tokens\":");
    put_i64(b, prompt);
    put_s(b, "}}");
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Hooks and entry                                                                             */

static aex_bytes cstr(const char *s)
{
    aex_bytes b = {(const uint8_t *)s, strlen(s)};
    return b;
}

static int32_t fail(aex_output *out, int32_t status, const char *why)
{
    echo_host->set_error(out, cstr(why));
    return status;
}

static int view_ok(aex_bytes b) { return b.length == 0 || b.bytes != NULL; }

/* Whether the writer of a struct of `size` bytes had the field at [offset, offset + width). */
#define HAS_FIELD(size, type, field) ((size_t)(size) >= offsetof(type, field) + sizeof(((type *)0)->field))

/* The host offers emit (ABI 1.1), which streams need. */
static int host_can_stream(const aex_host_table *host)
{
    return HAS_FIELD(host->struct_size, aex_host_table, emit) && host->emit != NULL;
}

static int32_t echo_build_request(const aex_call *call, aex_output *out)
{
    const aex_host_table *host = echo_host;
    if (!host || !out || !host->set_error || !host->set_body || !host->set_local_response ||
        !host->set_usage)
        return AEX_STATUS_ERROR;
    if (!call || !HAS_FIELD(call->struct_size, aex_call, stream))
        return fail(out, AEX_STATUS_ERROR, "echo: call description too small");
    if (!view_ok(call->body) || !view_ok(call->model_alias))
        return fail(out, AEX_STATUS_ERROR, "echo: bad call description");
    if (call->endpoint != AEX_ENDPOINT_CHAT_COMPLETIONS && call->endpoint != AEX_ENDPOINT_EMBEDDINGS &&
        call->endpoint != AEX_ENDPOINT_RESPONSES)
        return fail(out, AEX_STATUS_UNSUPPORTED, "echo does not serve this endpoint");
    int stream = call->stream;
    int include_usage = stream && HAS_FIELD(call->struct_size, aex_call, include_stream_usage) &&
                        call->include_stream_usage;
    if (stream && call->endpoint == AEX_ENDPOINT_EMBEDDINGS)
        return fail(out, AEX_STATUS_UNSUPPORTED, "echo does not stream embeddings");
    if (stream && !host_can_stream(host))
        return fail(out, AEX_STATUS_UNSUPPORTED, "echo streams only with an ABI 1.1 host");

    const uint8_t *s = call->body.length ? call->body.bytes : (const uint8_t *)"";
    size_t n = call->body.length, p = skip_ws(s, n, 0);
    span alias = {call->model_alias.length ? call->model_alias.bytes : (const uint8_t *)"",
                  call->model_alias.length};
    /* Work on the object itself: trim the surrounding whitespace. */
    if (p >= n || s[p] != '{') return fail(out, AEX_STATUS_ERROR, "request body must be a JSON object");
    size_t end = p;
    if (!skip_value(s, n, &end, 0) || skip_ws(s, n, end) != n)
        return fail(out, AEX_STATUS_ERROR, "request body is not valid JSON");
    uint64_t id = fnv1a_add(fnv1a_init(), s, n);
    s += p;
    n = end - p;

    buf b = {NULL, 0, 0, 0};
    reply r = {{NULL, 0, 0, 0}, 0, {0, 0}};
    usage u = {0, 0};
    const char *why;
    if (call->endpoint == AEX_ENDPOINT_EMBEDDINGS) {
        why = embeddings(s, n, alias, &b, &u);
    } else {
        int chat = call->endpoint == AEX_ENDPOINT_CHAT_COMPLETIONS;
        why = chat ? chat_reply(call, s, n, &r) : responses_reply(call, s, n, &r);
        if (!why && !r.text.bad) {
            if (chat && stream) chat_sse(&b, alias, id, &r, include_usage);
            else if (chat) chat_json(&b, alias, id, &r);
            else if (stream) responses_sse(&b, alias, id, &r);
            else responses_json(&b, alias, id, &r);
            u = r.u;
        }
        if (r.text.bad) b.bad = 1;
        free(r.text.p);
    }
    if (!why && b.bad) why = "echo: answer too large";
    if (why) {
        free(b.p);
        return fail(out, AEX_STATUS_ERROR, why);
    }
    host->set_local_response(out, 200, cstr(stream ? "text/event-stream" : "application/json"));
    aex_bytes body = {b.p, b.len};
    host->set_body(out, body);
    host->set_usage(out, u.prompt, u.completion);
    free(b.p);
    return AEX_STATUS_OK;
}

/* The usage in the object at s[at] == '{' (a chunk, or a response), when it has a `usage` object
   with both counts as non-negative integers under these names. */
static int usage_in(const uint8_t *s, size_t n, size_t at, const char *prompt_key,
                    const char *completion_key, usage *u)
{
    size_t uv;
    if (obj_find(s, n, at, "usage", &uv) != 1 || s[uv] != '{') return 0;
    return obj_int(s, n, uv, prompt_key, &u->prompt) && obj_int(s, n, uv, completion_key, &u->completion);
}

/* One event of the stream build_request wrote, as the host hands it back (the event's data; never
   [DONE]). The data is emitted unchanged: build_request already showed the alias. Usage is reported
   when the event carries it: a chat chunk's `usage` (the usage-only chunk, `"choices":[]`, returns
   AEX_STATUS_USAGE_ONLY), or the `usage` of the `response` of response.completed (never
   usage-only). As the openai-compatible plugin does for a real upstream stream. */
static int32_t echo_translate_stream_event(const aex_call *call, aex_bytes data, aex_output *out)
{
    const aex_host_table *host = echo_host;
    if (!host || !out || !host->set_error) return AEX_STATUS_ERROR;
    if (!host_can_stream(host) || !host->set_usage)
        return fail(out, AEX_STATUS_ERROR, "echo: host lacks the stream callbacks");
    if (!call || !HAS_FIELD(call->struct_size, aex_call, stream))
        return fail(out, AEX_STATUS_ERROR, "echo: call description too small");
    int chat = call->endpoint == AEX_ENDPOINT_CHAT_COMPLETIONS;
    if (!chat && call->endpoint != AEX_ENDPOINT_RESPONSES)
        return fail(out, AEX_STATUS_UNSUPPORTED, "echo streams chat completions and responses only");
    if (!view_ok(data)) return fail(out, AEX_STATUS_ERROR, "echo: bad stream event");

    const uint8_t *s = data.length ? data.bytes : (const uint8_t *)"";
    size_t n = data.length, p = skip_ws(s, n, 0), end = p;
    if (p >= n || s[p] != '{' || !skip_value(s, n, &end, 0) || skip_ws(s, n, end) != n)
        return fail(out, AEX_STATUS_ERROR, "echo: malformed stream event");

    usage u;
    int has_usage = 0, usage_only = 0;
    if (chat) {
        size_t cv;
        has_usage = usage_in(s, n, p, "prompt_tokens", "completion_tokens", &u);
        if (has_usage && obj_find(s, n, p, "choices", &cv) == 1 && s[cv] == '[')
            usage_only = skip_ws(s, n, cv + 1) < n && s[skip_ws(s, n, cv + 1)] == ']';
    } else {
        size_t rv;
        if (obj_find(s, n, p, "response", &rv) == 1 && s[rv] == '{')
            has_usage = usage_in(s, n, rv, "input_tokens", "output_tokens", &u);
    }
    if (has_usage) host->set_usage(out, u.prompt, u.completion);
    aex_bytes same = {s, n};
    host->emit(out, same);
    return usage_only ? AEX_STATUS_USAGE_ONLY : AEX_STATUS_OK;
}

static const aex_plugin_table echo_table = {
    sizeof(aex_plugin_table),
    AEX_PLUGIN_ABI_MAJOR,
    AEX_PLUGIN_ABI_MINOR,
    AEX_PLUGIN_KIND_PROVIDER,
    "echo",
    "0.1.0",
    "echo",
    echo_build_request,
    NULL, /* translate_response: echo never calls upstream */
    echo_translate_stream_event,
    NULL, /* tools: a provider plugin has none (1.2) */
    NULL, /* run_tool */
    NULL, /* key_header: echo needs no key (1.3) */
    0,    /* flags */
};

const aex_plugin_table *aex_plugin_entry(const aex_host_table *host);

/* Accepts every 1.x host: one with the 1.0 table (no emit) answers everything but streams. */
const aex_plugin_table *aex_plugin_entry(const aex_host_table *host)
{
    if (host == NULL || host->abi_major != AEX_PLUGIN_ABI_MAJOR) return NULL;
    if (!HAS_FIELD(host->struct_size, aex_host_table, set_error)) return NULL; /* smaller than 1.0 */
    echo_host = host;
    return &echo_table;
}
