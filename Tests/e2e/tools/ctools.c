/*
 * ctools.c — tool plugins written outside the AEX package, the way a third party would write them:
 * plain C99, libc only, the ABI header (1.2) and nothing else. Tests/e2e/test_tools.py builds one
 * library per switch, installs it with `aex plugin install PATH --enable` and calls its tools
 * through `POST /v1/tools/execute`. The daemon never loads these libraries: each call runs in a
 * tool worker process (`aex __tool-worker ...`).
 *
 * Without a switch: the well-behaved plugin `ctools` (`provides` empty; its tools come from `tools`):
 *   echo_args  price 7   {"text": string (1..200), "count"?: integer 0..10, "mode"?: "plain"|"loud",
 *                          "tags"?: [string] (at most 3)}, nothing else  →  {"echo": <arguments>}
 *   cheap      price 20  {}  →  {"ok": true}, and set_cost(3): charged 3
 *   overcost   price 5   {}  →  {"ok": true}, and set_cost(50): charged 5 (the smaller)
 *   nonce      price 2   {}  →  {"pid": getpid(), "n": calls so far in this worker, "ns": a clock}
 *   fail       price 9   {}  →  set_error("fail: asked to fail") and AEX_STATUS_ERROR
 *
 * One switch each: a plugin of one misbehaving tool plus `<tool>_ping` (price 1, {} → {"pong": true},
 * to show that a fresh worker of the same plugin serves after a failure). Every misbehaving tool
 * takes {"tag"?: string of 1..15 characters}: it first names its thread `tag` (prctl PR_SET_NAME,
 * inherited by a fork), so that a test can find the very worker that ran the call, and whatever it
 * forked, in /proc/PID/task/TID/comm.
 *   -DCTOOLS_CRASH    plugin tcrash,   tool crash       abort()
 *   -DCTOOLS_EXIT     plugin texit,    tool exit_early  exit(3)
 *   -DCTOOLS_HANG     plugin thang,    tool hang        sleeps forever; timeout_ms 300
 *   -DCTOOLS_STALL    plugin tstall,   tool stall       sleeps forever; timeout_ms 60000, price 40
 *   -DCTOOLS_HOG      plugin thog,     tool hog         mallocs 1 MiB blocks and writes every page:
 *                                                       malloc returning NULL → abort(); having got
 *                                                       1 GiB (no memory limit) → answers OK with
 *                                                       {"allocated_bytes": N}, so a missing limit
 *                                                       fails the test instead of the machine
 *   -DCTOOLS_FLOOD    plugin tflood,   tool flood       set_body with 64 KiB; output_bytes_max 1024
 *   -DCTOOLS_FORKER   plugin tforker,  tool forker      forks a grandchild that sleeps 60 s, then
 *                                                       sleeps forever; timeout_ms 300
 *   -DCTOOLS_ENV_SPY  plugin tspy,     tool env_spy     → {"env": [every environment variable name],
 *                       "token_like": [names whose value starts with "aex_" or "sk-"], "cwd": getcwd(),
 *                       "pid", "ppid", "pgid", "sid", "no_new_privs", "pdeathsig",
 *                       "rlimits": {"as", "data", "cpu", "nofile", "nproc"} (-1: unlimited)}
 *   -DCTOOLS_DUPLICATE='"calculator"'  plugin tdup, one tool of that name (taken: install refuses it)
 *
 * Build: cc -std=c99 -Wall -Wextra -Werror -shared -fPIC -I Sources/AEXPluginAPI/include \
 *           [-DCTOOLS_...] -o libctools.so Tests/e2e/tools/ctools.c
 */
#define _GNU_SOURCE

#include "aex_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const aex_host_table *host; /* borrowed from the host; outlives the plugin */

/* Not every build uses every helper. */
#define HELPER __attribute__((unused)) static

/* ------------------------------------------------------------------------------------------ */
/* The self-description of each build                                                          */

#define OBJECT_SCHEMA "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}"
#define TAG_SCHEMA                                                                                 \
    "{\"type\":\"object\",\"properties\":{\"tag\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":15,"  \
    "\"description\":\"a name for the thread that runs the call\"}},\"additionalProperties\":false}"
