/*
 * legacy10.c — a provider plugin built against the header as it was at ABI 1.0
 * (abi-1.0/aex_plugin.h, copied from git history), to check that a 1.0 plugin loads and serves in
 * every later 1.y host. Its table is the 1.0 one (56 bytes, no translate_stream_event), so the host
 * must not stream through it.
 *
 * Plugin `legacy10`, version 1.0.0, provider type `legacy10`. Answers chat completions locally with
 * the fixed text LEGACY10_REPLY, `model` = the AEX alias, and fixed usage (3 prompt tokens,
 * 4 completion tokens) so that a test knows the exact cost. Plain C99, libc only.
 *
 * Build: cc -std=c99 -shared -fPIC -Wall -Wextra -Werror -o liblegacy10.so Tests/e2e/plugins/legacy10.c
 * (the header is included by its path beside this file, never the current one).
 */
#include "abi-1.0/aex_plugin.h"

#include <stdlib.h>
#include <string.h>

#if AEX_PLUGIN_ABI_MAJOR != 1 || AEX_PLUGIN_ABI_MINOR != 0
#error "legacy10.c must be built against the ABI 1.0 header"
#endif

#define LEGACY10_REPLY "built for ABI 1.0"
#define LEGACY10_PROMPT_TOKENS 3
#define LEGACY10_COMPLETION_TOKENS 4

static const aex_host_table *legacy_host;

static aex_bytes cstr(const char *s)
{
    aex_bytes b = {(const uint8_t *)s, strlen(s)};
    return b;
}

static void append(char *dst, size_t *len, const void *src, size_t n)
{
    memcpy(dst + *len, src, n);
    *len += n;
}

static int32_t legacy_build_request(const aex_call *call, aex_output *out)
{
    static const char head[] = "{\"id\":\"chatcmpl-legacy10\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"";
    static const char tail[] =
        "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" LEGACY10_REPLY "\"},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}";
    if (!legacy_host || !call || !out) return AEX_STATUS_ERROR;
    if (call->endpoint != AEX_ENDPOINT_CHAT_COMPLETIONS) {
        legacy_host->set_error(out, cstr("legacy10 answers chat completions only"));
        return AEX_STATUS_UNSUPPORTED;
    }
    if (call->stream) {
        legacy_host->set_error(out, cstr("legacy10 does not stream"));
        return AEX_STATUS_UNSUPPORTED;
    }
    /* The alias goes in as it is, except the two characters that would end the JSON string. */
    for (size_t i = 0; i < call->model_alias.length; i++)
        if (call->model_alias.bytes[i] == '"' || call->model_alias.bytes[i] == '\\' || call->model_alias.bytes[i] < 0x20) {
            legacy_host->set_error(out, cstr("legacy10: unusual model alias"));
            return AEX_STATUS_ERROR;
        }
    size_t len = 0, cap = sizeof head + call->model_alias.length + sizeof tail;
    char *body = malloc(cap);
    if (!body) return AEX_STATUS_ERROR;
    append(body, &len, head, sizeof head - 1);
    if (call->model_alias.length) append(body, &len, call->model_alias.bytes, call->model_alias.length);
    append(body, &len, tail, sizeof tail - 1);
    aex_bytes answer = {(const uint8_t *)body, len};
    legacy_host->set_local_response(out, 200, cstr("application/json"));
    legacy_host->set_body(out, answer);
    legacy_host->set_usage(out, LEGACY10_PROMPT_TOKENS, LEGACY10_COMPLETION_TOKENS);
    free(body);
    return AEX_STATUS_OK;
}

static const aex_plugin_table legacy_table = {
    sizeof(aex_plugin_table), /* 56: the 1.0 table */
    AEX_PLUGIN_ABI_MAJOR,
    AEX_PLUGIN_ABI_MINOR,
    AEX_PLUGIN_KIND_PROVIDER,
    "legacy10",
    "1.0.0",
    "legacy10",
    legacy_build_request,
    NULL,
};

const aex_plugin_table *aex_plugin_entry(const aex_host_table *host);

const aex_plugin_table *aex_plugin_entry(const aex_host_table *host)
{
    if (host == NULL || host->abi_major != AEX_PLUGIN_ABI_MAJOR) return NULL;
    legacy_host = host;
    return &legacy_table;
}
