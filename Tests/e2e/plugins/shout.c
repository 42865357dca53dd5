/*
 * shout.c — a provider plugin written outside the AEX package, the way a third party would write
 * one: plain C99, libc only, the ABI header and nothing else. Tests/e2e/test_plugins.py builds it,
 * installs it into a running daemon and calls it through the official openai SDK.
 *
 * Plugin `shout`, provider type `shout`. It answers chat completions locally (set_local_response;
 * nothing is sent upstream) with the content of the last user message, ASCII letters upper-cased,
 * as an OpenAI chat.completion whose `model` is the AEX alias. Other endpoints and streams are
 * refused (AEX_STATUS_UNSUPPORTED; the table has no translate_stream_event).
 *
 * Usage, deterministic so that a test can compute the exact cost. Lengths are bytes of the JSON
 * string contents as they appear in the request (escapes as written):
 *   prompt tokens     = sum over the messages of (length of its string `content`, 0 if none) + 1
 *   completion tokens = length of the reply (SHOUT_PREFIX included)
 * The reply is cut, never inside an escape or a UTF-8 character, to the output limit: the host's
 * call->max_output_tokens, else the request's `max_tokens` / `max_completion_tokens`; the
 * finish_reason is then "length", else "stop".
 *
 * Switches: -DSHOUT_VERSION='"1.1.0"' (default "1.0.0"); -DSHOUT_PREFIX='"V1.1 "' (default "":
 * text put before the reply, so that a test can tell two versions apart).
 *
 * Build: cc -std=c99 -shared -fPIC -Wall -Wextra -Werror -I Sources/AEXPluginAPI/include \
 *           -o libshout.so Tests/e2e/plugins/shout.c
 */
#include "aex_plugin.h"

#include <stdlib.h>
#include <string.h>

#ifndef SHOUT_VERSION
#define SHOUT_VERSION "1.0.0"
#endif
#ifndef SHOUT_PREFIX
#define SHOUT_PREFIX ""
#endif

#define SHOUT_MAX_DEPTH 64

static const aex_host_table *shout_host; /* borrowed from the host; outlives the plugin */

/* ------------------------------------------------------------------------------------------ */
/* JSON reading over the raw bytes (the host hands over the client's body as received).        */

typedef struct {
    const uint8_t *p;
    size_t n;
} span;