#define TOOL(name, description, schema, price, timeout, output)                                  \
    "{\"name\":\"" name "\",\"description\":\"" description "\",\"parameters\":" schema              \
    ",\"price_micro\":" #price ",\"timeout_ms\":" #timeout ",\"output_bytes_max\":" #output          \
    ",\"network\":false}"
#define PING(name) TOOL(name "_ping", "Answers {\\\"pong\\\": true}.", OBJECT_SCHEMA, 1, 10000, 1024)

#if defined(CTOOLS_CRASH)
#define PLUGIN_NAME "tcrash"
#define BAD_TOOL "crash"
#define TOOLS_JSON "[" TOOL("crash", "Aborts the worker.", TAG_SCHEMA, 11, 10000, 1024) "," PING("crash") "]"
#elif defined(CTOOLS_EXIT)
#define PLUGIN_NAME "texit"
#define BAD_TOOL "exit_early"
#define TOOLS_JSON "[" TOOL("exit_early", "Exits the worker with status 3.", TAG_SCHEMA, 12, 10000, 1024) "," \
    PING("exit_early") "]"
#elif defined(CTOOLS_HANG)
#define PLUGIN_NAME "thang"
#define BAD_TOOL "hang"
#define TOOLS_JSON "[" TOOL("hang", "Never returns.", TAG_SCHEMA, 13, 300, 1024) "," PING("hang") "]"
#elif defined(CTOOLS_STALL)
#define PLUGIN_NAME "tstall"
#define BAD_TOOL "stall"
#define TOOLS_JSON "[" TOOL("stall", "Never returns, with a long timeout.", TAG_SCHEMA, 40, 60000, 1024) "," \
    PING("stall") "]"
#elif defined(CTOOLS_HOG)
#define PLUGIN_NAME "thog"
#define BAD_TOOL "hog"
#define TOOLS_JSON "[" TOOL("hog", "Allocates memory without bound.", TAG_SCHEMA, 14, 30000, 1024) "," \
    PING("hog") "]"
#elif defined(CTOOLS_FLOOD)
#define PLUGIN_NAME "tflood"
#define BAD_TOOL "flood"
#define TOOLS_JSON "[" TOOL("flood", "Answers 64 KiB.", TAG_SCHEMA, 15, 10000, 1024) "," PING("flood") "]"
#elif defined(CTOOLS_FORKER)
#define PLUGIN_NAME "tforker"
#define BAD_TOOL "forker"
#define TOOLS_JSON "[" TOOL("forker", "Forks a sleeper, then never returns.", TAG_SCHEMA, 16, 300, 1024) "," \
    PING("forker") "]"
#elif defined(CTOOLS_ENV_SPY)
#define PLUGIN_NAME "tspy"
#define BAD_TOOL "env_spy"
#define TOOLS_JSON "[" TOOL("env_spy", "Reports the worker's environment.", OBJECT_SCHEMA, 1, 10000, 65536) "]"
#elif defined(CTOOLS_DUPLICATE)
#define PLUGIN_NAME "tdup"
#define BAD_TOOL CTOOLS_DUPLICATE
#define TOOLS_JSON "[{\"name\":\"" CTOOLS_DUPLICATE "\",\"description\":\"A name already taken.\",\"parameters\":" \
    OBJECT_SCHEMA ",\"price_micro\":1,\"timeout_ms\":1000,\"output_bytes_max\":1024,\"network\":false}]"
#else
#define PLUGIN_NAME "ctools"
#define ECHO_SCHEMA                                                                                \
    "{\"type\":\"object\",\"properties\":{"                                                        \
    "\"text\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200,\"description\":\"any text\"},"  \
    "\"count\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10},"                               \
    "\"mode\":{\"type\":\"string\",\"enum\":[\"plain\",\"loud\"]},"                                \
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"maxItems\":3}},"               \
    "\"required\":[\"text\"],\"additionalProperties\":false}"
