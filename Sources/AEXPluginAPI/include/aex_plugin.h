/*
 * aex_plugin.h — the whole ABI between the AEX host and its plugins. Version 1.3.
 *
 * Rules (kept for every 1.x version; see ABI.md beside the include folder):
 *   - This header includes only <stdint.h>, <stddef.h> and <stdbool.h>.
 *   - A plugin exports exactly one function, named by AEX_PLUGIN_ENTRY_SYMBOL.
 *   - Every table and call struct begins with struct_size (and the tables with abi_major and
 *     abi_minor) and only ever grows at the end; every addition bumps AEX_PLUGIN_ABI_MINOR. A reader
 *     uses a field only when struct_size shows the writer had it.
 *   - A plugin built for ABI 1.x loads in every host 1.y with y >= x.
 *   - Ownership is written beside every pointer. "borrowed" means: valid only during the call that
 *     received it, never freed by the receiver. Nothing allocated on one side is freed on the other.
 *     Outputs go back through host callbacks that copy at once.
 *   - No exception, Swift error or longjmp crosses the boundary: hooks return an aex_status.
 *   - Provider plugins never do network I/O and never see provider keys: they describe the upstream
 *     request and translate its answer; the host sends it, adds the key and applies the limits.
 */
#ifndef AEX_PLUGIN_H
#define AEX_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AEX_PLUGIN_ABI_MAJOR 1
#define AEX_PLUGIN_ABI_MINOR 3

/** Name of the one function every plugin exports (type: aex_plugin_entry_fn). */
#define AEX_PLUGIN_ENTRY_SYMBOL "aex_plugin_entry"

/** What a hook returns. Anything but AEX_STATUS_OK fails the call: the host answers 502, except
    UNSUPPORTED and INVALID_REQUEST from build_request, which are the client's 400 (1.3 host). */
typedef enum {
    AEX_STATUS_OK = 0,
    AEX_STATUS_ERROR = 1,       /* the plugin could not do it; it may have called set_error */
    AEX_STATUS_UNSUPPORTED = 2, /* this plugin does not serve this endpoint */
    /* 1.1, translate_stream_event only: the event carries only usage (the extra chunk asked for with
       stream_options.include_usage); the host forwards it only if the client asked for usage. */
    AEX_STATUS_USAGE_ONLY = 3,
    /* 1.3, build_request only: the client's request asks for something this provider cannot honour
       (set_error names the parameter); the host answers 400 invalid_request_error and charges
       nothing. */
    AEX_STATUS_INVALID_REQUEST = 4,
} aex_status;

typedef enum {
    AEX_PLUGIN_KIND_PROVIDER = 1,
    AEX_PLUGIN_KIND_TOOL = 2,
} aex_plugin_kind;

typedef enum {
    AEX_ENDPOINT_CHAT_COMPLETIONS = 1,
    AEX_ENDPOINT_EMBEDDINGS = 2,
    AEX_ENDPOINT_RESPONSES = 3,
} aex_endpoint;

typedef enum {
    AEX_LOG_INFO = 0,
    AEX_LOG_WARN = 1,
    AEX_LOG_ERROR = 2,
} aex_log_level;

/** A view of bytes. Owner: whoever passes it (see each use); never NUL-terminated by contract. */
typedef struct {
    const uint8_t *bytes;
    size_t length;
} aex_bytes;

/** Opaque host object collecting one hook's output. Owner: host; borrowed for the hook call. */
typedef struct aex_output aex_output;

/**
 * One governed call, as the host describes it to a provider plugin.
 * Owner: host. Borrowed for the hook call, and so is every aex_bytes inside it.
 */
typedef struct {
    uint32_t struct_size;
    uint32_t endpoint;         /* aex_endpoint */
    aex_bytes body;            /* the client's JSON request body, exactly as received */
    aex_bytes model_alias;     /* the AEX model name; responses must show it, never the provider's */
    aex_bytes provider_model;  /* the provider's model name; the upstream request must use it */
    aex_bytes provider_type;   /* the `type:` of the provider in models.yaml */
    int64_t max_output_tokens; /* > 0: the upstream request must cap output at this many tokens
                                  (the request named no limit); 0: leave the request's own limit */
    bool stream;               /* the client asked for a stream */
    bool include_stream_usage; /* with stream: ask the provider to report usage */
    /* 1.3, translate_stream_event: what the plugin kept for this stream with set_stream_state at an
       earlier event (empty at the first event, and in every other hook). */
    aex_bytes stream_state;
} aex_call;

/**
 * 1.2. One tool call, as the host (a tool worker process) describes it to a tool plugin.
 * Owner: host. Borrowed for the run_tool call, and so is every aex_bytes inside it.
 */
typedef struct {
    uint32_t struct_size;
    aex_bytes tool_name;  /* one of the names in the plugin's `tools` */
    aex_bytes arguments;  /* a JSON object, already checked against the tool's `parameters` schema */
    aex_bytes context;    /* a JSON object: {"execution_id": "...", "agent": "..."} */
} aex_tool_call;

/**
 * Functions the host offers. Owner: host; valid until the process exits.
 * Every function copies what it is given before returning; `out` is the aex_output of the hook
 * being run. Calls after the hook returned are ignored.
 */
