"""Loopback fakes of the three services publish talks to, over TLS with a throwaway CA.

- ``Entra``: Microsoft Entra's OpenID discovery document and v2.0 token endpoint (client credentials).
- ``PowerBi``: the dataset refresh endpoints. Every POST body is checked against the
  ``DatasetRefreshRequest`` definition of Microsoft's REST API description, read from
  ``../shared/vendor/powerbi/rest-api/`` (never copied here), plus the limitation the same
  description states for the operation: an enhanced refresh (any setting besides
  ``notifyOption``) must leave ``notifyOption`` out.
- ``AlteryxServer``: Server API v3's OAuth 2 token, job creation and job status.

Each listens on 127.0.0.1 only and records every request it gets.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PROJECT = Path(__file__).resolve().parents[2]
SWAGGER = PROJECT.parent / "shared" / "vendor" / "powerbi" / "rest-api" / "sdk" / "swaggers" / "swagger.json"
POWERBI_SCOPE = "https://analysis.windows.net/powerbi/api/.default"


# --- a throwaway certificate authority -----------------------------------------------------------
def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, server.pem, server.key)."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "retail-control-tower test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


# --- the server frame ---------------------------------------------------------------------------------
class Reply:
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


class FakeServer(ThreadingHTTPServer):
    """An HTTPS server on 127.0.0.1 whose subclasses answer in ``handle_request_``."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, certificates: tuple[Path, Path, Path]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates[1], certificates[2])
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=2)

    def paths(self, method: str | None = None) -> list[str]:
        return [r["path"] for r in self.requests if method in (None, r["method"])]

    def handle_request_(self, request: dict[str, Any]) -> Reply:  # pragma: no cover - overridden
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.path)
        request = {"method": self.command, "path": parts.path, "query": parse_qs(parts.query), "headers": dict(self.headers),
                   "raw": raw.decode("utf-8", "replace")}
        if self.headers.get("Content-Type", "").startswith("application/json") and raw:
            request["json"] = json.loads(raw)
        elif raw:
            request["form"] = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        with self.server.lock:
            self.server.requests.append(request)
            reply = self.server.handle_request_(request)
        body = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _serve  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: Any) -> None:
        pass


# --- Microsoft Entra ------------------------------------------------------------------------------------
class Entra(FakeServer):
    """Tenant ``tenant``; app ``client_id`` / ``client_secret``; tokens for the Power BI scope only."""

    def __init__(self, certificates, tenant: str, client_id: str, client_secret: str) -> None:
        super().__init__(certificates)
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.issued: list[str] = []

    def handle_request_(self, request: dict[str, Any]) -> Reply:
        base = f"{self.url}/{self.tenant}"
        if request["method"] == "GET" and request["path"] == f"/{self.tenant}/v2.0/.well-known/openid-configuration":
            return Reply(200, {"token_endpoint": f"{base}/oauth2/v2.0/token", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                               "issuer": f"{base}/v2.0", "token_endpoint_auth_methods_supported": ["client_secret_post"]})
        if request["method"] == "POST" and request["path"] == f"/{self.tenant}/oauth2/v2.0/token":
            form = request.get("form", {})
            if form.get("grant_type") != "client_credentials" or form.get("scope") != POWERBI_SCOPE:
                return Reply(400, {"error": "invalid_request", "error_description": f"AADSTS900144: unexpected {form}"})
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return Reply(401, {"error": "invalid_client",
                                   "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0"})
            token = f"pbi-{uuid.uuid4()}"
            self.issued.append(token)
            return Reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})
        return Reply(404, {"error": "not_found"})


# --- Power BI -----------------------------------------------------------------------------------------------
def refresh_request_validator() -> jsonschema.Draft4Validator:
    definitions = json.loads(SWAGGER.read_text(encoding="utf-8"))["definitions"]
    schema = {"$ref": "#/definitions/DatasetRefreshRequest", "definitions": definitions}
    return jsonschema.Draft4Validator(schema)  # Swagger 2.0 schemas are JSON Schema draft 4