#define TOOLS_JSON "["                                                                            \
    TOOL("echo_args", "Answers its arguments.", ECHO_SCHEMA, 7, 10000, 65536) ","                  \
    TOOL("cheap", "Costs 3 micro-USD, less than its price.", OBJECT_SCHEMA, 20, 10000, 1024) ","   \
    TOOL("overcost", "Reports a cost above its price.", OBJECT_SCHEMA, 5, 10000, 1024) ","         \
    TOOL("nonce", "Answers something new at every run.", OBJECT_SCHEMA, 2, 10000, 1024) ","        \
    TOOL("fail", "Always fails.", OBJECT_SCHEMA, 9, 10000, 1024) "]"
#endif

/* ------------------------------------------------------------------------------------------ */
/* Output                                                                                      */

typedef struct {
    char *p;
    size_t len, cap;
    int bad;
} buf;

HELPER void put(buf *b, const void *d, size_t n)
{
    if (b->bad || n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) { b->bad = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

HELPER void put_s(buf *b, const char *s) { put(b, s, strlen(s)); }

HELPER void put_i64(buf *b, long long v)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", v);
    put_s(b, t);
}

/* `n` bytes as a JSON string, quotes included. */
HELPER void put_str(buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put_s(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { put_s(b, "\\"); put(b, &c, 1); }
        else if (c < 0x20 || c == 0x7f) { char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}; put(b, e, 6); }
        else put(b, &c, 1);
    }
    put_s(b, "\"");
}

HELPER aex_bytes cstr(const char *s)
{
    aex_bytes b = {(const uint8_t *)s, strlen(s)};
    return b;
}

HELPER int32_t fail_with(aex_output *out, const char *why)
{
    host->set_error(out, cstr(why));
    return AEX_STATUS_ERROR;
}

/* Sends `b` as the result (and frees it). */
HELPER int32_t answer(aex_output *out, buf *b)
{
    if (b->bad) { free(b->p); return fail_with(out, PLUGIN_NAME ": out of memory"); }
    aex_bytes body = {(const uint8_t *)b->p, b->len};
    host->set_body(out, body);
    free(b->p);
    return AEX_STATUS_OK;
}

HELPER int32_t answer_text(aex_output *out, const char *json)
{
    host->set_body(out, cstr(json));
    return AEX_STATUS_OK;
}

HELPER int has_set_cost(void)
{
    return (size_t)host->struct_size >= offsetof(aex_host_table, set_cost) + sizeof host->set_cost &&
           host->set_cost != NULL;
}

