# Shared by the benchmark scripts (sourced, not run).

# Installs the Debian packages when any of the tools is missing: bench_install "wrk nginx" wrk nginx-light
bench_install() {
    local tools="$1" tool missing=0
    shift
    for tool in $tools; do command -v "$tool" >/dev/null || missing=1; done
    [ "$missing" -eq 0 ] && return 0
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

# A loopback TCP port free right now.
bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The start of an nginx configuration that keeps its files in DIR, up to the open `http {` block
# (the caller adds its servers and the closing brace): bench_nginx_head DIR WORKERS CONNECTIONS
bench_nginx_head() {
    mkdir -p "$1/nginx"
    cat <<CONF
worker_processes $2;
pid $1/nginx.pid;
error_log $1/nginx/error.log;
events { worker_connections $3; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    client_body_buffer_size 64k;
    client_body_temp_path $1/nginx;
    proxy_temp_path $1/nginx;
    fastcgi_temp_path $1/nginx;
    uwsgi_temp_path $1/nginx;
    scgi_temp_path $1/nginx;
CONF
}

# AEX's models.yaml for the benchmarks: `bench-model` on an OpenAI-compatible provider at PORT
# (and `bench-stream-model` on its /stream/ path), priced in micro-USD per token: bench_models_yaml PORT INPUT_MICRO OUTPUT_MICRO
bench_models_yaml() {
    cat <<YAML
version: 1
default_model: bench-model
providers:
  fast:
    base_url: http://127.0.0.1:$1/v1
    type: openai_compatible
    api_key_env: BENCH_PROVIDER_KEY
    timeout_seconds: 30
  fast_stream:
    base_url: http://127.0.0.1:$1/stream/v1
    type: openai_compatible
    api_key_env: BENCH_PROVIDER_KEY
    timeout_seconds: 30
models:
  bench-model:
    provider: fast
    provider_model: mock-model
    pricing:
      input_micro: $2
      output_micro: $3
    limits:
      max_tokens: 256
    capabilities:
      tools: true
      vision: false
  bench-stream-model:
    provider: fast_stream
    provider_model: mock-model
    pricing:
      input_micro: $2
      output_micro: $3
    limits:
      max_tokens: 256
YAML
}

# The aex binary to measure: $AEX_BIN, else a release build made now. Prints its absolute path.
bench_aex_binary() {
    if [ -n "${AEX_BIN:-}" ]; then
        realpath "$AEX_BIN"
    else
        scripts/setup.sh release >/dev/null
        echo "$PWD/.build/release/aex"
    fi
}

# The fixed chat completion the benchmarks' provider (nginx) answers: 250 prompt + 12 completion tokens.
BENCH_COMPLETION='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"mock-model","system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is a fixed benchmark completion.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":250,"completion_tokens":12,"total_tokens":262}}'

# The fixed stream the benchmarks' provider answers on /stream/v1/chat/completions: 5 content
# chunks, the usage chunk (250 prompt + 12 completion tokens), data: [DONE]. In nginx's quoting
# (\n is a newline).
bench_stream_chunk() { # delta finish_reason
    printf 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"mock-model","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}\\n\\n' "$1" "$2"
}
BENCH_STREAM_EVENTS="$(bench_stream_chunk '{"role":"assistant","content":"Hello!"}' null)$(bench_stream_chunk '{"content":" This is"}' null)$(bench_stream_chunk '{"content":" a fixed"}' null)$(bench_stream_chunk '{"content":" benchmark"}' null)$(bench_stream_chunk '{"content":" stream."}' '"stop"')"'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"mock-model","system_fingerprint":"fp_bench","choices":[],"usage":{"prompt_tokens":250,"completion_tokens":12,"total_tokens":262}}\n\ndata: [DONE]\n\n'

# Two nginx servers, for inside the `http {` block of bench_nginx_head: the fast provider on
# DIRECT_PORT answering BENCH_COMPLETION (and BENCH_STREAM_EVENTS under /stream/), and a plain
# keep-alive reverse proxy to it on PROXY_PORT (the one-hop baseline; it relays a stream as it
# comes, unbuffered): bench_provider_servers DIRECT_PORT PROXY_PORT
bench_provider_servers() {
    cat <<CONF
    upstream fast_provider {
        server 127.0.0.1:$1;
        keepalive 256;
        keepalive_requests 10000000;
    }
    server {   # the fast provider
        listen 127.0.0.1:$1 reuseport;
        location = /v1/chat/completions {
            default_type application/json;
            return 200 '$BENCH_COMPLETION';
        }
        location = /stream/v1/chat/completions {
            default_type text/event-stream;
            return 200 '$BENCH_STREAM_EVENTS';
        }
    }
    server {   # a plain reverse proxy in front of it
        listen 127.0.0.1:$2 reuseport;
        location / {
            proxy_pass http://fast_provider;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }
        location /stream/ {
            proxy_pass http://fast_provider;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
CONF
}
