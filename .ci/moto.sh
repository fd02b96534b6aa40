#!/usr/bin/env bash
# Installs and runs moto (the AWS API emulator the stageline-aws tests deploy into).
#
#   .ci/moto.sh install        create .venv-moto at the repository root (only if missing)
#   .ci/moto.sh start <port>   start moto_server on 127.0.0.1:<port> in the background,
#                              wait until it answers and warm it up
#   .ci/moto.sh stop [port]    stop the server this script started on <port> (default: all of them)
#
# The pid and log files live in target/moto/ (ignored by git).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-moto"
run_dir="$root/target/moto"
# Bump when the package list changes, so an old venv is upgraded once.
venv_version="4"
packages=(
    # moto is pinned exactly: what it emulates changes within 5.x (5.2.6 began serving
    # CloudWatch's CBOR protocol itself), and the stricter stand-ins in moto_server.py patch it.
    "moto[server,cloudformation,ecs,ec2,elbv2,apigateway,rds,secretsmanager,iam,logs,s3,ecr,sts]==5.2.6"
    "cfn-lint==1.*"
    # The real AWS CLI (v1; v2 is not on PyPI): test buildspecs and the docker stand-in call it.
    "awscli==1.*"
)

install() {
    if [[ -x "$venv/bin/moto_server" && -x "$venv/bin/cfn-lint" && -x "$venv/bin/aws" \
        && "$(cat "$venv/.stageline-version" 2>/dev/null)" == "$venv_version" ]]; then
        return 0
    fi
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
    echo "$venv_version" >"$venv/.stageline-version"
}

answers() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/moto-api/" 2>/dev/null
}

start() {
    local port="${1:?usage: moto.sh start <port>}"
    mkdir -p "$run_dir"
    if answers "$port"; then
        echo "moto already answers on 127.0.0.1:$port"
        return 0
    fi
    [[ -x "$venv/bin/moto_server" ]] || install
    # setsid: the server outlives this script (and the shell that ran it).
    # moto_server.py: moto's server with stack deletion closer to AWS (see the file).
    setsid "$venv/bin/python" "$root/.ci/moto_server.py" -H 127.0.0.1 -p "$port" >"$run_dir/moto-$port.log" 2>&1 </dev/null &
    echo $! >"$run_dir/moto-$port.pid"
    for _ in $(seq 1 150); do
        if answers "$port"; then
            warm_up "$port"
            echo "moto answers on 127.0.0.1:$port"
            return 0
        fi
        sleep 0.2
    done
    echo "moto did not answer on 127.0.0.1:$port within 30 s; log: $run_dir/moto-$port.log" >&2
    return 1
}

# The first CloudFormation call on a fresh server loads every backend (~8 s):
# pay it once here instead of inside a test's time.
warm_up() {
    local port="$1"
    AWS_ACCESS_KEY_ID=warmup AWS_SECRET_ACCESS_KEY=warmup "$venv/bin/python" - "$port" <<'PY'
import sys, boto3
url = f"http://127.0.0.1:{sys.argv[1]}"
cfn = boto3.client("cloudformation", endpoint_url=url, region_name="us-east-1")
body = '{"Resources":{"Group":{"Type":"AWS::Logs::LogGroup","Properties":{"LogGroupName":"stageline-warm-up"}}}}'
cfn.create_stack(StackName="stageline-warm-up", TemplateBody=body)
cfn.delete_stack(StackName="stageline-warm-up")
PY
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/moto-api/reset"
}

stop() {
    local pattern="moto-*.pid"
    [[ -n "${1:-}" ]] && pattern="moto-$1.pid"
    shopt -s nullglob
    for pid_file in "$run_dir"/$pattern; do
        local pid
        pid="$(cat "$pid_file")"
        kill "$pid" 2>/dev/null || true
        rm -f "$pid_file"
    done
}

case "${1:-}" in
    install) install ;;
    start) start "${2:-}" ;;
    stop) stop "${2:-}" ;;
    *)
        echo "usage: $0 install | start <port> | stop [port]" >&2
        exit 2
        ;;
esac
