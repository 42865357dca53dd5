/*
 * echo_test.c — loads libaex-echo.so like the host does and checks it through a fake host table.
 *   echo_test PATH/TO/libaex-echo.so [DUMP_DIR]
 * Prints "PASS name" / "FAIL name: detail" lines and a final "driver: P passed, F failed".
 * With DUMP_DIR, successful answer bodies are also written there for an outside JSON check (.json)
 * and SSE check (.sse, streamed answers).
 */
#define _POSIX_C_SOURCE 200809L
#include "aex_plugin.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Results                                                                                     */

static int passed, failed;

static void check(int ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        passed++;
        printf("PASS %s\n", name);
        return;
    }
    failed++;
    printf("FAIL %s: ", name);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* ------------------------------------------------------------------------------------------ */
/* The fake host: callbacks record what the plugin hands back (copying, as the host does).     */

struct aex_output {
    int live; /* 1 while a hook runs */
};

typedef struct {
    int local_calls, body_calls, usage_calls, error_calls, upstream_calls, header_calls, emit_calls, stray;
    int32_t status;
    char content_type[64];
    unsigned char *body;
    size_t body_len;
    unsigned char *emitted; /* the bytes of the last emit */
    size_t emitted_len;
    int64_t prompt, completion;
    char error[256];
} record;

static record rec;
static struct aex_output the_out;

static void reset(void)
{
    free(rec.body);
    free(rec.emitted);
    memset(&rec, 0, sizeof rec);
}

static int valid_out(aex_output *out)
{
    if (out != &the_out || !out->live) { rec.stray++; return 0; }
    return 1;
}

static void host_log(int32_t level, aex_bytes message) { (void)level; (void)message; }

static void host_set_upstream(aex_output *out, aex_bytes method, aex_bytes path)
{
    (void)method; (void)path;
    if (valid_out(out)) rec.upstream_calls++;
}

static void host_add_header(aex_output *out, aex_bytes name, aex_bytes value)
{
    (void)name; (void)value;
    if (valid_out(out)) rec.header_calls++;
}

static void host_set_body(aex_output *out, aex_bytes body)
{
    if (!valid_out(out)) return;
    rec.body_calls++;
    free(rec.body);
    rec.body = malloc(body.length + 1);
    if (body.length) memcpy(rec.body, body.bytes, body.length);
    rec.body[body.length] = 0;
    rec.body_len = body.length;
}

static void host_set_local_response(aex_output *out, int32_t status, aex_bytes content_type)
{
    if (!valid_out(out)) return;
    rec.local_calls++;
    rec.status = status;
    size_t n = content_type.length < sizeof rec.content_type - 1 ? content_type.length : sizeof rec.content_type - 1;
    memcpy(rec.content_type, content_type.bytes, n);
    rec.content_type[n] = 0;
}

static void host_set_usage(aex_output *out, int64_t prompt_tokens, int64_t completion_tokens)
{
    if (!valid_out(out)) return;
    rec.usage_calls++;
    rec.prompt = prompt_tokens;
    rec.completion = completion_tokens;
}

static void host_set_error(aex_output *out, aex_bytes message)
{
    if (!valid_out(out)) return;
    rec.error_calls++;
    size_t n = message.length < sizeof rec.error - 1 ? message.length : sizeof rec.error - 1;
    memcpy(rec.error, message.bytes, n);
    rec.error[n] = 0;
}

static void host_emit(aex_output *out, aex_bytes bytes)
{
    if (!valid_out(out)) return;
    rec.emit_calls++;
    free(rec.emitted);
    rec.emitted = malloc(bytes.length + 1);
    if (bytes.length) memcpy(rec.emitted, bytes.bytes, bytes.length);
    rec.emitted[bytes.length] = 0;
    rec.emitted_len = bytes.length;
}

/* The emit of a host table that stops before it (ABI 1.0 size): the plugin must never call it. */
static int forbidden_emits;
static void host_emit_forbidden(aex_output *out, aex_bytes bytes)
{
    (void)out;
    (void)bytes;
    forbidden_emits++;
}

static const aex_host_table host = {
    sizeof(aex_host_table), AEX_PLUGIN_ABI_MAJOR, AEX_PLUGIN_ABI_MINOR, host_log, host_set_upstream,
    host_add_header, host_set_body, host_set_local_response, host_set_usage, host_set_error, host_emit,
    NULL, /* set_cost: tool calls only (1.2) */
    NULL, /* set_stream_state: echo keeps no stream state (1.3) */
    NULL, /* end_stream: echo's streams end with [DONE] (1.3) */
};

static const aex_plugin_table *table;

/* ------------------------------------------------------------------------------------------ */
/* Calling the plugin                                                                          */

static const char *alias_text = "demo-model";
static const char *provider_text = "llama-3.1-8b-instant";

static aex_bytes view(const char *s) { aex_bytes b = {(const uint8_t *)s, strlen(s)}; return b; }

static aex_call make_call(uint32_t endpoint, const unsigned char *body, size_t len, aex_bytes alias,
                          int64_t max_out, int stream, int include_usage)
{
    aex_call call;
    memset(&call, 0, sizeof call);
    call.struct_size = sizeof call;
    call.endpoint = endpoint;
    call.body.bytes = body;
    call.body.length = len;
    call.model_alias = alias;
    call.provider_model = view(provider_text);
    call.provider_type = view("echo");
    call.max_output_tokens = max_out;
    call.stream = stream != 0;
    call.include_stream_usage = include_usage != 0;
    return call;
}

static unsigned char *copy_of(const void *p, size_t n)
{
    unsigned char *c = malloc(n ? n : 1);
    if (n) memcpy(c, p, n);
    return c;
}

/* Runs build_request on an exact-size heap copy of the body (no NUL after it). */
static int32_t run_bytes(uint32_t endpoint, const unsigned char *body, size_t len, aex_bytes alias,
                         int64_t max_out, int stream, int include_usage)
{
    reset();
    unsigned char *copy = len ? copy_of(body, len) : NULL;
    aex_call call = make_call(endpoint, copy, len, alias, max_out, stream, include_usage);
    the_out.live = 1;
    int32_t st = table->build_request(&call, &the_out);
    the_out.live = 0;
    free(copy);
    return st;
}

static int32_t run(uint32_t endpoint, const char *body, int64_t max_out)
{
    return run_bytes(endpoint, (const unsigned char *)body, strlen(body), view(alias_text), max_out, 0, 0);
}

static int32_t run_stream(uint32_t endpoint, const char *body, int64_t max_out, int include_usage)
{
    return run_bytes(endpoint, (const unsigned char *)body, strlen(body), view(alias_text), max_out, 1, include_usage);
}

/* Runs translate_stream_event on an exact-size heap copy of one event's data (-1: no such hook). */
static int32_t run_event(const aex_call *call, const unsigned char *data, size_t len)
{
    reset();
    if (!table->translate_stream_event) return -1;
    unsigned char *copy = len ? copy_of(data, len) : NULL;
    aex_bytes d = {copy, len};
    the_out.live = 1;
    int32_t st = table->translate_stream_event(call, d, &the_out);
    the_out.live = 0;
    free(copy);
    return st;
}

static const char *body_str(void) { return rec.body ? (const char *)rec.body : "(none)"; }

/* ------------------------------------------------------------------------------------------ */
/* A strict JSON validator (independent of the plugin's scanner).                             */

static size_t jv_ws(const unsigned char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

static int jv_value(const unsigned char *s, size_t n, size_t *i, int depth);

static int jv_string(const unsigned char *s, size_t n, size_t *i)
{
    size_t k = *i;
    if (k >= n || s[k] != '"') return 0;
    k++;
    while (k < n) {
        unsigned char c = s[k];
        if (c == '"') { *i = k + 1; return 1; }
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (k + 1 >= n) return 0;
            unsigned char e = s[k + 1];
            if (e == 'u') {
                if (k + 6 > n) return 0;
                unsigned v = 0;
                for (int j = 2; j < 6; j++) {
                    unsigned char h = s[k + j];
                    int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                          : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
                    if (d < 0) return 0;
                    v = v * 16 + (unsigned)d;
                }
                /* a high surrogate must be followed by a low one (strict decoders insist) */
                if (v >= 0xD800 && v <= 0xDBFF) {
                    if (k + 12 > n || s[k + 6] != '\\' || s[k + 7] != 'u') return 0;
                    k += 6;
                    continue;
                }
                k += 6;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                k += 2;
            } else {
                return 0;
            }
            continue;
        }
        if (c < 0x80) { k++; continue; }
        int len = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        if (!len || k + (size_t)len > n) return 0;
        for (int j = 1; j < len; j++)
            if ((s[k + j] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[k + 1] < 0xA0) return 0;
        if (c == 0xED && s[k + 1] > 0x9F) return 0;
        if (c == 0xF0 && s[k + 1] < 0x90) return 0;
        if (c == 0xF4 && s[k + 1] > 0x8F) return 0;
        k += (size_t)len;
    }
    return 0;
}

static int jv_digits(const unsigned char *s, size_t n, size_t *i)
{
    size_t k = *i;
    while (k < n && s[k] >= '0' && s[k] <= '9') k++;
    if (k == *i) return 0;
    *i = k;
    return 1;
}

static int jv_value(const unsigned char *s, size_t n, size_t *i, int depth)
{
    if (depth > 200 || *i >= n) return 0;
    unsigned char c = s[*i];
    if (c == '"') return jv_string(s, n, i);
    if (c == '{' || c == '[') {
        unsigned char close = c == '{' ? '}' : ']';
        size_t k = jv_ws(s, n, *i + 1);
        if (k < n && s[k] == close) { *i = k + 1; return 1; }
        for (;;) {
            if (c == '{') {
                if (!jv_string(s, n, &k)) return 0;
                k = jv_ws(s, n, k);
                if (k >= n || s[k] != ':') return 0;
                k = jv_ws(s, n, k + 1);
            }
            if (!jv_value(s, n, &k, depth + 1)) return 0;
            k = jv_ws(s, n, k);
            if (k < n && s[k] == ',') { k = jv_ws(s, n, k + 1); continue; }
            if (k < n && s[k] == close) { *i = k + 1; return 1; }
            return 0;
        }
    }
    const char *words[] = {"true", "false", "null"};
    for (int w = 0; w < 3; w++) {
        size_t L = strlen(words[w]);
        if (n - *i >= L && memcmp(s + *i, words[w], L) == 0) { *i += L; return 1; }
    }
    size_t k = *i;
    if (s[k] == '-') k++;
    if (k < n && s[k] == '0') k++;
    else if (!jv_digits(s, n, &k)) return 0;
    if (k < n && s[k] == '.') { k++; if (!jv_digits(s, n, &k)) return 0; }
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        if (!jv_digits(s, n, &k)) return 0;
    }
    *i = k;
    return 1;
}