static size_t skip_ws(const uint8_t *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* s[*i] == '"': the raw contents go to *raw (may be NULL); *i moves past the closing quote. */
static int read_string(const uint8_t *s, size_t n, size_t *i, span *raw)
{
    size_t k = *i;
    if (k >= n || s[k] != '"') return 0;
    size_t start = ++k;
    while (k < n && s[k] != '"') {
        if (s[k] == '\\') k++;
        k++;
    }
    if (k >= n) return 0;
    if (raw) { raw->p = s + start; raw->n = k - start; }
    *i = k + 1;
    return 1;
}

static int skip_value(const uint8_t *s, size_t n, size_t *i, int depth)
{
    size_t k = *i;
    if (k >= n || depth > SHOUT_MAX_DEPTH) return 0;
    if (s[k] == '"') return read_string(s, n, i, NULL);
    if (s[k] == '{' || s[k] == '[') {
        uint8_t close = s[k] == '{' ? '}' : ']';
        int object = s[k] == '{';
        k = skip_ws(s, n, k + 1);
        if (k < n && s[k] == close) { *i = k + 1; return 1; }
        for (;;) {
            if (object) {
                if (!read_string(s, n, &k, NULL)) return 0;
                k = skip_ws(s, n, k);
                if (k >= n || s[k] != ':') return 0;
                k = skip_ws(s, n, k + 1);
            }
            if (!skip_value(s, n, &k, depth + 1)) return 0;
            k = skip_ws(s, n, k);
            if (k < n && s[k] == ',') { k = skip_ws(s, n, k + 1); continue; }
            if (k < n && s[k] == close) { *i = k + 1; return 1; }
            return 0;
        }
    }
    /* number, true, false, null */
    while (k < n && s[k] != ',' && s[k] != '}' && s[k] != ']' && s[k] != ' ' && s[k] != '\t' &&
           s[k] != '\n' && s[k] != '\r')
        k++;
    if (k == *i) return 0;
    *i = k;
    return 1;
}

/* The position of the value of member `key` in the object at s[at] == '{'; 1 found, 0 not. */
static int member(const uint8_t *s, size_t n, size_t at, const char *key, size_t *value)
{
    size_t klen = strlen(key), k;
    if (at >= n || s[at] != '{') return 0;
    k = skip_ws(s, n, at + 1);
    while (k < n && s[k] != '}') {
        span name;
        if (!read_string(s, n, &k, &name)) return 0;
        k = skip_ws(s, n, k);
        if (k >= n || s[k] != ':') return 0;
        k = skip_ws(s, n, k + 1);
        if (name.n == klen && memcmp(name.p, key, klen) == 0) { *value = k; return 1; }
        if (!skip_value(s, n, &k, 1)) return 0;
        k = skip_ws(s, n, k);
        if (k < n && s[k] == ',') k = skip_ws(s, n, k + 1);
    }
    return 0;
}

/* A member that is a non-negative integer; 1 and *out set, else 0. */
static int member_int(const uint8_t *s, size_t n, size_t at, const char *key, int64_t *out)
{
    size_t v;
    int64_t x = 0;
    if (!member(s, n, at, key, &v) || v >= n || s[v] < '0' || s[v] > '9') return 0;
    for (; v < n && s[v] >= '0' && s[v] <= '9'; v++) x = (x > INT64_MAX / 10 - 9) ? INT64_MAX : x * 10 + (s[v] - '0');
    *out = x;
    return 1;
}

/* Raw length of the unit (escape or UTF-8 character) at r[i]. */
static size_t unit_at(const uint8_t *r, size_t n, size_t i)
{
    size_t len = 1;
    if (r[i] == '\\') {
        len = (i + 1 < n && r[i + 1] == 'u') ? 6 : 2;
        if (len == 6 && i + 12 <= n && (r[i + 2] == 'd' || r[i + 2] == 'D') && r[i + 3] && strchr("89abAB", r[i + 3]) &&
            r[i + 6] == '\\' && r[i + 7] == 'u')
            len = 12; /* a surrogate pair stays whole */
    } else if ((r[i] & 0xE0) == 0xC0) len = 2;
    else if ((r[i] & 0xF0) == 0xE0) len = 3;
    else if ((r[i] & 0xF8) == 0xF0) len = 4;
    return (len > n - i) ? n - i : len;
}

/* ------------------------------------------------------------------------------------------ */
/* Output                                                                                      */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    int bad;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->bad || n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n) cap *= 2;
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
    do { t[--k] = (char)('0' + v % 10); v /= 10; } while (v > 0);
    put(b, t + k, sizeof t - k);
}

/* Bytes that are not JSON (the alias) as JSON string contents. */
static void put_escaped(buf *b, span s)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        if (c == '"' || c == '\\') { put_s(b, "\\"); put(b, &c, 1); }
        else if (c < 0x20) { char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}; put(b, e, 6); }
        else put(b, &c, 1);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The hook                                                                                    */

static aex_bytes cstr(const char *s)
{
    aex_bytes b = {(const uint8_t *)s, strlen(s)};
    return b;
}

static int32_t refuse(aex_output *out, int32_t status, const char *why)
{
    shout_host->set_error(out, cstr(why));
    return status;
}

