"""moto's server, with two gaps closed so stages behave as on AWS.

1. moto (5.x) does not delete the route tables a CloudFormation stack created
   when the stack is deleted, and then refuses to delete the stack's VPC. AWS
   deletes them. This adds that deletion.
2. moto ignores the `Type` of an `AWS::ElasticLoadBalancingV2::LoadBalancer`
   created through CloudFormation and makes every one an application load
   balancer, which then refuses the TCP listener of a network load balancer
   (the API Gateway routing's VPC link target). AWS honours `Type`.
3. moto's ECR login password (GetAuthorizationToken) is the same in every
   region, so a `docker login` to one region's registry with another region's
   password would pass. AWS's tokens work only for their own region's
   registry: here the password names its region, and the tests' docker
   stand-in refuses a login with another region's.
4. moto's ExecuteChangeSet on an update keeps the stack's parameters and
   tags of before, so a later change set that returns to those values (a
   rollback to the earlier image) is taken for "no changes" and never runs.
   AWS records what the executed change set set; so does this. Nor does it
   compute the stack's Outputs from the executed template (a stack made by
   a change set has none); AWS does, and so does this.
5. Emulated stages get AWS names (`*.elb.amazonaws.com`,
   `*.execute-api.<region>.amazonaws.com`) that nothing answers for, so a
   health check has nothing to reach. A stand-in answers for the deployed
   service: `GET /_stageline/service/<host>/<path...>` is 200 `ok` by default;
   `POST /_stageline/service-health` with `{"status": 500, "match": "<part
   of host+path>"}` sets the answer for matching requests (no match: all; the
   latest control that matches wins; case-insensitive), `{"reset": true}` and
   `/moto-api/reset` clear them.
6. CloudWatch's DescribeAlarms (Smithy RPC v2 CBOR, which the Rust SDK
   speaks and moto 5.2.6 serves) refuses more than 100 AlarmNames, as AWS
   does (moto takes any number).
7. moto checks S3's conditional writes (`If-Match`, `If-None-Match: *` on
   PutObject and DeleteObject) and then writes, as two steps: two desktops
   racing for a team stack's stage lease could both pass the check. AWS makes
   the check and the write one step, and answers a conditional write that
   overlaps another on the same key with 409 ConditionalRequestConflict
   ("retry"). Here too: conditional writes on one key never overlap; the
   second gets that 409.
8. moto (5.2) answers GetBucketVersioning with a `GetBucketVersioningResponse`
   root element, which the Rust SDK rightly refuses; AWS's root element is
   `VersioningConfiguration`. The answer is renamed to AWS's.

Everything else is moto unchanged; nothing here makes moto more forgiving.
Run exactly like `moto_server`: `python moto_server.py -H 127.0.0.1 -p 5055`.
"""

import json
import threading
from base64 import b64encode
from io import BytesIO
from typing import Any, Callable, Iterable

from moto.ec2.models import ec2_backends
from moto.cloudformation.models import CloudFormationBackend
from moto.ecr.responses import ECRResponse
from moto.elbv2.models import FakeLoadBalancer, elbv2_backends
from moto.ec2.models.route_tables import RouteTable
import moto.server
from moto.core import cbor
from moto.server import main