typedef struct aex_host_table {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    /* Writes one line to the daemon log. `message` borrowed. Never log prompts or keys. */
    void (*log)(int32_t level, aex_bytes message);
    /* build_request: the upstream request is `method` to base_url + `path` (e.g. "/chat/completions"). */
    void (*set_upstream)(aex_output *out, aex_bytes method, aex_bytes path);
    /* build_request: one more upstream header (never Authorization: the host adds the key). */
    void (*add_upstream_header)(aex_output *out, aex_bytes name, aex_bytes value);
    /* build_request: the upstream body. translate_response / local answers: the client's body. */
    void (*set_body)(aex_output *out, aex_bytes body);
    /* build_request: answer the client locally with this status and content type (body via
       set_body); no upstream request is sent. */
    void (*set_local_response)(aex_output *out, int32_t status, aex_bytes content_type);
    /* The call's usage in tokens, from the provider's report (or the local answer). */
    void (*set_usage)(aex_output *out, int64_t prompt_tokens, int64_t completion_tokens);
    /* A short reason for a failure, safe to show the client (no prompt text, no keys). */
    void (*set_error)(aex_output *out, aex_bytes message);
    /* 1.1, translate_stream_event: the data of the event to send the client (the host frames it as
       one Server-Sent Event). Not calling it drops the event. `bytes` borrowed. */
    void (*emit)(aex_output *out, aex_bytes bytes);
    /* 1.2, run_tool: what the call really cost in micro-USD, when less than the tool's price (the
       host charges the smaller of the two; not calling it charges the price). */
    void (*set_cost)(aex_output *out, int64_t cost_micro);
    /* 1.3, translate_stream_event: replaces what the host keeps for this stream and hands back as
       `call->stream_state` at the next event (at most AEX_STREAM_STATE_BYTES_MAX bytes; more fails
       the event). Lets a plugin translate a grammar whose events depend on earlier ones while its
       hooks keep no state of their own. `state` borrowed. */
    void (*set_stream_state)(aex_output *out, aex_bytes state);
    /* 1.3, translate_stream_event: the answer is complete after this event's emitted data, as if the
       provider had sent "data: [DONE]" (for providers whose streams have no such marker). */
    void (*end_stream)(aex_output *out);
} aex_host_table;

/**
 * A plugin's description of itself and its hooks. Owner: plugin (static storage); never freed.
 * Strings are NUL-terminated and static. Hooks a plugin does not offer are NULL.
 */
typedef struct aex_plugin_table {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t kind;        /* aex_plugin_kind */
    const char *name;     /* e.g. "openai-compatible" */
    const char *version;  /* e.g. "0.1.0" */
    const char *provides; /* comma-separated provider types (or tool names), e.g. "openai_compatible" */

    /* Provider hooks. `call` borrowed; `out` borrowed. */
    /* Describe the upstream request, or answer locally with set_local_response. */
    int32_t (*build_request)(const aex_call *call, aex_output *out);
    /* Turn the upstream answer (`status`, `body` borrowed) into the client's body and the usage.
       Called only for 2xx answers; the host relays other answers itself (1.3: unless the table's
       flags have AEX_PLUGIN_FLAG_TRANSLATES_ERRORS). */
    int32_t (*translate_response)(const aex_call *call, int32_t status, aex_bytes body, aex_output *out);
    /* 1.1. One Server-Sent Event of a 2xx streamed answer: `data` (borrowed) is the event's data
       (the host has split the stream into events and joined the data lines; it handles "[DONE]"
       itself). Emit the client's data with `emit`, report usage with set_usage when the event has it,
       and return AEX_STATUS_USAGE_ONLY for an event that only carries usage. NULL: no streaming. */
    int32_t (*translate_stream_event)(const aex_call *call, aex_bytes data, aex_output *out);

    /* 1.2. Tool plugins. `tools` (static, NUL-terminated, owned by the plugin): a JSON array with
       one object per tool: {"name", "description", "parameters" (a JSON Schema of the arguments
       object), "price_micro" (charged per call), "timeout_ms", "output_bytes_max", "network"
       (true when the tool needs the network)}. NULL for provider plugins. */
    const char *tools;
    /* Run one call in a tool worker process (never in the daemon): the result as JSON through
       set_body and AEX_STATUS_OK, or a short reason through set_error and AEX_STATUS_ERROR.
       `call` borrowed; `out` borrowed. */
    int32_t (*run_tool)(const aex_tool_call *call, aex_output *out);
    /* 1.3. The request header that carries the provider key, exactly as the key is (e.g.
       "x-api-key"); NULL: "Authorization: Bearer <key>". A token of letters, digits and '-', never
       one the plugin sets itself. The plugin never sees the key. */
    const char *key_header;
    /* 1.3. AEX_PLUGIN_FLAG_* bits. */
    uint64_t flags;
} aex_plugin_table;

/** Most bytes a plugin may keep per stream with set_stream_state (1.3). */
#define AEX_STREAM_STATE_BYTES_MAX 4096

/* 1.3 plugin flags. */
/* The provider names its stream events in its own grammar: the host sends what the plugin emits
   without the provider's `event:` names. */
#define AEX_PLUGIN_FLAG_UNNAMED_EVENTS ((uint64_t)1)
/* translate_response is also called for the provider's error answers (status outside 2xx, whole
   body): the plugin sets the client's body, an OpenAI-shaped {"error": {...}}; the provider's
   status is kept and nothing is charged. A failure there relays the provider's answer as before. */
#define AEX_PLUGIN_FLAG_TRANSLATES_ERRORS ((uint64_t)2)

/**
 * The entry point. `host` is borrowed and outlives the plugin. Returns the plugin's static table,
 * or NULL when the plugin cannot work with this host (for example, an ABI major it lacks).
 */
typedef const aex_plugin_table *(*aex_plugin_entry_fn)(const aex_host_table *host);

#ifdef __cplusplus
}
#endif

#endif /* AEX_PLUGIN_H */