HELPER int is_tool(const aex_tool_call *call, const char *name)
{
    size_t n = strlen(name);
    return call->tool_name.length == n && (n == 0 || memcmp(call->tool_name.bytes, name, n) == 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Misbehaving tools                                                                           */

#ifdef BAD_TOOL

/* Names the calling thread after the string member "tag" of the arguments, if there is one. The
   host checked the arguments against TAG_SCHEMA: a flat object whose only member is a short string. */
HELPER void take_tag(aex_bytes arguments)
{
    static const char key[] = "\"tag\"";
    const char *s = (const char *)arguments.bytes;
    size_t n = arguments.length, k = sizeof key - 1;
    for (size_t i = 0; s && i + k <= n; i++) {
        if (memcmp(s + i, key, k) != 0) continue;
        size_t j = i + k;
        while (j < n && (s[j] == ' ' || s[j] == ':' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r')) j++;
        if (j >= n || s[j] != '"') return;
        char name[16];
        size_t m = 0;
        for (j++; j < n && s[j] != '"' && s[j] != '\\' && m < sizeof name - 1; j++) name[m++] = s[j];
        name[m] = '\0';
        if (m > 0) prctl(PR_SET_NAME, name, 0, 0, 0);
        return;
    }
}

HELPER void sleep_forever(void)
{
    for (;;) sleep(1000);
}

#ifdef CTOOLS_HOG
typedef struct block { struct block *previous; } block;
static block *hog_blocks; /* kept reachable, so that no allocation is optimised away */

static int32_t hog(aex_output *out)
{
    const size_t size = (size_t)1 << 20, page = 4096, cap = (size_t)1 << 30;
    size_t total = 0;
    while (total < cap) {
        char *p = malloc(size);
        if (p == NULL) abort(); /* the memory limit: end the way an allocating program usually does */
        for (size_t i = 0; i < size; i += page) p[i] = (char)(i / page + 1);
        ((block *)p)->previous = hog_blocks;
        hog_blocks = (block *)p;
        total += size;
    }
    buf b = {NULL, 0, 0, 0};
    put_s(&b, "{\"allocated_bytes\":");
    put_i64(&b, (long long)total);
    put_s(&b, "}");
    return answer(out, &b);
}
#endif

#ifdef CTOOLS_FLOOD
static int32_t flood(aex_output *out)
{
    const size_t size = 64 * 1024;
    buf b = {NULL, 0, 0, 0};
    put_s(&b, "{\"data\":\"");
    while (!b.bad && b.len < size) put_s(&b, "flood flood flood flood flood flood flood flood ");
    put_s(&b, "\"}");
    return answer(out, &b);
}
#endif

#ifdef CTOOLS_ENV_SPY
static long long limit_of(int resource)
{
    struct rlimit limit;
    if (getrlimit(resource, &limit) != 0) return -2;
    return limit.rlim_cur == RLIM_INFINITY ? -1 : (long long)limit.rlim_cur;
}

static int32_t env_spy(aex_output *out)
{
    buf b = {NULL, 0, 0, 0}, token_like = {NULL, 0, 0, 0};
    put_s(&b, "{\"env\":[");
    int first = 1, first_token = 1;
    for (char **entry = environ; entry && *entry; entry++) {
        const char *equals = strchr(*entry, '=');
        size_t n = equals ? (size_t)(equals - *entry) : strlen(*entry);
        const char *value = equals ? equals + 1 : "";
        if (!first) put_s(&b, ",");
        first = 0;
        put_str(&b, *entry, n);
        if (strncmp(value, "aex_", 4) == 0 || strncmp(value, "sk-", 3) == 0) {
            if (!first_token) put_s(&token_like, ",");
            first_token = 0;
            put_str(&token_like, *entry, n);
        }
    }
    put_s(&b, "],\"token_like\":[");
    put(&b, token_like.p, token_like.len);
    b.bad |= token_like.bad;
    free(token_like.p);
    char cwd[4096];
    put_s(&b, "],\"cwd\":");
    if (getcwd(cwd, sizeof cwd)) put_str(&b, cwd, strlen(cwd));
    else put_s(&b, "null");
    int pdeathsig = 0;
    if (prctl(PR_GET_PDEATHSIG, &pdeathsig, 0, 0, 0) != 0) pdeathsig = -1;
    put_s(&b, ",\"pid\":"); put_i64(&b, (long long)getpid());
    put_s(&b, ",\"ppid\":"); put_i64(&b, (long long)getppid());
    put_s(&b, ",\"pgid\":"); put_i64(&b, (long long)getpgid(0));
    put_s(&b, ",\"sid\":"); put_i64(&b, (long long)getsid(0));
    put_s(&b, ",\"no_new_privs\":"); put_i64(&b, (long long)prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    put_s(&b, ",\"pdeathsig\":"); put_i64(&b, (long long)pdeathsig);
    put_s(&b, ",\"rlimits\":{\"as\":"); put_i64(&b, limit_of(RLIMIT_AS));
    put_s(&b, ",\"data\":"); put_i64(&b, limit_of(RLIMIT_DATA));
    put_s(&b, ",\"cpu\":"); put_i64(&b, limit_of(RLIMIT_CPU));
    put_s(&b, ",\"nofile\":"); put_i64(&b, limit_of(RLIMIT_NOFILE));
    put_s(&b, ",\"nproc\":"); put_i64(&b, limit_of(RLIMIT_NPROC));
    put_s(&b, "}}");
    return answer(out, &b);
}
#endif

static int32_t run_bad(const aex_tool_call *call, aex_output *out)
{
    take_tag(call->arguments);
#if defined(CTOOLS_CRASH)
    abort();
#elif defined(CTOOLS_EXIT)
    exit(3);
#elif defined(CTOOLS_HANG) || defined(CTOOLS_STALL)
    sleep_forever();
#elif defined(CTOOLS_HOG)
    return hog(out);
#elif defined(CTOOLS_FLOOD)
    return flood(out);
#elif defined(CTOOLS_FORKER)
    pid_t child = fork();
    if (child == 0) {
        sleep(60);
        _exit(0);
    }
    sleep_forever(); /* also when the fork failed: the call must time out either way */
#elif defined(CTOOLS_ENV_SPY)
    return env_spy(out);
#else
    return fail_with(out, PLUGIN_NAME ": this tool is only a name");
#endif
    return fail_with(out, PLUGIN_NAME ": unreachable");
}

static int32_t run_tool(const aex_tool_call *call, aex_output *out)
{
    if (!host || !call || !out) return AEX_STATUS_ERROR;
    if (is_tool(call, BAD_TOOL)) return run_bad(call, out);
    if (is_tool(call, BAD_TOOL "_ping")) return answer_text(out, "{\"pong\":true}");
    return fail_with(out, PLUGIN_NAME ": unknown tool");
}

/* ------------------------------------------------------------------------------------------ */
/* The well-behaved tools                                                                      */

#else

static long long nonce_calls; /* calls of `nonce` in this worker process */

static int32_t run_tool(const aex_tool_call *call, aex_output *out)
{
    if (!host || !call || !out) return AEX_STATUS_ERROR;
    if ((size_t)call->struct_size < offsetof(aex_tool_call, arguments) + sizeof call->arguments)
        return fail_with(out, "ctools: the call lacks its arguments");
    if (is_tool(call, "echo_args")) {
        buf b = {NULL, 0, 0, 0};
        put_s(&b, "{\"echo\":");
        put(&b, call->arguments.bytes, call->arguments.length);
        put_s(&b, "}");
        return answer(out, &b);
    }
    if (is_tool(call, "cheap")) {
        if (has_set_cost()) host->set_cost(out, 3);
        return answer_text(out, "{\"ok\":true}");
    }
    if (is_tool(call, "overcost")) {
        if (has_set_cost()) host->set_cost(out, 50);
        return answer_text(out, "{\"ok\":true}");
    }
    if (is_tool(call, "nonce")) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        buf b = {NULL, 0, 0, 0};
        put_s(&b, "{\"pid\":"); put_i64(&b, (long long)getpid());
        put_s(&b, ",\"n\":"); put_i64(&b, ++nonce_calls);
        put_s(&b, ",\"ns\":"); put_i64(&b, (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
        put_s(&b, "}");
        return answer(out, &b);
    }
    if (is_tool(call, "fail")) return fail_with(out, "fail: asked to fail");
    return fail_with(out, "ctools: unknown tool");
}

#endif

/* ------------------------------------------------------------------------------------------ */
/* Self-description and entry                                                                  */

static const aex_plugin_table table = {
    .struct_size = sizeof(aex_plugin_table),
    .abi_major = AEX_PLUGIN_ABI_MAJOR,
    .abi_minor = AEX_PLUGIN_ABI_MINOR,
    .kind = AEX_PLUGIN_KIND_TOOL,
    .name = PLUGIN_NAME,
    .version = "0.1.0",
    .provides = "", /* a tool plugin's tools come from `tools` */
    .build_request = NULL,
    .translate_response = NULL,
    .translate_stream_event = NULL,
    .tools = TOOLS_JSON,
    .run_tool = run_tool,
};

const aex_plugin_table *aex_plugin_entry(const aex_host_table *host_table);

const aex_plugin_table *aex_plugin_entry(const aex_host_table *host_table)
{
    if (host_table == NULL || host_table->abi_major != AEX_PLUGIN_ABI_MAJOR) return NULL;
    if ((size_t)host_table->struct_size < offsetof(aex_host_table, set_error) + sizeof host_table->set_error) return NULL;
    host = host_table;
    return &table;
}