static int32_t shout_build_request(const aex_call *call, aex_output *out)
{
    if (!shout_host || !call || !out) return AEX_STATUS_ERROR;
    if (call->endpoint != AEX_ENDPOINT_CHAT_COMPLETIONS)
        return refuse(out, AEX_STATUS_UNSUPPORTED, "shout answers chat completions only");
    if (call->stream) return refuse(out, AEX_STATUS_UNSUPPORTED, "shout does not stream");

    const uint8_t *s = call->body.length ? call->body.bytes : (const uint8_t *)"";
    size_t n = call->body.length, top = skip_ws(s, n, 0), messages, k;
    if (!member(s, n, top, "messages", &messages) || s[messages] != '[')
        return refuse(out, AEX_STATUS_ERROR, "shout: the request has no messages");

    /* Every message: count its content; remember the last user message's. */
    int64_t prompt = 0;
    span last = {NULL, 0};
    int found = 0;
    k = skip_ws(s, n, messages + 1);
    while (k < n && s[k] != ']') {
        size_t message = k, role, content;
        span role_text = {NULL, 0}, content_text = {NULL, 0};
        if (!skip_value(s, n, &k, 1)) return refuse(out, AEX_STATUS_ERROR, "shout: malformed messages");
        if (member(s, n, message, "content", &content) && s[content] == '"') read_string(s, n, &content, &content_text);
        if (member(s, n, message, "role", &role) && s[role] == '"') read_string(s, n, &role, &role_text);
        prompt += (int64_t)content_text.n + 1;
        if (content_text.p && role_text.n == 4 && memcmp(role_text.p, "user", 4) == 0) { last = content_text; found = 1; }
        k = skip_ws(s, n, k);
        if (k < n && s[k] == ',') k = skip_ws(s, n, k + 1);
    }
    if (!found) return refuse(out, AEX_STATUS_ERROR, "shout: no user message to shout");

    /* The reply: prefix and upper-cased text (escapes left as written), cut to the limit. */
    int64_t limit = call->max_output_tokens;
    if (limit <= 0 && !member_int(s, n, top, "max_tokens", &limit) && !member_int(s, n, top, "max_completion_tokens", &limit))
        limit = INT64_MAX;
    buf reply = {NULL, 0, 0, 0};
    put_s(&reply, SHOUT_PREFIX);
    for (size_t i = 0; i < last.n;) {
        size_t len = unit_at(last.p, last.n, i);
        if (len == 1) {
            uint8_t c = last.p[i];
            if (c >= 'a' && c <= 'z') c = (uint8_t)(c - 'a' + 'A');
            put(&reply, &c, 1);
        } else {
            put(&reply, last.p + i, len);
        }
        i += len;
    }
    int cut = 0;
    if (!reply.bad && (uint64_t)reply.len > (uint64_t)limit) {
        size_t keep = 0;
        while (keep < reply.len) {
            size_t len = unit_at(reply.p, reply.len, keep);
            if ((uint64_t)(keep + len) > (uint64_t)limit) break;
            keep += len;
        }
        reply.len = keep;
        cut = 1;
    }

    buf body = {NULL, 0, 0, 0};
    span alias = {call->model_alias.length ? call->model_alias.bytes : (const uint8_t *)"", call->model_alias.length};
    int64_t completion = (int64_t)reply.len;
    put_s(&body, "{\"id\":\"chatcmpl-shout\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"");
    put_escaped(&body, alias);
    put_s(&body, "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
    put(&body, reply.p, reply.len);
    put_s(&body, "\"},\"finish_reason\":\"");
    put_s(&body, cut ? "length" : "stop");
    put_s(&body, "\"}],\"usage\":{\"prompt_tokens\":");
    put_i64(&body, prompt);
    put_s(&body, ",\"completion_tokens\":");
    put_i64(&body, completion);
    put_s(&body, ",\"total_tokens\":");
    put_i64(&body, prompt + completion);
    put_s(&body, "}}");
    int bad = reply.bad || body.bad;
    free(reply.p);
    if (bad) {
        free(body.p);
        return refuse(out, AEX_STATUS_ERROR, "shout: out of memory");
    }
    shout_host->set_local_response(out, 200, cstr("application/json"));
    aex_bytes answer = {body.p, body.len};
    shout_host->set_body(out, answer);
    shout_host->set_usage(out, prompt, completion);
    free(body.p);
    return AEX_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Self-description and entry                                                                  */

static const aex_plugin_table shout_table = {
    sizeof(aex_plugin_table),
    AEX_PLUGIN_ABI_MAJOR,
    AEX_PLUGIN_ABI_MINOR,
    AEX_PLUGIN_KIND_PROVIDER,
    "shout",
    SHOUT_VERSION,
    "shout",
    shout_build_request,
    NULL, /* translate_response: never calls upstream */
    NULL, /* translate_stream_event: does not stream */
};

const aex_plugin_table *aex_plugin_entry(const aex_host_table *host);

const aex_plugin_table *aex_plugin_entry(const aex_host_table *host)
{
    if (host == NULL || host->abi_major != AEX_PLUGIN_ABI_MAJOR) return NULL;
    if ((size_t)host->struct_size < offsetof(aex_host_table, set_error) + sizeof host->set_error) return NULL;
    shout_host = host;
    return &shout_table;
}