def refresh_request_errors(body: Any, validator: jsonschema.Draft4Validator | None = None) -> list[str]:
    """What is wrong with a refresh request body, by Microsoft's description; [] when valid."""
    validator = validator or refresh_request_validator()
    definition = validator.schema["definitions"]["DatasetRefreshRequest"]
    if not isinstance(body, dict):
        return [f"body is not an object: {body!r}"]
    errors = [f"unknown property {key!r}" for key in body if key not in definition["properties"]]
    enhanced = any(key != "notifyOption" for key in body)
    if enhanced:
        # "For enhanced refresh, notifyOption is not required and must be excluded from the request body."
        if "notifyOption" in body:
            errors.append("notifyOption must be excluded from an enhanced refresh")
        checked = jsonschema.Draft4Validator({**definition, "required": [], "definitions": validator.schema["definitions"]})
    else:
        checked = validator
    errors += [f"{'/'.join(map(str, e.path)) or '(body)'}: {e.message}" for e in checked.iter_errors(body)]
    return errors


class PowerBi(FakeServer):
    """Datasets by id, each with a behaviour: ``complete`` (after ``polls`` in-progress answers),
    ``fail`` or ``hang`` (never ends); the next ``throttle_posts`` POSTs are answered 429 with
    ``Retry-After: retry_after``."""

    def __init__(self, certificates, tokens: list[str]) -> None:
        super().__init__(certificates)
        self.tokens = tokens
        self.validator = refresh_request_validator()
        self.behaviour: dict[str, str] = {}
        self.polls = 1
        self.throttle_posts, self.retry_after = 0, 1
        self.refreshes: dict[str, dict[str, Any]] = {}
        self.invalid_bodies: list[tuple[Any, list[str]]] = []

    def handle_request_(self, request: dict[str, Any]) -> Reply:
        auth = request["headers"].get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            return Reply(403, {"error": {"code": "TokenExpired", "message": "Access token is missing or invalid"}})
        parts = request["path"].strip("/").split("/")
        # v1.0/myorg/groups/{g}/datasets/{d}/refreshes[/{id}]
        if parts[:3] != ["v1.0", "myorg", "groups"] or len(parts) < 6 or parts[4] != "datasets" or parts[6:7] != ["refreshes"]:
            return Reply(404, {"error": {"code": "NotFound", "message": request["path"]}})
        dataset = parts[5]
        behaviour = self.behaviour.get(dataset)
        if behaviour is None:
            return Reply(404, {"error": {"code": "ItemNotFound", "message": f"Dataset {dataset} is not found"}})
        if request["method"] == "POST" and len(parts) == 7:
            return self._post(request, dataset, behaviour)
        if request["method"] == "GET" and len(parts) == 7:
            return self._history(dataset, int(request["query"].get("$top", ["60"])[0]))
        refresh = self.refreshes.get(parts[7]) if len(parts) == 8 else None
        if refresh is None:
            return Reply(404, {"error": {"code": "NotFound", "message": "no such refresh"}})
        if request["method"] == "DELETE":
            refresh["cancelled"] = True
            return Reply(200)
        detail = self._advance(refresh)
        return Reply(202 if detail["status"] == "Unknown" else 200, detail)

    def _post(self, request: dict[str, Any], dataset: str, behaviour: str) -> Reply:
        body = request.get("json")
        errors = refresh_request_errors(body, self.validator)
        if errors:
            self.invalid_bodies.append((body, errors))
            return Reply(400, {"error": {"code": "InvalidRequest", "message": "; ".join(errors)}})
        if self.throttle_posts:
            self.throttle_posts -= 1
            return Reply(429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, {"Retry-After": str(self.retry_after)})
        refresh_id = str(uuid.uuid4())
        enhanced = any(key != "notifyOption" for key in body)
        self.refreshes[refresh_id] = {"dataset": dataset, "behaviour": behaviour, "polls": 0, "enhanced": enhanced, "body": body,
                                      "start": dt.datetime.now(dt.timezone.utc).isoformat(), "cancelled": False}
        headers = {"RequestId": refresh_id}
        if enhanced:  # "This would be returned only if any request payload except notifyOption is set."
            headers.update({"Location": f"{self.url}{request['path']}/{refresh_id}", "x-ms-request-id": refresh_id})
        return Reply(202, None, headers)

    def _advance(self, refresh: dict[str, Any]) -> dict[str, Any]:
        refresh["polls"] += 1
        behaviour, done = refresh["behaviour"], refresh["polls"] > self.polls
        detail: dict[str, Any] = {"startTime": refresh["start"], "type": refresh["body"].get("type", "Full"),
                                  "commitMode": refresh["body"].get("commitMode", "Transactional"), "numberOfAttempts": 1}
        if refresh["cancelled"]:
            return {**detail, "status": "Failed", "extendedStatus": "Cancelled"}
        if behaviour == "hang" or not done:
            return {**detail, "status": "Unknown", "extendedStatus": "InProgress"}
        if behaviour == "fail":
            return {**detail, "status": "Failed", "extendedStatus": "Failed", "endTime": refresh["start"],
                    "serviceExceptionJson": '{"errorCode":"ModelRefreshFailed_CredentialsNotSpecified"}',
                    "messages": [{"code": "ModelRefreshFailed_CredentialsNotSpecified", "message": "The credentials provided for the Snowflake source are invalid.", "type": "Error"}]}
        return {**detail, "status": "Completed", "extendedStatus": "Completed", "endTime": refresh["start"]}

    def _history(self, dataset: str, top: int) -> Reply:
        entries = []
        for refresh_id, refresh in reversed(list(self.refreshes.items())):
            if refresh["dataset"] != dataset:
                continue
            detail = self._advance(refresh)
            entry = {"refreshType": "ViaEnhancedApi" if refresh["enhanced"] else "ViaApi", "startTime": refresh["start"],
                     "status": detail["status"], "requestId": refresh_id}
            if "serviceExceptionJson" in detail:
                entry["serviceExceptionJson"] = detail["serviceExceptionJson"]
            entries.append(entry)
        return Reply(200, {"value": entries[:top]})