static int json_valid(const unsigned char *s, size_t n)
{
    size_t i = jv_ws(s, n, 0);
    if (!jv_value(s, n, &i, 0)) return 0;
    return jv_ws(s, n, i) == n;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading values out of validated JSON (for the stream checks).                              */

/* The bounds of the value at `path` ("choices.0.delta": member names and array indexes) in the
   validated JSON text s[0..n). The first member of a name is taken (answers never repeat one). */
static int jget(const unsigned char *s, size_t n, const char *path, size_t *vs, size_t *ve)
{
    size_t i = jv_ws(s, n, 0);
    const char *seg = path;
    for (;;) {
        if (*seg == 0) {
            size_t e = i;
            if (!jv_value(s, n, &e, 0)) return 0;
            *vs = i;
            *ve = e;
            return 1;
        }
        const char *dot = strchr(seg, '.');
        size_t sl = dot ? (size_t)(dot - seg) : strlen(seg);
        int found = 0;
        if (i < n && (s[i] == '{' || s[i] == '[')) {
            int object = s[i] == '{';
            long want = object ? -1 : strtol(seg, NULL, 10);
            size_t k = jv_ws(s, n, i + 1);
            if (k < n && s[k] == (object ? '}' : ']')) return 0;
            for (long j = 0;; j++) {
                int match = j == want;
                if (object) {
                    size_t ks = k;
                    if (!jv_string(s, n, &k)) return 0;
                    match = k - ks - 2 == sl && memcmp(s + ks + 1, seg, sl) == 0;
                    k = jv_ws(s, n, k);
                    if (k >= n || s[k] != ':') return 0;
                    k = jv_ws(s, n, k + 1);
                }
                if (match) { i = k; found = 1; break; }
                if (!jv_value(s, n, &k, 0)) return 0;
                k = jv_ws(s, n, k);
                if (k < n && s[k] == ',') { k = jv_ws(s, n, k + 1); continue; }
                return 0;
            }
        }
        if (!found) return 0;
        seg = dot ? dot + 1 : seg + sl;
    }
}

/* The value at `path` is exactly the JSON text `lit`. */
static int jis(const unsigned char *s, size_t n, const char *path, const char *lit)
{
    size_t a, b;
    return jget(s, n, path, &a, &b) && b - a == strlen(lit) && memcmp(s + a, lit, b - a) == 0;
}

/* The value at `path` is a string: its raw (escaped) contents. */
static int jstr(const unsigned char *s, size_t n, const char *path, const unsigned char **p, size_t *len)
{
    size_t a, b;
    if (!jget(s, n, path, &a, &b) || s[a] != '"') return 0;
    *p = s + a + 1;
    *len = b - a - 2;
    return 1;
}

/* The value at `path` is a non-negative integer. */
static int jint(const unsigned char *s, size_t n, const char *path, long long *v)
{
    size_t a, b;
    if (!jget(s, n, path, &a, &b) || a == b || b - a > 18) return 0;
    long long x = 0;
    for (size_t k = a; k < b; k++) {
        if (s[k] < '0' || s[k] > '9') return 0;
        x = x * 10 + (s[k] - '0');
    }
    *v = x;
    return 1;
}

/* The same bytes at path `pa` of a and path `pb` of b. */
static int jsame(const unsigned char *a, size_t an, const char *pa, const unsigned char *b, size_t bn, const char *pb)
{
    size_t as, ae, bs, be;
    return jget(a, an, pa, &as, &ae) && jget(b, bn, pb, &bs, &be) && ae - as == be - bs &&
           memcmp(a + as, b + bs, ae - as) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Streams: Server-Sent Events as the host splits them, and the settlement checks.             */

typedef struct {
    const unsigned char *type; /* the `event:` name (responses), or NULL */
    size_t type_len;
    const unsigned char *data; /* the `data:` line, without "data: " */
    size_t data_len;
} sse_event;

/* Splits a whole SSE body strictly: blocks ending in a blank line, each `data: ...` alone (chat)
   or `event: NAME` then `data: ...` (responses), one line each, no carriage returns. */
static int sse_split(const unsigned char *s, size_t n, int named, sse_event **events, size_t *count, char *why,
                     size_t wcap)
{
    size_t pos = 0, cap = 16;
    *count = 0;
    *events = malloc(cap * sizeof **events);
    if (n == 0) { snprintf(why, wcap, "empty stream"); return 0; }
    while (pos < n) {
        const unsigned char *blank = NULL;
        for (size_t k = pos; k + 1 < n; k++)
            if (s[k] == '\n' && s[k + 1] == '\n') { blank = s + k; break; }
        if (!blank) { snprintf(why, wcap, "event %zu does not end with a blank line", *count); return 0; }
        size_t end = (size_t)(blank - s);
        if (memchr(s + pos, '\r', end - pos)) { snprintf(why, wcap, "carriage return in event %zu", *count); return 0; }
        sse_event ev = {NULL, 0, NULL, 0};
        size_t k = pos;
        if (named) {
            if (end - k < 7 || memcmp(s + k, "event: ", 7) != 0) { snprintf(why, wcap, "event %zu has no event line", *count); return 0; }
            const unsigned char *nl = memchr(s + k, '\n', end - k);
            if (!nl) { snprintf(why, wcap, "event %zu has no data line", *count); return 0; }
            ev.type = s + k + 7;
            ev.type_len = (size_t)(nl - ev.type);
            k = (size_t)(nl - s) + 1;
        }
        if (end - k < 6 || memcmp(s + k, "data: ", 6) != 0) { snprintf(why, wcap, "event %zu has no data line", *count); return 0; }
        ev.data = s + k + 6;
        ev.data_len = end - k - 6;
        if (memchr(ev.data, '\n', ev.data_len)) { snprintf(why, wcap, "event %zu has several lines", *count); return 0; }
        if (*count == cap) { cap *= 2; *events = realloc(*events, cap * sizeof **events); }
        (*events)[(*count)++] = ev;
        pos = end + 2;
    }
    return 1;
}

static int is_done(const sse_event *e) { return e->data_len == 6 && memcmp(e->data, "[DONE]", 6) == 0; }

static int event_named(const sse_event *e, const char *name)
{
    return e->type && e->type_len == strlen(name) && memcmp(e->type, name, e->type_len) == 0;
}

static void dump_ext(const char *dir, const char *name, const char *ext, const unsigned char *bytes, size_t len)
{
    if (!dir || !bytes) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(bytes, 1, len, f);
    fclose(f);
}

/* What check_stream saw, for the named tests. */
typedef struct {
    size_t events, pieces, usage_reports, usage_only;
    int32_t status;
} stream_facts;

/* The streamed call against the same call without streaming, all the way through the host's path:
   build_request with stream (a local text/event-stream answer with the non-stream usage), the body
   split into events, every event's data through translate_stream_event. Returns 1 when everything
   holds, else 0 with the reason in `why`. */
static int check_stream(uint32_t endpoint, const unsigned char *body, size_t len, aex_bytes alias, int64_t max_out,
                        int include_usage, stream_facts *facts, char *why, size_t wcap, const char *dump_dir,
                        const char *dump_name)
{
#define BAD(...) do { snprintf(why, wcap, __VA_ARGS__); goto done; } while (0)
    int ok = 0;
    unsigned char *plain = NULL, *sse = NULL, *joined = NULL, *body_copy = NULL;
    sse_event *ev = NULL;
    size_t nev = 0, plain_len = 0, sse_len = 0, joined_len = 0;
    memset(facts, 0, sizeof *facts);
    why[0] = 0;

    int32_t st0 = run_bytes(endpoint, body, len, alias, max_out, 0, 0);
    char err0[256];
    memcpy(err0, rec.error, sizeof err0);
    int64_t p0 = rec.prompt, c0 = rec.completion;
    if (st0 == AEX_STATUS_OK) { plain_len = rec.body_len; plain = copy_of(rec.body, plain_len); }

    int32_t st = run_bytes(endpoint, body, len, alias, max_out, 1, include_usage);
    facts->status = st;
    int chat = endpoint == AEX_ENDPOINT_CHAT_COMPLETIONS;
    if (!chat && endpoint != AEX_ENDPOINT_RESPONSES) {
        if (st != AEX_STATUS_UNSUPPORTED || rec.error_calls != 1 || rec.body_calls || rec.local_calls ||
            rec.usage_calls || rec.emit_calls || rec.stray)
            BAD("stream on endpoint %u: status %d, %d errors, %d bodies", endpoint, st, rec.error_calls, rec.body_calls);
        ok = 1;
        goto done;
    }
    if (st0 != AEX_STATUS_OK) {
        if (st != st0 || strcmp(rec.error, err0) != 0 || rec.error_calls != 1 || rec.body_calls || rec.local_calls ||
            rec.usage_calls || rec.emit_calls || rec.stray)
            BAD("stream status %d (%s), without stream %d (%s)", st, rec.error, st0, err0);
        ok = 1;
        goto done;
    }
    if (st != AEX_STATUS_OK) BAD("stream refused: status %d (%s)", st, rec.error);
    if (!(rec.local_calls == 1 && rec.status == 200 && strcmp(rec.content_type, "text/event-stream") == 0 &&
          rec.body_calls == 1 && rec.usage_calls == 1 && rec.error_calls == 0 && rec.upstream_calls == 0 &&
          rec.header_calls == 0 && rec.emit_calls == 0 && rec.stray == 0))
        BAD("stream answer: local %d status %d type %s bodies %d usages %d errors %d emits %d", rec.local_calls,
            rec.status, rec.content_type, rec.body_calls, rec.usage_calls, rec.error_calls, rec.emit_calls);
    if (rec.prompt != p0 || rec.completion != c0)
        BAD("stream usage %lld/%lld, without stream %lld/%lld", (long long)rec.prompt, (long long)rec.completion,
            (long long)p0, (long long)c0);
    sse_len = rec.body_len;
    sse = copy_of(rec.body, sse_len);
    if (dump_name) {
        dump_ext(dump_dir, dump_name, "sse", sse, sse_len);
        char plain_name[128];
        snprintf(plain_name, sizeof plain_name, "%s-plain", dump_name);
        dump_ext(dump_dir, plain_name, "json", plain, plain_len);
    }
    run_bytes(endpoint, body, len, alias, max_out, 1, include_usage);
    if (rec.body_len != sse_len || memcmp(rec.body, sse, sse_len) != 0) BAD("stream not deterministic");

    if (!sse_split(sse, sse_len, !chat, &ev, &nev, why, wcap)) goto done;
    facts->events = nev;
    const unsigned char *want;
    size_t want_len;
    if (!jstr(plain, plain_len, chat ? "choices.0.message.content" : "output.0.content.0.text", &want, &want_len))
        BAD("no content in the answer without stream");
    size_t piece_max = 16;
    if (want_len / 4096 + 1 > piece_max) piece_max = want_len / 4096 + 1;
    joined = malloc(sse_len + 1);

    size_t k = 0;
    if (chat) {
        if (nev < 5 || !is_done(&ev[nev - 1])) BAD("chat stream does not end with [DONE] (%zu events)", nev);
        for (size_t j = 0; j + 1 < nev; j++) {
            const unsigned char *d = ev[j].data;
            size_t dn = ev[j].data_len;
            if (!json_valid(d, dn)) BAD("chunk %zu is not JSON: %.200s", j, d);
            if (!jis(d, dn, "object", "\"chat.completion.chunk\"") || !jis(d, dn, "created", "0") ||
                !jsame(d, dn, "id", plain, plain_len, "id") || !jsame(d, dn, "model", plain, plain_len, "model"))
                BAD("chunk %zu: object, created, id or model differ: %.200s", j, d);
        }
        if (!jis(ev[0].data, ev[0].data_len, "choices.0.delta", "{\"role\":\"assistant\",\"content\":\"\"}") ||
            !jis(ev[0].data, ev[0].data_len, "choices.0.finish_reason", "null"))
            BAD("first chunk is not the role chunk: %.200s", ev[0].data);
        for (k = 1; k + 1 < nev; k++) {
            const unsigned char *d = ev[k].data, *piece;
            size_t dn = ev[k].data_len, piece_len;
            if (!jstr(d, dn, "choices.0.delta.content", &piece, &piece_len)) break;
            if (!jis(d, dn, "choices.0.finish_reason", "null") || !jis(d, dn, "choices.0.index", "0"))
                BAD("content chunk %zu: %.200s", k, d);
            if (piece_len == 0 || (piece_len > piece_max && !(piece_len <= 12 && piece[0] == '\\')))
                BAD("content chunk %zu has %zu bytes", k, piece_len);
            memcpy(joined + joined_len, piece, piece_len);
            joined_len += piece_len;
            facts->pieces++;
        }
        if (k + 1 >= nev || !jis(ev[k].data, ev[k].data_len, "choices.0.delta", "{}") ||
            !jsame(ev[k].data, ev[k].data_len, "choices.0.finish_reason", plain, plain_len, "choices.0.finish_reason"))
            BAD("no finish chunk matching the answer without stream after the content: %.200s",
                k + 1 < nev ? (const char *)ev[k].data : "(none)");
        size_t usage_at = k + 1;
        if (include_usage) {
            long long up, uc, ut;
            const unsigned char *d = ev[usage_at].data;
            size_t dn = ev[usage_at].data_len;
            if (usage_at + 1 >= nev || !jis(d, dn, "choices", "[]") || !jint(d, dn, "usage.prompt_tokens", &up) ||
                !jint(d, dn, "usage.completion_tokens", &uc) || !jint(d, dn, "usage.total_tokens", &ut) ||
                up != p0 || uc != c0 || ut != p0 + c0)
                BAD("no usage chunk with the usage without stream (%lld/%lld): %.200s", (long long)p0, (long long)c0,
                    usage_at + 1 < nev ? (const char *)d : "(none)");
            if (usage_at + 2 != nev) BAD("events after the usage chunk");
        } else if (usage_at + 1 != nev) {
            BAD("events after the finish chunk without stream usage: %.200s", ev[usage_at].data);
        }
    } else {
        static const char *const head[] = {"response.created", "response.in_progress", "response.output_item.added",
                                           "response.content_part.added"};
        static const char *const tail[] = {"response.output_text.done", "response.content_part.done",
                                           "response.output_item.done", "response.completed"};
        for (size_t j = 0; j < nev; j++) {
            const unsigned char *d = ev[j].data;
            size_t dn = ev[j].data_len;
            const unsigned char *type;
            size_t type_len;
            long long seq;
            if (is_done(&ev[j])) BAD("[DONE] in a responses stream");
            if (!json_valid(d, dn)) BAD("event %zu is not JSON: %.200s", j, d);
            if (!jstr(d, dn, "type", &type, &type_len) || type_len != ev[j].type_len ||
                memcmp(type, ev[j].type, type_len) != 0)
                BAD("event %zu: type differs from the event line: %.200s", j, d);
            if (!jint(d, dn, "sequence_number", &seq) || seq != (long long)j)
                BAD("event %zu: sequence_number: %.200s", j, d);
        }
        if (nev < 10) BAD("only %zu events", nev);
        for (size_t j = 0; j < 4; j++)
            if (!event_named(&ev[j], head[j])) BAD("event %zu is not %s", j, head[j]);
        for (size_t j = 0; j < 2; j++)
            if (!jis(ev[j].data, ev[j].data_len, "response.status", "\"in_progress\"") ||
                !jis(ev[j].data, ev[j].data_len, "response.usage", "null") ||
                !jsame(ev[j].data, ev[j].data_len, "response.id", plain, plain_len, "id") ||
                !jsame(ev[j].data, ev[j].data_len, "response.model", plain, plain_len, "model"))
                BAD("event %zu: response in progress: %.200s", j, ev[j].data);
        for (k = 4; k < nev && event_named(&ev[k], "response.output_text.delta"); k++) {
            const unsigned char *d = ev[k].data, *piece;
            size_t dn = ev[k].data_len, piece_len;
            if (!jstr(d, dn, "delta", &piece, &piece_len) || !jsame(d, dn, "item_id", plain, plain_len, "output.0.id") ||
                !jis(d, dn, "output_index", "0") || !jis(d, dn, "content_index", "0"))
                BAD("delta event %zu: %.200s", k, d);
            if (piece_len == 0 || (piece_len > piece_max && !(piece_len <= 12 && piece[0] == '\\')))
                BAD("delta event %zu has %zu bytes", k, piece_len);
            memcpy(joined + joined_len, piece, piece_len);
            joined_len += piece_len;
            facts->pieces++;
        }
        if (k + 4 != nev) BAD("%zu events after the deltas, want 4", nev - k);
        for (size_t j = 0; j < 4; j++)
            if (!event_named(&ev[k + j], tail[j])) BAD("event %zu is not %s", k + j, tail[j]);
        if (!jsame(ev[k].data, ev[k].data_len, "text", plain, plain_len, "output.0.content.0.text") ||
            !jsame(ev[k + 1].data, ev[k + 1].data_len, "part", plain, plain_len, "output.0.content.0") ||
            !jsame(ev[k + 2].data, ev[k + 2].data_len, "item", plain, plain_len, "output.0"))
            BAD("the done events differ from the answer without stream");
        if (!jsame(ev[nev - 1].data, ev[nev - 1].data_len, "response", plain, plain_len, ""))
            BAD("response.completed's response differs from the answer without stream:\n  got  %.300s\n  want %.300s",
                ev[nev - 1].data, plain);
    }
    if (facts->pieces < 2) BAD("%zu content pieces", facts->pieces);
    if (joined_len != want_len || memcmp(joined, want, want_len) != 0)
        BAD("joined deltas differ:\n  got  %.*s\n  want %.*s", (int)(joined_len > 200 ? 200 : joined_len), joined,
            (int)(want_len > 200 ? 200 : want_len), want);

    /* The host's side: every event's data (never [DONE]) through translate_stream_event. */
    body_copy = len ? copy_of(body, len) : NULL;
    aex_call call = make_call(endpoint, body_copy, len, alias, max_out, 1, include_usage);
    for (size_t j = 0; j < nev; j++) {
        if (is_done(&ev[j])) continue;
        int usage_event = chat ? jis(ev[j].data, ev[j].data_len, "choices", "[]") : j == nev - 1;
        int32_t ts = run_event(&call, ev[j].data, ev[j].data_len);
        int32_t want_status = chat && usage_event ? AEX_STATUS_USAGE_ONLY : AEX_STATUS_OK;
        if (ts != want_status || rec.emit_calls != 1 || rec.emitted_len != ev[j].data_len ||
            memcmp(rec.emitted, ev[j].data, ev[j].data_len) != 0 || rec.error_calls || rec.stray || rec.body_calls ||
            rec.local_calls || rec.usage_calls != usage_event || (usage_event && (rec.prompt != p0 || rec.completion != c0)))
            BAD("translate_stream_event on event %zu: status %d (want %d), %d emits (same bytes: %d), %d usages "
                "%lld/%lld (want %d, %lld/%lld), error %s",
                j, ts, want_status, rec.emit_calls,
                rec.emitted_len == ev[j].data_len && rec.emitted && memcmp(rec.emitted, ev[j].data, ev[j].data_len) == 0,
                rec.usage_calls, (long long)rec.prompt, (long long)rec.completion, usage_event, (long long)p0,
                (long long)c0, rec.error);
        facts->usage_reports += (size_t)rec.usage_calls;
        facts->usage_only += ts == AEX_STATUS_USAGE_ONLY;
    }
    ok = 1;
done:
    free(plain);
    free(sse);
    free(joined);
    free(body_copy);
    free(ev);
    return ok;
#undef BAD
}

/* ------------------------------------------------------------------------------------------ */
/* Expected values                                                                             */

static unsigned long long fnv(const char *s, size_t n)
{
    unsigned long long h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 0x100000001b3ULL; }
    return h;
}

static char expected[8192];

static const char *expect_chat(const char *req, const char *reply, const char *finish, long p, long c)
{
    snprintf(expected, sizeof expected,
             "{\"id\":\"chatcmpl-echo-%016llx\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"%s\","
             "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"%s\"},"
             "\"finish_reason\":\"%s\"}],\"usage\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,"
             "\"total_tokens\":%ld}}",
             fnv(req, strlen(req)), alias_text, reply, finish, p, c, p + c);
    return expected;
}

static int ok_answer(void)
{
    return rec.local_calls == 1 && rec.status == 200 && strcmp(rec.content_type, "application/json") == 0 &&
           rec.body_calls == 1 && rec.usage_calls == 1 && rec.error_calls == 0 && rec.upstream_calls == 0 &&
           rec.header_calls == 0 && rec.emit_calls == 0 && rec.stray == 0 && json_valid(rec.body, rec.body_len);
}

static void check_chat(const char *name, const char *req, int64_t max_out, const char *reply,
                       const char *finish, long p, long c)
{
    int32_t st = run(AEX_ENDPOINT_CHAT_COMPLETIONS, req, max_out);
    const char *want = expect_chat(req, reply, finish, p, c);
    check(st == AEX_STATUS_OK && ok_answer() && strcmp(body_str(), want) == 0 && rec.prompt == p &&
              rec.completion == c,
          name, "status %d usage %lld/%lld\n  got  %s\n  want %s", st, (long long)rec.prompt,
          (long long)rec.completion, body_str(), want);
}

static void check_error(const char *name, uint32_t endpoint, const char *req, int32_t want_status,
                        const char *want_error)
{
    int32_t st = run(endpoint, req, 0);
    check(st == want_status && rec.error_calls == 1 && rec.body_calls == 0 && rec.local_calls == 0 &&
              rec.usage_calls == 0 && (!want_error || strcmp(rec.error, want_error) == 0),
          name, "status %d error \"%s\" body calls %d", st, rec.error, rec.body_calls);
}

/* The text between `"embedding":` and the next `}` of the index-th embedding. */
static int embedding_at(const char *body, int index, char *out, size_t cap)
{
    const char *p = body;
    for (int i = 0; i <= index; i++) {
        p = strstr(p, "\"embedding\":");
        if (!p) return 0;
        p += strlen("\"embedding\":");
    }
    const char *e = strchr(p, '}');
    if (!e || (size_t)(e - p) >= cap) return 0;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
    return 1;
}

/* "[v,v,...]" with 8 values matching -?[01]\.\d{6} within [-1, 1]. */
static int embedding_shape(const char *e)
{
    if (*e++ != '[') return 0;
    for (int k = 0; k < 8; k++) {
        if (k && *e++ != ',') return 0;
        int neg = *e == '-';
        if (neg) e++;
        if (e[0] != '0' && e[0] != '1') return 0;
        if (e[1] != '.') return 0;
        for (int j = 2; j < 8; j++)
            if (e[j] < '0' || e[j] > '9') return 0;
        if (e[0] == '1' && strncmp(e + 2, "000000", 6) != 0) return 0;
        e += 8;
    }
    return e[0] == ']' && e[1] == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Fuzzing                                                                                     */

static unsigned long long rng = 0x2545F4914F6CDD1DULL;

static unsigned long long next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned rand_below(unsigned n) { return (unsigned)(next_rand() % n); }

static const char *seeds[] = {
    "{\"model\":\"demo\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hello \\\"there\\\"\\n caf\\u00e9 \\ud83d\\ude00\"}],\"max_tokens\":5}",
    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"part one\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]}],\"max_completion_tokens\":3}",
    "{\"model\":\"m\",\"input\":\"embed \\u00e9 me\"}",
    "{\"model\":\"m\",\"input\":[\"a\",\"bb\",\"\\u0063cc\"],\"encoding_format\":\"base64\"}",
    "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"hi there\"}],\"instructions\":\"be nice\",\"max_output_tokens\":2}",
    "{\"model\":\"m\",\"input\":\"plain responses input\"}",
    "  {\"messages\" : [ {\"content\" : \"spaced\" } ] , \"max_tokens\" : 1e3 }  ",
};

static const char interesting[] = "\"{}[],:\\u0123456789abcdefABCDEF eE.+-/tnrfb";

static size_t mutate(unsigned char *buf, size_t len, size_t cap)
{
    int edits = 1 + (int)rand_below(3);
    for (int k = 0; k < edits; k++) {
        unsigned op = rand_below(7);
        if (op == 0 && len) { /* replace with an interesting character */
            buf[rand_below((unsigned)len)] = (unsigned char)interesting[rand_below(sizeof interesting - 1)];
        } else if (op == 1 && len) { /* replace with any byte */
            buf[rand_below((unsigned)len)] = (unsigned char)rand_below(256);
        } else if (op == 2 && len < cap) { /* insert */
            size_t at = rand_below((unsigned)len + 1);
            memmove(buf + at + 1, buf + at, len - at);
            buf[at] = rand_below(2) ? (unsigned char)interesting[rand_below(sizeof interesting - 1)] : (unsigned char)rand_below(256);
            len++;
        } else if (op == 3 && len) { /* delete a run */
            size_t at = rand_below((unsigned)len), run = 1 + rand_below(8);
            if (run > len - at) run = len - at;
            memmove(buf + at, buf + at + run, len - at - run);
            len -= run;
        } else if (op == 4 && len) { /* truncate */
            len = rand_below((unsigned)len + 1);
        } else if (op == 5 && len && len + 8 < cap) { /* duplicate a run */
            size_t at = rand_below((unsigned)len), run = 1 + rand_below(8);
            if (run > len - at) run = len - at;
            memmove(buf + at + run, buf + at, len - at);
            len += run;
        } else if (op == 6 && len >= 2) { /* cut inside an escape or a UTF-8 sequence */
            const unsigned char *bs = memchr(buf, rand_below(2) ? '\\' : 0xC3, len);
            if (bs) len = (size_t)(bs - buf) + 1 + rand_below(3) > len ? len : (size_t)(bs - buf) + 1 + rand_below(3);
        }
    }
    return len;
}

/* A random string body made of valid pieces: ASCII, escapes, \uXXXX, surrogate pairs, raw UTF-8. */
static size_t gen_string(char *out, size_t cap)
{
    static const char *pieces[] = {"a", "Z", " ", "\\\"", "\\n", "\\\\", "\\/", "\\t", "\\u00e9", "\\u20ac",
                                   "\\ud83d\\ude00", "\\ud800", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "0"};
    size_t len = 0, count = rand_below(40);
    out[len++] = '"';
    for (size_t i = 0; i < count; i++) {
        const char *p = pieces[rand_below(sizeof pieces / sizeof *pieces)];
        size_t n = strlen(p);
        if (len + n + 2 > cap) break;
        memcpy(out + len, p, n);
        len += n;
    }
    out[len++] = '"';
    return len;
}

/* A random well-formed request for any endpoint. */
static size_t gen_request(unsigned char *buf, size_t cap)
{
    char *o = (char *)buf;
    size_t len = 0;
#define ADD(s) do { size_t n_ = strlen(s); if (len + n_ < cap) { memcpy(o + len, s, n_); len += n_; } } while (0)
    ADD("{\"model\":\"x\",");
    unsigned shape = rand_below(3);
    if (shape == 0) {
        ADD("\"messages\":[");
        unsigned m = 1 + rand_below(4);
        for (unsigned i = 0; i < m; i++) {
            if (i) ADD(",");
            ADD("{\"role\":\"user\",\"content\":");
            if (rand_below(5) == 0) ADD("null");
            else if (rand_below(4) == 0) { ADD("[{\"type\":\"text\",\"text\":"); len += gen_string(o + len, cap - len - 64); ADD("}]"); }
            else len += gen_string(o + len, cap - len - 64);
            ADD("}");
        }
        ADD("]");
    } else {
        ADD("\"input\":");
        if (rand_below(2)) len += gen_string(o + len, cap - len - 64);
        else {
            ADD("[");
            unsigned m = 1 + rand_below(3);
            for (unsigned i = 0; i < m; i++) {
                if (i) ADD(",");
                if (rand_below(2)) len += gen_string(o + len, cap - len - 64);
                else { ADD("{\"role\":\"user\",\"content\":"); len += gen_string(o + len, cap - len - 64); ADD("}"); }
            }
            ADD("]");
        }
    }
    char num[64];
    unsigned k = rand_below(4);
    if (k) {
        snprintf(num, sizeof num, ",\"%s\":%u", k == 1 ? "max_tokens" : k == 2 ? "max_completion_tokens" : "max_output_tokens",
                 rand_below(12));
        ADD(num);
    }
    ADD("}");
#undef ADD
    return len;
}

static void dump(const char *dir, const char *name) { dump_ext(dir, name, "json", rec.body, rec.body_len); }

static void fuzz(int iterations, const char *dump_dir)
{
    enum { CAP = 4096 };
    unsigned char *buf = malloc(CAP);
    unsigned char *again = NULL;
    int bad = 0, oks = 0, errors = 0, unsupported = 0, determinism_bad = 0, limit_bad = 0, dumped = 0;
    int streams = 0, stream_oks = 0, stream_bad = 0, stream_dumped = 0;
    char first_bad[512] = "", first_stream_bad[2100] = "", why[2048];
    for (int it = 0; it < iterations; it++) {
        size_t len;
        unsigned kind = rand_below(10);
        if (kind == 0) { /* random bytes */
            len = rand_below(200);
            for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)rand_below(256);
        } else if (kind == 1) { /* deep nesting */
            len = rand_below(CAP);
            for (size_t i = 0; i < len; i++) buf[i] = rand_below(4) ? '[' : (rand_below(2) ? '{' : '"');
        } else if (kind == 2) { /* splice two seeds */
            const char *a = seeds[rand_below(sizeof seeds / sizeof *seeds)];
            const char *b = seeds[rand_below(sizeof seeds / sizeof *seeds)];
            size_t la = rand_below((unsigned)strlen(a) + 1), lb = strlen(b), from = rand_below((unsigned)lb + 1);
            memcpy(buf, a, la);
            memcpy(buf + la, b + from, lb - from);
            len = la + lb - from;
        } else if (kind <= 6) { /* generated well-formed request */
            len = gen_request(buf, CAP);
        } else { /* mutated seed */
            const char *a = seeds[rand_below(sizeof seeds / sizeof *seeds)];
            len = strlen(a);
            memcpy(buf, a, len);
            len = mutate(buf, len, CAP);
        }
        uint32_t endpoint = rand_below(20) == 0 ? rand_below(6) : 1 + rand_below(3);
        int64_t max_out = 0;
        unsigned m = rand_below(6);
        if (m == 1) max_out = 1 + rand_below(6);
        else if (m == 2) max_out = -(int64_t)rand_below(5);
        else if (m == 3) max_out = INT64_MAX - rand_below(3);
        int stream = rand_below(3) == 0, include_usage = stream && rand_below(2);
        unsigned char alias_buf[16];
        size_t alias_len = rand_below(4) ? 0 : rand_below(sizeof alias_buf + 1);
        for (size_t i = 0; i < alias_len; i++) alias_buf[i] = (unsigned char)rand_below(256);
        aex_bytes alias = alias_len ? (aex_bytes){alias_buf, alias_len} : view(alias_text);

        if (stream) { /* streamed: checked against the same call without streaming */
            stream_facts f;
            char name[32];
            snprintf(name, sizeof name, "fuzz-stream-%04d", it);
            int keep = dump_dir && stream_dumped < 100 && endpoint != AEX_ENDPOINT_EMBEDDINGS;
            streams++;
            if (!check_stream(endpoint, buf, len, alias, max_out, include_usage, &f, why, sizeof why, dump_dir,
                              keep ? name : NULL)) {
                if (!stream_bad++) snprintf(first_stream_bad, sizeof first_stream_bad, "iteration %d: %s", it, why);
            }
            if (f.status == AEX_STATUS_OK) {
                stream_oks++;
                stream_dumped += keep;
            }
            continue;
        }
        int32_t st = run_bytes(endpoint, buf, len, alias, max_out, 0, 0);
        if (st == AEX_STATUS_OK) {
            oks++;
            if (!ok_answer() || rec.prompt < 1 || rec.completion < 0) {
                if (!bad++) snprintf(first_bad, sizeof first_bad, "iteration %d: bad OK answer: %.300s", it, body_str());
            }
            if (endpoint != AEX_ENDPOINT_EMBEDDINGS && max_out > 0 && rec.completion > max_out) {
                if (!limit_bad++) snprintf(first_bad, sizeof first_bad, "iteration %d: completion %lld > limit %lld",
                                           it, (long long)rec.completion, (long long)max_out);
            }
            if (dumped < 300 && dump_dir) {
                char name[32];
                snprintf(name, sizeof name, "fuzz-%04d", it);
                dump(dump_dir, name);
                dumped++;
            }
            if (it % 4 == 0) { /* same input, same bytes */
                size_t n1 = rec.body_len;
                again = realloc(again, n1 + 1);
                memcpy(again, rec.body, n1);
                int64_t p1 = rec.prompt, c1 = rec.completion;
                run_bytes(endpoint, buf, len, alias, max_out, 0, 0);
                if (rec.body_len != n1 || memcmp(rec.body, again, n1) != 0 || rec.prompt != p1 || rec.completion != c1)
                    determinism_bad++;
            }
        } else if (st == AEX_STATUS_ERROR || st == AEX_STATUS_UNSUPPORTED) {
            if (st == AEX_STATUS_ERROR) errors++; else unsupported++;
            if (rec.error_calls != 1 || rec.body_calls || rec.local_calls || rec.usage_calls || rec.stray) {
                if (!bad++) snprintf(first_bad, sizeof first_bad, "iteration %d: failure without one error: status %d", it, st);
            }
        } else {
            if (!bad++) snprintf(first_bad, sizeof first_bad, "iteration %d: status %d", it, st);
        }
    }
    free(buf);
    free(again);
    printf("fuzz: %d bodies: %d answered, %d errors, %d unsupported; %d streamed, %d of them answered\n",
           iterations, oks, errors, unsupported, streams, stream_oks);
    check(bad == 0 && limit_bad == 0, "fuzz: every answer well-formed, every failure reported", "%d bad, %d over limit; first: %s",
          bad, limit_bad, first_bad);
    check(determinism_bad == 0, "fuzz: answers deterministic", "%d differed", determinism_bad);
    check(oks > iterations / 10 && errors > iterations / 10, "fuzz: mix of answers and errors", "%d ok %d errors", oks, errors);
    check(stream_bad == 0 && stream_oks > iterations / 50,
          "fuzz: every streamed answer settles exactly like the call without streaming", "%d bad of %d (%d answered); first: %s",
          stream_bad, streams, stream_oks, first_stream_bad);
}

/* Stream events as a host might hand them over, mutated: every one is either emitted unchanged
   (OK or USAGE_ONLY, with usage at most once) or refused with one error and nothing emitted. */
static void fuzz_events(int iterations)
{
    enum { CAP = 4096 };
    const char *bodies[] = {
        "{\"messages\":[{\"role\":\"user\",\"content\":\"caf\\u00e9 \\ud83d\\ude00 \\\"quoted\\\" text\"}]}",
        "{\"input\":\"Hello there, streamed\",\"max_output_tokens\":3}",
    };
    unsigned char *buf = malloc(CAP);
    int bad = 0, emitted = 0, refused = 0;
    char first[512] = "";
    for (int it = 0; it < iterations; it++) {
        int b = (int)rand_below(2);
        uint32_t endpoint = b ? AEX_ENDPOINT_RESPONSES : AEX_ENDPOINT_CHAT_COMPLETIONS;
        run_bytes(endpoint, (const unsigned char *)bodies[b], strlen(bodies[b]), view(alias_text), 0, 1, 1);
        sse_event *ev = NULL;
        size_t nev = 0;
        char why[256];
        unsigned char *sse = copy_of(rec.body, rec.body_len);
        if (!sse_split(sse, rec.body_len, b, &ev, &nev, why, sizeof why) || nev == 0) {
            if (!bad++) snprintf(first, sizeof first, "no stream to mutate: %s", why);
            free(ev);
            free(sse);
            continue;
        }
        const sse_event *e = &ev[rand_below((unsigned)nev)];
        size_t len = e->data_len < CAP ? e->data_len : CAP;
        memcpy(buf, e->data, len);
        len = mutate(buf, len, CAP);
        aex_call call = make_call(rand_below(10) ? endpoint : rand_below(5), (const unsigned char *)bodies[b],
                                  strlen(bodies[b]), view(alias_text), 0, 1, 1);
        int32_t st = run_event(&call, buf, len);
        if (st == AEX_STATUS_OK || st == AEX_STATUS_USAGE_ONLY) {
            emitted++;
            if (rec.emit_calls != 1 || rec.emitted_len != len || memcmp(rec.emitted, buf, len) != 0 ||
                rec.usage_calls > 1 || rec.error_calls || rec.stray || rec.prompt < 0 || rec.completion < 0 ||
                (st == AEX_STATUS_USAGE_ONLY && rec.usage_calls != 1)) {
                if (!bad++) snprintf(first, sizeof first, "iteration %d: status %d, %d emits", it, st, rec.emit_calls);
            }
        } else if (st == AEX_STATUS_ERROR || st == AEX_STATUS_UNSUPPORTED) {
            refused++;
            if (rec.error_calls != 1 || rec.emit_calls || rec.usage_calls || rec.stray)
                if (!bad++) snprintf(first, sizeof first, "iteration %d: refusal with %d errors, %d emits", it,
                                     rec.error_calls, rec.emit_calls);
        } else if (!bad++) {
            snprintf(first, sizeof first, "iteration %d: status %d", it, st);
        }
        free(ev);
        free(sse);
    }
    free(buf);
    printf("fuzz: %d stream events: %d emitted, %d refused\n", iterations, emitted, refused);
    check(bad == 0 && emitted > iterations / 10 && refused > iterations / 10,
          "fuzz: mutated stream events emitted unchanged or refused with one error", "%d bad; first: %s", bad, first);
}

/* ------------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s libaex-echo.so [dump-dir]\n", argv[0]);
        return 2;
    }
    const char *dump_dir = argc > 2 ? argv[2] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);

    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("FAIL dlopen: %s\n", dlerror());
        return 1;
    }
    aex_plugin_entry_fn entry;
    void *sym = dlsym(lib, AEX_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry);
    check(entry != NULL, "entry symbol found", "dlsym: %s", dlerror());
    if (!entry) return 1;

    /* --- entry and self-description */
    aex_host_table future = host;
    future.abi_major = 2;
    check(entry(&future) == NULL, "entry refuses host ABI major 2", "returned a table");
    aex_host_table older = host;
    older.abi_major = 0;
    check(entry(&older) == NULL, "entry refuses host ABI major 0", "returned a table");
    check(entry(NULL) == NULL, "entry refuses a NULL host", "returned a table");
    table = entry(&host);
    check(table != NULL, "entry accepts an ABI 1.1 host", "NULL");
    if (!table) return 1;
    check(entry(&host) == table, "entry returns the same static table", "different pointer");
    check(table->struct_size == sizeof(aex_plugin_table) && table->abi_major == AEX_PLUGIN_ABI_MAJOR &&
              table->abi_minor == AEX_PLUGIN_ABI_MINOR,
          "table versioning preamble", "size %u abi %u.%u", table->struct_size, table->abi_major, table->abi_minor);
    check(table->kind == AEX_PLUGIN_KIND_PROVIDER && table->name && strcmp(table->name, "echo") == 0 &&
              table->version && strcmp(table->version, "0.1.0") == 0 && table->provides &&
              strcmp(table->provides, "echo") == 0,
          "self-description: provider echo 0.1.0 provides echo", "kind %u name %s", table->kind,
          table->name ? table->name : "(null)");
    check(table->struct_size >= offsetof(aex_plugin_table, translate_stream_event) + sizeof(table->translate_stream_event) &&
              table->abi_minor >= 1,
          "table is ABI 1.1 (has translate_stream_event)", "size %u minor %u", table->struct_size, table->abi_minor);
    check(table->build_request != NULL && table->translate_response == NULL && table->translate_stream_event != NULL,
          "hooks: build_request and translate_stream_event", "build %d translate %d stream %d",
          table->build_request != NULL, table->translate_response != NULL, table->translate_stream_event != NULL);


    /* --- chat */
    const char *hello = "{\"model\":\"demo-model\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                        "{\"role\":\"user\",\"content\":\"Hello there\"}]}";
    /* bytes 9 + 11 = 20 -> 5, + 2 messages x 4 = 13; reply "Echo: Hello there" 17 bytes -> 5 */
    check_chat("chat: answer shape and usage", hello, 0, "Echo: Hello there", "stop", 13, 5);
    dump(dump_dir, "chat");
    {
        run(AEX_ENDPOINT_CHAT_COMPLETIONS, hello, 0);
        size_t n1 = rec.body_len;
        char *first = malloc(n1 + 1);
        memcpy(first, rec.body, n1 + 1);
        run(AEX_ENDPOINT_CHAT_COMPLETIONS, hello, 0);
        check(rec.body_len == n1 && memcmp(first, rec.body, n1) == 0, "chat: deterministic (same bytes twice)",
              "differs");
        check(strstr(first, "\"model\":\"demo-model\"") && !strstr(first, provider_text),
              "chat: model alias shown, provider model never", "%s", first);
        free(first);
    }
    {
        const char *other = "{\"model\":\"demo-model\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there!\"}]}";
        run(AEX_ENDPOINT_CHAT_COMPLETIONS, hello, 0);
        char id1[64] = "";
        memcpy(id1, rec.body, 40);
        run(AEX_ENDPOINT_CHAT_COMPLETIONS, other, 0);
        check(memcmp(id1, rec.body, 40) != 0, "chat: id follows the request body", "same id for different bodies");
    }
    {
        const char *saved = alias_text;
        alias_text = "my\"alias\\x";
        run(AEX_ENDPOINT_CHAT_COMPLETIONS, hello, 0);
        check(ok_answer() && strstr(body_str(), "\"model\":\"my\\\"alias\\\\x\""), "chat: model alias JSON-escaped",
              "%s", body_str());
        alias_text = saved;
    }
    /* truncation: host cap 2 tokens -> 8 bytes */
    check_chat("chat: truncated by max_output_tokens", hello, 2, "Echo: He", "length", 13, 2);
    check_chat("chat: max_output_tokens large enough -> stop", hello, 5, "Echo: Hello there", "stop", 13, 5);
    {
        const char *own = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}],\"max_tokens\":3}";
        /* 11 bytes -> 3, + 4 = 7; cap 12 bytes */
        check_chat("chat: truncated by the request's max_tokens", own, 0, "Echo: Hello ", "length", 7, 3);
        check_chat("chat: the smaller of host cap and max_tokens wins", own, 1, "Echo", "length", 7, 1);
        const char *mct = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}],\"max_completion_tokens\":4,\"max_tokens\":9}";
        check_chat("chat: max_completion_tokens honoured", mct, 0, "Echo: Hello ther", "length", 7, 4);
    }
    {
        const char *esc = "{\"messages\":[{\"role\":\"user\",\"content\":\"say \\\"hi\\\"\\nthen caf\\u00e9\"}]}";
        /* decoded: say "hi" (8) \n (1) then (5) caf (3) é (2) = 19 -> 5 + 4 = 9; reply 25 -> 7 */
        check_chat("chat: escapes preserved verbatim", esc, 0, "Echo: say \\\"hi\\\"\\nthen caf\\u00e9", "stop", 9, 7);
        /* cap 12: "Echo: say \"h" = 6 + 6 = 12 */
        check_chat("chat: truncation keeps an escape whole", esc, 3, "Echo: say \\\"h", "length", 9, 3);
        const char *nl = "{\"messages\":[{\"role\":\"user\",\"content\":\"xy\\nz\"}]}";
        check_chat("chat: truncation never splits \\n", nl, 2, "Echo: xy", "length", 5, 2);
        const char *u = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u00e9\\u00e9\"}]}";
        check_chat("chat: truncation never splits \\uXXXX", u, 2, "Echo: a", "length", 6, 2);
        const char *pair = "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud83d\\ude00!\"}]}";
        check_chat("chat: truncation never splits a surrogate pair", pair, 2, "Echo: ", "length", 6, 2);
        check_chat("chat: surrogate pair counted as 4 bytes", pair, 0, "Echo: \\ud83d\\ude00!", "stop", 6, 3);
        const char *lone = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\ud800b\\udc00\"}]}";
        /* each lone surrogate counts as U+FFFD (3 bytes): 1 + 3 + 1 + 3 = 8 -> 2 + 4 = 6; reply 14 -> 4 */
        check_chat("chat: lone surrogates answered as \\ufffd", lone, 0, "Echo: a\\ufffdb\\ufffd", "stop", 6, 4);
        const char *raw = "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}]}";
        check_chat("chat: truncation never splits raw UTF-8", raw, 2, "Echo: \xc3\xa9", "length", 6, 2);
    }
    {
        const char *parts = "{\"messages\":[{\"role\":\"user\",\"content\":\"first\"},{\"role\":\"assistant\",\"content\":null,"
                            "\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                            "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"second\"}]}]}";
        /* 5 + 6 = 11 -> 3, + 3 x 4 = 15; reply "Echo: second" 12 -> 3 */
        check_chat("chat: last text wins; null content skipped; text parts read", parts, 0, "Echo: second", "stop", 15, 3);
        const char *keys = "{\"messages\":[{\"content\":\"only\",\"role\":\"user\",\"name\":\"content\"}],\"max_tokens\":1.5,"
                           "\"extra\":{\"messages\":[{\"content\":\"nested\"}]}}";
        check_chat("chat: nested look-alike keys and non-integer max_tokens ignored", keys, 0, "Echo: only", "stop", 5, 3);
        const char *none = "{\"messages\":[{\"role\":\"user\"}]}";
        check_chat("chat: no text gives an empty echo", none, 0, "Echo: ", "stop", 4, 2);
    }
    check_error("chat: invalid JSON refused", AEX_ENDPOINT_CHAT_COMPLETIONS, "{\"messages\":[", AEX_STATUS_ERROR, NULL);
    check_error("chat: missing messages refused", AEX_ENDPOINT_CHAT_COMPLETIONS, "{\"model\":\"x\"}", AEX_STATUS_ERROR,
                "messages must be an array");
    check_error("chat: empty messages refused", AEX_ENDPOINT_CHAT_COMPLETIONS, "{\"messages\":[]}", AEX_STATUS_ERROR,
                "messages must not be empty");
    check_error("chat: top-level array refused", AEX_ENDPOINT_CHAT_COMPLETIONS, "[1,2]", AEX_STATUS_ERROR,
                "request body must be a JSON object");
    check_error("chat: trailing garbage refused", AEX_ENDPOINT_CHAT_COMPLETIONS,
                "{\"messages\":[{\"content\":\"x\"}]} x", AEX_STATUS_ERROR, NULL);
    check_error("chat: invalid UTF-8 refused", AEX_ENDPOINT_CHAT_COMPLETIONS,
                "{\"messages\":[{\"content\":\"\xc3(\"}]}", AEX_STATUS_ERROR, NULL);
    check_error("chat: empty body refused", AEX_ENDPOINT_CHAT_COMPLETIONS, "", AEX_STATUS_ERROR, NULL);

    /* --- unknown endpoints */
    check_error("unknown endpoint refused", 9, hello, AEX_STATUS_UNSUPPORTED, NULL);
    {
        reset();
        aex_call small;
        memset(&small, 0, sizeof small);
        small.struct_size = 8; /* a writer with only the first two fields */
        small.endpoint = AEX_ENDPOINT_CHAT_COMPLETIONS;
        small.body = view(hello);
        the_out.live = 1;
        int32_t st = table->build_request(&small, &the_out);
        the_out.live = 0;
        check(st == AEX_STATUS_ERROR && rec.error_calls == 1 && rec.body_calls == 0, "call struct_size checked",
              "status %d", st);
    }

    /* --- embeddings */
    {
        const char *one = "{\"model\":\"demo-model\",\"input\":\"hello\"}";
        int32_t st = run(AEX_ENDPOINT_EMBEDDINGS, one, 0);
        char e1[512] = "", e2[512] = "";
        int got = st == AEX_STATUS_OK && ok_answer() && embedding_at(body_str(), 0, e1, sizeof e1);
        check(got && embedding_shape(e1), "embeddings: string input, 8 values in [-1,1] with 6 decimals", "%s", body_str());
        char want[1024];
        snprintf(want, sizeof want,
                 "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":%s}],"
                 "\"model\":\"demo-model\",\"usage\":{\"prompt_tokens\":2,\"total_tokens\":2}}", e1);
        check(strcmp(body_str(), want) == 0 && rec.prompt == 2 && rec.completion == 0,
              "embeddings: answer shape and usage", "usage %lld/%lld\n  got  %s\n  want %s", (long long)rec.prompt,
              (long long)rec.completion, body_str(), want);
        dump(dump_dir, "embeddings-one");
        run(AEX_ENDPOINT_EMBEDDINGS, one, 0);
        embedding_at(body_str(), 0, e2, sizeof e2);
        check(strcmp(e1, e2) == 0, "embeddings: deterministic", "%s vs %s", e1, e2);

        const char *many = "{\"model\":\"demo-model\",\"input\":[\"a\",\"bb\",\"\\u0068ello\"]}";
        st = run(AEX_ENDPOINT_EMBEDDINGS, many, 0);
        char a0[512] = "", a1[512] = "", a2[512] = "";
        got = st == AEX_STATUS_OK && ok_answer() && embedding_at(body_str(), 0, a0, sizeof a0) &&
              embedding_at(body_str(), 1, a1, sizeof a1) && embedding_at(body_str(), 2, a2, sizeof a2);
        check(got && embedding_shape(a0) && embedding_shape(a1) && embedding_shape(a2) &&
                  strstr(body_str(), "\"index\":2,") && !strstr(body_str(), "\"index\":3,"),
              "embeddings: array input gives one embedding per string", "%s", body_str());
        check(strcmp(a2, e1) == 0 && strcmp(a0, a1) != 0, "embeddings: same text (escaped or not) same vector",
              "%s vs %s", a2, e1);
        /* 1 + 1 + 2 */
        check(rec.prompt == 4 && rec.completion == 0 && strstr(body_str(), "\"usage\":{\"prompt_tokens\":4,\"total_tokens\":4}}"),
              "embeddings: usage summed per input", "%lld %s", (long long)rec.prompt, body_str());
        dump(dump_dir, "embeddings-many");

        const char *b64 = "{\"input\":\"hello\",\"encoding_format\":\"base64\"}";
        st = run(AEX_ENDPOINT_EMBEDDINGS, b64, 0);
        char b[512] = "";
        got = st == AEX_STATUS_OK && ok_answer() && embedding_at(body_str(), 0, b, sizeof b);
        check(got && strlen(b) == 46 && b[0] == '"' && b[44] == '=' && b[45] == '"',
              "embeddings: base64 encoding (8 float32)", "%s", body_str());
        dump(dump_dir, "embeddings-base64");
    }
    check_error("embeddings: empty array refused", AEX_ENDPOINT_EMBEDDINGS, "{\"input\":[]}", AEX_STATUS_ERROR,
                "input must not be empty");
    check_error("embeddings: token arrays refused", AEX_ENDPOINT_EMBEDDINGS, "{\"input\":[1,2]}", AEX_STATUS_ERROR,
                "input must be a string or an array of strings");
    check_error("embeddings: missing input refused", AEX_ENDPOINT_EMBEDDINGS, "{\"model\":\"m\"}", AEX_STATUS_ERROR,
                "input must be a string or an array of strings");

    /* --- responses */
    {
        const char *req = "{\"model\":\"demo-model\",\"input\":\"Hi\"}";
        int32_t st = run(AEX_ENDPOINT_RESPONSES, req, 0);
        unsigned long long h = fnv(req, strlen(req));
        /* 2 bytes -> 1, + 4 = 5; "Echo: Hi" 8 -> 2 */
        snprintf(expected, sizeof expected,
                 "{\"id\":\"resp-echo-%016llx\",\"object\":\"response\",\"created_at\":0,\"status\":\"completed\","
                 "\"model\":\"demo-model\",\"output\":[{\"type\":\"message\",\"id\":\"msg-echo-%016llx\",\"status\":"
                 "\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Echo: Hi\","
                 "\"annotations\":[]}]}],\"usage\":{\"input_tokens\":5,\"output_tokens\":2,\"total_tokens\":7}}",
                 h, h);
        check(st == AEX_STATUS_OK && ok_answer() && strcmp(body_str(), expected) == 0 && rec.prompt == 5 &&
                  rec.completion == 2,
              "responses: string input, answer shape and usage", "\n  got  %s\n  want %s", body_str(), expected);
        dump(dump_dir, "responses");

        const char *arr = "{\"model\":\"demo-model\",\"instructions\":\"Be kind\",\"input\":[{\"role\":\"user\",\"content\":\"one\"},"
                          "{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"two three\"}]}]}";
        /* 7 + 3 + 9 = 19 -> 5, + 3 x 4 = 17; "Echo: two three" 15 -> 4 */
        st = run(AEX_ENDPOINT_RESPONSES, arr, 0);
        check(st == AEX_STATUS_OK && ok_answer() && strstr(body_str(), "\"text\":\"Echo: two three\"") &&
                  rec.prompt == 17 && rec.completion == 4 &&
                  strstr(body_str(), "\"usage\":{\"input_tokens\":17,\"output_tokens\":4,\"total_tokens\":21}}"),
              "responses: array of messages, last text echoed", "%lld/%lld %s", (long long)rec.prompt,
              (long long)rec.completion, body_str());

        const char *lim = "{\"model\":\"demo-model\",\"input\":\"Hello there\",\"max_output_tokens\":2}";
        st = run(AEX_ENDPOINT_RESPONSES, lim, 0);
        check(st == AEX_STATUS_OK && ok_answer() && strstr(body_str(), "\"text\":\"Echo: He\"") &&
                  strstr(body_str(), "\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"}") &&
                  rec.completion == 2,
              "responses: truncated by the request's max_output_tokens", "%s", body_str());
        dump(dump_dir, "responses-truncated");
        st = run(AEX_ENDPOINT_RESPONSES, req, 1);
        check(st == AEX_STATUS_OK && ok_answer() && strstr(body_str(), "\"text\":\"Echo\"") && rec.completion == 1,
              "responses: truncated by the host's max_output_tokens", "%s", body_str());
    }
    check_error("responses: number input refused", AEX_ENDPOINT_RESPONSES, "{\"input\":3}", AEX_STATUS_ERROR,
                "input must be a string or an array");
    check_error("responses: empty input refused", AEX_ENDPOINT_RESPONSES, "{\"input\":[]}", AEX_STATUS_ERROR,
                "input must not be empty");

    /* --- streaming: the same call, streamed, settles exactly like the call without streaming */
    {
        char why[2048];
        stream_facts f;
        const char *hi = "{\"model\":\"demo-model\",\"input\":\"Hi\"}";
        const char *own = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}],\"max_tokens\":3}";
        const char *lim = "{\"model\":\"demo-model\",\"input\":\"Hello there\",\"max_output_tokens\":2}";
        const char *short_chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
        const char *esc = "{\"messages\":[{\"role\":\"user\",\"content\":\"say \\\"hi\\\"\\nthen caf\\u00e9 \\ud83d\\ude00"
                          "\\ud83d\\ude00\\ud83d\\ude00 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 a\\ud800b\"}]}";
        const char *esc_resp = "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":"
                               "\"\\u20ac\\u20ac\\u20ac\\u20ac \\\\ \\/ \\t \\ud83d\\ude00\\ud83d\\ude00\"}]}],\"instructions\":\"x\"}";
        struct {
            const char *name, *dump;
            uint32_t endpoint;
            const char *body;
            int64_t max_out;
            int include_usage;
            int cut;
        } cases[] = {
            {"stream: chat, no stream usage", "chat-stream", AEX_ENDPOINT_CHAT_COMPLETIONS, hello, 0, 0, 0},
            {"stream: chat with include_stream_usage", "chat-stream-usage", AEX_ENDPOINT_CHAT_COMPLETIONS, hello, 0, 1, 0},
            {"stream: chat cut by the host's max_output_tokens (length), with usage", "chat-stream-cut",
             AEX_ENDPOINT_CHAT_COMPLETIONS, hello, 2, 1, 1},
            {"stream: chat cut by the host's max_output_tokens, no stream usage", NULL, AEX_ENDPOINT_CHAT_COMPLETIONS,
             hello, 2, 0, 1},
            {"stream: chat cut by the request's max_tokens", NULL, AEX_ENDPOINT_CHAT_COMPLETIONS, own, 0, 1, 1},
            {"stream: chat cut to 1 token (\"Echo\")", NULL, AEX_ENDPOINT_CHAT_COMPLETIONS, own, 1, 1, 1},
            {"stream: short chat reply still in several chunks", NULL, AEX_ENDPOINT_CHAT_COMPLETIONS, short_chat, 0, 1, 0},
            {"stream: chat with escapes, pairs and UTF-8 split at whole units", "chat-stream-escapes",
             AEX_ENDPOINT_CHAT_COMPLETIONS, esc, 0, 1, 0},
            {"stream: chat with escapes cut mid-text", NULL, AEX_ENDPOINT_CHAT_COMPLETIONS, esc, 5, 1, 1},
            {"stream: responses", "responses-stream", AEX_ENDPOINT_RESPONSES, hi, 0, 0, 0},
            {"stream: responses with include_stream_usage (usage in response.completed either way)", NULL,
             AEX_ENDPOINT_RESPONSES, hi, 0, 1, 0},
            {"stream: responses cut by the request's max_output_tokens (incomplete)", "responses-stream-cut",
             AEX_ENDPOINT_RESPONSES, lim, 0, 1, 1},
            {"stream: responses cut by the host's max_output_tokens, no stream usage", NULL, AEX_ENDPOINT_RESPONSES,
             lim, 1, 0, 1},
            {"stream: responses with escapes and pairs", "responses-stream-escapes", AEX_ENDPOINT_RESPONSES, esc_resp, 0, 0, 0},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            int ok = check_stream(cases[i].endpoint, (const unsigned char *)cases[i].body, strlen(cases[i].body),
                                  view(alias_text), cases[i].max_out, cases[i].include_usage, &f, why, sizeof why,
                                  dump_dir, cases[i].dump);
            int chat = cases[i].endpoint == AEX_ENDPOINT_CHAT_COMPLETIONS;
            /* usage reported by the events: chat only in the usage chunk, responses in response.completed */
            size_t want_reports = chat ? (size_t)cases[i].include_usage : 1;
            if (ok && (f.usage_reports != want_reports || f.usage_only != (chat ? want_reports : 0))) {
                ok = 0;
                snprintf(why, sizeof why, "%zu usage reports, %zu usage-only", f.usage_reports, f.usage_only);
            }
            if (ok) {
                run_stream(cases[i].endpoint, cases[i].body, cases[i].max_out, cases[i].include_usage);
                int cut_seen = chat ? strstr(body_str(), "\"finish_reason\":\"length\"") != NULL
                                    : strstr(body_str(), "\"status\":\"incomplete\",\"incomplete_details\":"
                                                         "{\"reason\":\"max_output_tokens\"}") != NULL;
                if (cut_seen != cases[i].cut) {
                    ok = 0;
                    snprintf(why, sizeof why, "cut %d, want %d", cut_seen, cases[i].cut);
                }
            }
            check(ok, cases[i].name, "%s", why);
        }

        /* Byte for byte: the two shapes, in full. */
        unsigned long long h = fnv(hello, strlen(hello));
        char head[256];
        snprintf(head, sizeof head,
                 "data: {\"id\":\"chatcmpl-echo-%016llx\",\"object\":\"chat.completion.chunk\",\"created\":0,"
                 "\"model\":\"demo-model\",\"choices\":[", h);
        static char want[8192];
        snprintf(want, sizeof want,
                 "%s{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"
                 "%s{\"index\":0,\"delta\":{\"content\":\"Echo: Hel\"},\"finish_reason\":null}]}\n\n"
                 "%s{\"index\":0,\"delta\":{\"content\":\"lo there\"},\"finish_reason\":null}]}\n\n"
                 "%s{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                 "%s],\"usage\":{\"prompt_tokens\":13,\"completion_tokens\":5,\"total_tokens\":18}}\n\n"
                 "data: [DONE]\n\n",
                 head, head, head, head, head);
        int32_t st = run_stream(AEX_ENDPOINT_CHAT_COMPLETIONS, hello, 0, 1);
        check(st == AEX_STATUS_OK && strcmp(body_str(), want) == 0 && rec.prompt == 13 && rec.completion == 5,
              "stream: chat stream byte for byte", "\n  got  %s\n  want %s", body_str(), want);

        h = fnv(hi, strlen(hi));
        char r[64], m[64];
        snprintf(r, sizeof r, "resp-echo-%016llx", h);
        snprintf(m, sizeof m, "msg-echo-%016llx", h);
        snprintf(want, sizeof want,
                 "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                 "{\"id\":\"%s\",\"object\":\"response\",\"created_at\":0,\"status\":\"in_progress\",\"model\":\"demo-model\","
                 "\"output\":[],\"usage\":null}}\n\n"
                 "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":"
                 "{\"id\":\"%s\",\"object\":\"response\",\"created_at\":0,\"status\":\"in_progress\",\"model\":\"demo-model\","
                 "\"output\":[],\"usage\":null}}\n\n"
                 "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":2,"
                 "\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"%s\",\"status\":\"in_progress\",\"role\":"
                 "\"assistant\",\"content\":[]}}\n\n"
                 "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"sequence_number\":3,"
                 "\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\","
                 "\"annotations\":[]}}\n\n"
                 "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,"
                 "\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,\"delta\":\"Echo\"}\n\n"
                 "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":5,"
                 "\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,\"delta\":\": Hi\"}\n\n"
                 "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":6,"
                 "\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,\"text\":\"Echo: Hi\"}\n\n"
                 "event: response.content_part.done\ndata: {\"type\":\"response.content_part.done\",\"sequence_number\":7,"
                 "\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":"
                 "\"Echo: Hi\",\"annotations\":[]}}\n\n"
                 "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":8,"
                 "\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"%s\",\"status\":\"completed\",\"role\":"
                 "\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Echo: Hi\",\"annotations\":[]}]}}\n\n"
                 "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":9,\"response\":"
                 "{\"id\":\"%s\",\"object\":\"response\",\"created_at\":0,\"status\":\"completed\",\"model\":\"demo-model\","
                 "\"output\":[{\"type\":\"message\",\"id\":\"%s\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":"
                 "[{\"type\":\"output_text\",\"text\":\"Echo: Hi\",\"annotations\":[]}]}],\"usage\":{\"input_tokens\":5,"
                 "\"output_tokens\":2,\"total_tokens\":7}}}\n\n",
                 r, r, m, m, m, m, m, m, m, r, m);
        st = run_stream(AEX_ENDPOINT_RESPONSES, hi, 0, 0);
        check(st == AEX_STATUS_OK && strcmp(body_str(), want) == 0 && rec.prompt == 5 && rec.completion == 2,
              "stream: responses stream byte for byte", "\n  got  %s\n  want %s", body_str(), want);

        {
            const char *saved = alias_text;
            alias_text = "my\"alias\\x";
            st = run_stream(AEX_ENDPOINT_CHAT_COMPLETIONS, hello, 0, 1);
            int every = 1;
            const char *p = body_str();
            size_t chunks = 0;
            while ((p = strstr(p, "data: {")) != NULL) { chunks++; p += 7; }
            p = body_str();
            size_t aliases = 0;
            while ((p = strstr(p, "\"model\":\"my\\\"alias\\\\x\"")) != NULL) { aliases++; p++; }
            every = chunks == 5 && aliases == chunks && !strstr(body_str(), provider_text);
            check(st == AEX_STATUS_OK && every, "stream: every chunk shows the alias (escaped), never the provider model",
                  "%zu chunks, %zu aliases: %s", chunks, aliases, body_str());
            alias_text = saved;
        }

        /* 1 MiB of text: pieces grow so the stream stays bounded; usage still exact. */
        size_t n = 1 << 20;
        char *big = malloc(n + 64);
        strcpy(big, "{\"messages\":[{\"content\":\"");
        size_t k = strlen(big);
        for (; k < n; k++) big[k] = (char)('a' + k % 26);
        strcpy(big + k, "\"}]}");
        int ok = check_stream(AEX_ENDPOINT_CHAT_COMPLETIONS, (const unsigned char *)big, strlen(big), view(alias_text), 0, 1,
                              &f, why, sizeof why, NULL, NULL);
        check(ok && f.pieces >= 2048 && f.pieces <= 4097, "stream: 1 MiB reply in at most 4,096 pieces, exact usage",
              "%s (%zu pieces)", why, f.pieces);
        memcpy(big, "{\"input\"   :", 12);
        ok = check_stream(AEX_ENDPOINT_RESPONSES, (const unsigned char *)big, strlen(big), view(alias_text), 0, 0, &f,
                          why, sizeof why, NULL, NULL);
        check(ok && f.pieces >= 2048 && f.pieces <= 4097, "stream: 1 MiB responses reply, exact usage", "%s (%zu pieces)",
              why, f.pieces);
        free(big);

        /* Refusals: as without streaming, and embeddings never stream. */
        st = run_bytes(AEX_ENDPOINT_EMBEDDINGS, (const unsigned char *)"{\"input\":\"x\"}", 13, view(alias_text), 0, 1, 1);
        check(st == AEX_STATUS_UNSUPPORTED && rec.error_calls == 1 && strcmp(rec.error, "echo does not stream embeddings") == 0 &&
                  rec.body_calls == 0 && rec.local_calls == 0 && rec.usage_calls == 0,
              "stream: embeddings refused (UNSUPPORTED, error set)", "status %d error %s", st, rec.error);
        ok = check_stream(AEX_ENDPOINT_CHAT_COMPLETIONS, (const unsigned char *)"{\"messages\":[]}", 15, view(alias_text), 0,
                          1, &f, why, sizeof why, NULL, NULL);
        check(ok && f.status == AEX_STATUS_ERROR, "stream: a bad request refused as without streaming", "%s", why);

        /* A call struct without include_stream_usage (struct_size stops before it): no usage chunk. */
        reset();
        aex_call call = make_call(AEX_ENDPOINT_CHAT_COMPLETIONS, (const unsigned char *)hello, strlen(hello),
                                  view(alias_text), 0, 1, 1);
        call.struct_size = (uint32_t)offsetof(aex_call, include_stream_usage);
        the_out.live = 1;
        st = table->build_request(&call, &the_out);
        the_out.live = 0;
        check(st == AEX_STATUS_OK && strstr(body_str(), "\"finish_reason\":\"stop\"") && !strstr(body_str(), "\"usage\"") &&
                  rec.usage_calls == 1 && rec.prompt == 13 && rec.completion == 5,
              "stream: include_stream_usage read only when struct_size has it", "status %d %s", st, body_str());

        /* translate_stream_event on its own. */
        call = make_call(AEX_ENDPOINT_CHAT_COMPLETIONS, (const unsigned char *)hello, strlen(hello), view(alias_text), 0, 1, 1);
        const char *both = "{\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}";
        st = run_event(&call, (const unsigned char *)both, strlen(both));
        check(st == AEX_STATUS_OK && rec.emit_calls == 1 && rec.usage_calls == 1 && rec.prompt == 3 && rec.completion == 4,
              "translate_stream_event: usage with choices is reported, not usage-only", "status %d", st);
        const char *spaced = " { \"choices\" : [ ] , \"usage\" : { \"prompt_tokens\" : 1 , \"completion_tokens\" : 0 } } ";
        st = run_event(&call, (const unsigned char *)spaced, strlen(spaced));
        check(st == AEX_STATUS_USAGE_ONLY && rec.emit_calls == 1 && rec.emitted_len == strlen(spaced) &&
                  memcmp(rec.emitted, spaced, strlen(spaced)) == 0 && rec.usage_calls == 1 && rec.prompt == 1,
              "translate_stream_event: usage-only chunk with whitespace, emitted unchanged", "status %d", st);
        const char *bad_usage = "{\"choices\":[],\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":2}}";
        st = run_event(&call, (const unsigned char *)bad_usage, strlen(bad_usage));
        check(st == AEX_STATUS_OK && rec.emit_calls == 1 && rec.usage_calls == 0,
              "translate_stream_event: unusable usage not reported", "status %d usages %d", st, rec.usage_calls);
        const char *malformed[] = {"[DONE]", "{\"choices\":[", "", "[1]", "{} x"};
        int all = 1;
        for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
            st = run_event(&call, (const unsigned char *)malformed[i], strlen(malformed[i]));
            if (st != AEX_STATUS_ERROR || rec.error_calls != 1 || rec.emit_calls || rec.usage_calls) all = 0;
        }
        check(all, "translate_stream_event: malformed data refused (ERROR, error set, nothing emitted)", "status %d", st);
        const char *completed = "{\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":8}}}";
        call.endpoint = AEX_ENDPOINT_RESPONSES;
        st = run_event(&call, (const unsigned char *)completed, strlen(completed));
        check(st == AEX_STATUS_OK && rec.emit_calls == 1 && rec.usage_calls == 1 && rec.prompt == 7 && rec.completion == 8,
              "translate_stream_event: response.completed usage reported, status OK", "status %d", st);
        call.endpoint = AEX_ENDPOINT_EMBEDDINGS;
        st = run_event(&call, (const unsigned char *)both, strlen(both));
        check(st == AEX_STATUS_UNSUPPORTED && rec.error_calls == 1 && rec.emit_calls == 0,
              "translate_stream_event: embeddings refused (UNSUPPORTED)", "status %d", st);
        call.endpoint = AEX_ENDPOINT_CHAT_COMPLETIONS;
        call.struct_size = 8;
        st = run_event(&call, (const unsigned char *)both, strlen(both));
        check(st == AEX_STATUS_ERROR && rec.error_calls == 1 && rec.emit_calls == 0,
              "translate_stream_event: call struct_size checked", "status %d", st);

        /* A host with the ABI 1.0 table (no emit): everything but streams works; emit never called. */
        aex_host_table old10 = host;
        old10.struct_size = (uint32_t)offsetof(aex_host_table, emit);
        old10.abi_minor = 0;
        old10.emit = host_emit_forbidden;
        const aex_plugin_table *t10 = entry(&old10);
        check(t10 == table, "entry accepts a host with the ABI 1.0 table", "returned %p", (const void *)t10);
        if (t10) {
            check_chat("1.0 host: chat answered", hello, 0, "Echo: Hello there", "stop", 13, 5);
            st = run_stream(AEX_ENDPOINT_CHAT_COMPLETIONS, hello, 0, 1);
            check(st == AEX_STATUS_UNSUPPORTED && rec.error_calls == 1 && rec.body_calls == 0 && rec.local_calls == 0,
                  "1.0 host: stream refused (UNSUPPORTED, error set)", "status %d %s", st, rec.error);
            call = make_call(AEX_ENDPOINT_CHAT_COMPLETIONS, (const unsigned char *)hello, strlen(hello), view(alias_text),
                             0, 1, 1);
            st = run_event(&call, (const unsigned char *)both, strlen(both));
            check(st == AEX_STATUS_ERROR && rec.error_calls == 1 && rec.usage_calls == 0,
                  "1.0 host: translate_stream_event refused", "status %d", st);
            check(forbidden_emits == 0, "1.0 host: emit past struct_size never called", "%d calls", forbidden_emits);
        }
        aex_host_table tiny = host;
        tiny.struct_size = (uint32_t)offsetof(aex_host_table, set_error);
        check(entry(&tiny) == NULL, "entry refuses a host table smaller than 1.0's", "returned a table");
        check(entry(&host) == table, "entry with the 1.1 host again", "different table");
    }

    /* --- large input stays correct */
    {
        size_t n = 1 << 20;
        char *big = malloc(n + 64);
        strcpy(big, "{\"messages\":[{\"content\":\"");
        size_t k = strlen(big);
        for (; k < n; k++) big[k] = (char)('a' + k % 26);
        strcpy(big + k, "\"}]}");
        int32_t st = run(AEX_ENDPOINT_CHAT_COMPLETIONS, big, 0);
        long text = (long)(n - strlen("{\"messages\":[{\"content\":\""));
        check(st == AEX_STATUS_OK && ok_answer() && rec.prompt == (text + 3) / 4 + 4 && rec.completion == (text + 6 + 3) / 4,
              "chat: 1 MiB content answered with exact usage", "status %d %lld/%lld", st, (long long)rec.prompt,
              (long long)rec.completion);
        free(big);
    }

    /* --- fuzz */
    fuzz(5000, dump_dir);
    fuzz_events(3000);

    reset();
    printf("driver: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