def _delete_route_table(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> None:
    backend = ec2_backends[account_id][region_name]
    table = backend.route_tables.get(resource_name)
    if table is not None:
        # The stack's subnets are gone by now; their associations go with the table.
        table._associations.clear()
        backend.route_tables.pop(resource_name, None)


RouteTable.delete_from_cloudformation_json = classmethod(_delete_route_table)


def _create_load_balancer(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
    properties = cloudformation_json["Properties"]
    return elbv2_backends[account_id][region_name].create_load_balancer(
        resource_name,
        properties.get("SecurityGroups"),
        properties.get("Subnets"),
        scheme=properties.get("Scheme", "internet-facing"),
        loadbalancer_type=properties.get("Type", "application"),
    )


FakeLoadBalancer.create_from_cloudformation_json = classmethod(_create_load_balancer)


def _authorization_token(self: Any) -> Any:
    result = _moto_authorization_token(self)
    for data in result.result["authorizationData"]:
        registry = data["proxyEndpoint"].split("//", 1)[1].split(".", 1)[0]
        password = f"{registry}-{self.region}-auth-token"
        data["authorizationToken"] = b64encode(f"AWS:{password}".encode("ascii")).decode()
    return result


_moto_authorization_token = ECRResponse.get_authorization_token
ECRResponse.get_authorization_token = _authorization_token


def _execute_change_set(self: Any, change_set_name: str, stack_name: Any = None) -> None:
    _moto_execute_change_set(self, change_set_name, stack_name)
    for change_set in self.change_sets.values():
        if change_set_name in (change_set.change_set_id, change_set.change_set_name):
            stack = self.stacks[change_set.stack_id]
            stack.parameters = change_set.parameters
            if change_set.tags:
                stack.tags = change_set.tags
            stack._parse_template()
            stack.output_map = stack._create_output_map()


_moto_execute_change_set = CloudFormationBackend.execute_change_set
CloudFormationBackend.execute_change_set = _execute_change_set


# --- 5. The stand-in for deployed services -------------------------------

SERVICE_PREFIX = "/_stageline/service/"
SERVICE_CONTROL = "/_stageline/service-health"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class ServiceHealth:
    """What the stand-in answers: status by match, latest control last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, int] = {}

    def set(self, match: str, status: int) -> None:
        with self._lock:
            self._answers.pop(match, None)
            self._answers[match] = status

    def reset(self) -> None:
        with self._lock:
            self._answers.clear()

    def status_for(self, target: str) -> int:
        # Host names are case-insensitive (URL parsers lowercase them; an
        # ELB's DNSName has capitals): so is matching.
        target = target.lower()
        with self._lock:
            for match, status in reversed(list(self._answers.items())):
                if match.lower() in target:
                    return status
        return 200


def _respond(start_response: StartResponse, status: int, body: bytes, content_type: str, extra: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}.get(status, "Status")
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
    start_response(f"{status} {reason}", headers)
    return [body]


def _body(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _call(app: Any, environ: Environ) -> tuple[int, bytes]:
    """moto's answer to one request, as status and body."""
    captured: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"] = int(status.split(" ", 1)[0])
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return captured["status"], b"".join(chunks)


# --- 6. CloudWatch over Smithy RPC v2 CBOR --------------------------------

CBOR_PATH = "/service/GraniteServiceVersion20100801/operation/"
DESCRIBE_ALARMS_MOST_NAMES = 100


def _cloudwatch_over_cbor(app: Any, environ: Environ, start_response: StartResponse, operation: str) -> Iterable[bytes]:
    """moto serves CBOR itself; this adds AWS's limit on DescribeAlarms' AlarmNames."""
    body = _body(environ)
    if operation == "DescribeAlarms":
        request = cbor.loads(body) if body else {}
        if len(request.get("AlarmNames") or []) > DESCRIBE_ALARMS_MOST_NAMES:
            answer = cbor.dumps({
                "__type": "ValidationError",
                "message": "1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: "
                           f"Member must have length less than or equal to {DESCRIBE_ALARMS_MOST_NAMES}",
            })
            return _respond(start_response, 400, answer, "application/cbor", [("smithy-protocol", "rpc-v2-cbor")])
    inner = dict(environ)
    inner["wsgi.input"] = BytesIO(body)
    return app(inner, start_response)


class ConditionalWrites:
    """Item 7: one conditional write per S3 key at a time; an overlapping one gets 409."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: set[tuple[str, str]] = set()

    @staticmethod
    def applies(environ: Environ) -> bool:
        conditional = "HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ
        return (
            conditional
            and environ.get("REQUEST_METHOD") in ("PUT", "DELETE")
            and "/s3/aws4_request" in environ.get("HTTP_AUTHORIZATION", "")
        )

    def write(self, app: Any, environ: Environ, start_response: StartResponse) -> list[bytes]:
        key = (environ.get("HTTP_HOST", ""), environ.get("PATH_INFO", ""))
        with self.lock:
            if key in self.in_flight:
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ConditionalRequestConflict</Code>'
                    "<Message>A conflicting conditional operation is currently in progress against this "
                    "resource. Please try again.</Message></Error>"
                ).encode()
                return _respond(start_response, 409, body, "application/xml")
            self.in_flight.add(key)
        try:
            # Consumed here, so the write is over before the next one may start.
            return list(app(environ, start_response))
        finally:
            with self.lock:
                self.in_flight.discard(key)


def _is_get_bucket_versioning(environ: Environ) -> bool:
    """Item 8: an S3 GET of `?versioning`."""
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and "versioning" in environ.get("QUERY_STRING", "").split("&")[0].split("=")[0:1]
        and "/s3/aws4_request" in environ.get("HTTP_AUTHORIZATION", "")
    )


class StagelineFront:
    """In front of moto's app: items 5 to 8; everything else passes through."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.health = ServiceHealth()
        self.conditional_writes = ConditionalWrites()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith(SERVICE_PREFIX) and method == "GET":
            target = path[len(SERVICE_PREFIX):]
            status = self.health.status_for(target)
            body = b"ok" if status == 200 else f"stand-in answer {status}".encode()
            return _respond(start_response, status, body, "text/plain")
        if path == SERVICE_CONTROL and method == "POST":
            return self._control(environ, start_response)
        if path == "/moto-api/reset":
            self.health.reset()
        if path.startswith(CBOR_PATH) and method == "POST":
            return _cloudwatch_over_cbor(self.app, environ, start_response, path[len(CBOR_PATH):])
        if _is_get_bucket_versioning(environ):
            status, body = _call(self.app, environ)
            body = body.replace(b"GetBucketVersioningResponse", b"VersioningConfiguration")
            return _respond(start_response, status, body, "application/xml")
        if ConditionalWrites.applies(environ):
            return self.conditional_writes.write(self.app, environ, start_response)
        return self.app(environ, start_response)

    def _control(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            control = json.loads(_body(environ) or b"{}")
            if control.get("reset"):
                self.health.reset()
            else:
                status = int(control["status"])
                if not 100 <= status <= 599:
                    raise ValueError(f"status {status} is not an HTTP status")
                self.health.set(str(control.get("match") or ""), status)
        except (ValueError, KeyError, TypeError) as error:
            return _respond(start_response, 400, json.dumps({"error": str(error)}).encode(), "application/json")
        return _respond(start_response, 200, b'{"ok": true}', "application/json")


_moto_dispatcher = moto.server.DomainDispatcherApplication
# moto.server.main builds its app from this name: wrap what it builds.
moto.server.DomainDispatcherApplication = lambda create_app: StagelineFront(_moto_dispatcher(create_app))  # type: ignore

if __name__ == "__main__":
    main()