# --- Alteryx Server ---------------------------------------------------------------------------------------------
class AlteryxServer(FakeServer):
    """API key / secret; workflows by id with a final (status, disposition) reached after ``polls`` polls,
    or ``None`` for a job that stays Running."""

    def __init__(self, certificates, api_key: str, api_secret: str) -> None:
        super().__init__(certificates)
        self.api_key, self.api_secret = api_key, api_secret
        self.tokens: list[str] = []
        self.workflows: dict[str, tuple[str, str] | None] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.polls = 1

    def handle_request_(self, request: dict[str, Any]) -> Reply:
        path, method = request["path"], request["method"]
        if path == "/webapi/oauth2/token" and method == "POST":
            form = request.get("form", {})
            if form.get("grant_type") != "client_credentials":
                return Reply(400, {"error": "unsupported_grant_type"})
            if (form.get("client_id"), form.get("client_secret")) != (self.api_key, self.api_secret):
                return Reply(401, {"error": "invalid_client", "error_description": "The client credentials are invalid"})
            token = f"ayx-{uuid.uuid4()}"
            self.tokens.append(token)
            return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})
        if request["headers"].get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return Reply(401, {"message": "Authorization has been denied for this request."})
        parts = path.strip("/").split("/")
        if method == "POST" and parts[:3] == ["webapi", "v3", "workflows"] and parts[4:] == ["jobs"]:
            body = request.get("json")
            valid = isinstance(body, dict) and isinstance(body.get("questions"), list) and all(
                isinstance(q, dict) and set(q) == {"name", "value"} for q in body["questions"]
            ) and body.get("priority") in ("Default", "Low", "Medium", "High", "Critical")
            if not valid:
                return Reply(400, {"message": f"invalid job request {body!r}"})
            if parts[3] not in self.workflows:
                return Reply(404, {"message": f"Workflow {parts[3]} not found"})
            job_id = uuid.uuid4().hex[:24]
            self.jobs[job_id] = {"workflow": parts[3], "polls": 0}
            return Reply(200, {"id": job_id, "appId": parts[3], "status": "Queued", "disposition": "None",
                               "priority": body["priority"], "messages": []})
        if method == "GET" and parts[:3] == ["webapi", "v3", "jobs"] and len(parts) == 4 and parts[3] in self.jobs:
            job = self.jobs[parts[3]]
            job["polls"] += 1
            final = self.workflows[job["workflow"]]
            if final is None or job["polls"] <= self.polls:
                return Reply(200, {"id": parts[3], "status": "Running", "disposition": "None", "messages": []})
            status, disposition = final
            messages = [] if disposition == "Success" else [{"status": 3, "text": "Error: Output Data (7): Unable to open the file", "toolId": 7}]
            return Reply(200, {"id": parts[3], "status": status, "disposition": disposition, "messages": messages})
        return Reply(404, {"message": f"no route {method} {path}"})
