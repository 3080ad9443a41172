"""The control plane's resources: APIs and everything under them, domain names.

Resources are kept as plain dicts with boto3's PascalCase member names and epoch
timestamps, so that ``wire.serialize`` can turn any of them into an answer and
the whole state can be saved to one JSON file. Nothing here does I/O except
``save``/``load``; the HTTP layer is in ``control``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yarl import URL

from wsapp.localgateway import ids
from wsapp.localgateway.expressions import parse_request_parameters, selection_path
from wsapp.localgateway.wire import ApiError, bad_request, conflict, not_found

logger = logging.getLogger("wsapp.localgateway")

STATE_VERSION = 1

_STAGE_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9\-]{0,61}[a-z0-9])?$"
)
_ARN_RE = re.compile(r"^arn:aws[a-z\-]*:apigateway:([a-z0-9\-]+)::(/.+)$")
_HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}

#: Route 53 hosted zone of regional execute-api targets, for the regions most used;
#: any other region gets us-east-1's (the local gateway serves no DNS anyway).
REGIONAL_HOSTED_ZONES = {
    "us-east-1": "Z1UJRXOUMOOFQ8",
    "us-east-2": "ZOJJZC49E0EPZ",
    "us-west-1": "Z2MUQ32089INYE",
    "us-west-2": "Z2OJLYMUO9EFXC",
    "eu-west-1": "ZLY8HYME6SFDD",
    "eu-west-2": "ZJ5UAJN8Y3Z2Q",
    "eu-central-1": "Z1U9ULNL0V5AJ3",
    "ap-northeast-1": "Z1YSHQZHG15GKL",
    "ap-southeast-2": "Z2RPCDW04V8134",
}

#: Operations that change state (saved to the state file after each one).
MUTATING_PREFIXES = ("Create", "Update", "Delete", "Tag", "Untag")


def _check_integration_uri(uri: str) -> None:
    """Refuse an IntegrationUri the data plane could not call, as AWS does at once.

    yarl is the parser the forwarder uses, so a URI accepted here is one it can build
    a request from: a bracket left open or a port past 65535 is caught now rather than
    on the first event.
    """
    problem = None
    try:
        url = URL(uri)
        port = url.port
    except (ValueError, TypeError) as exc:
        problem = str(exc)
    else:
        if url.scheme not in ("http", "https") or not url.host:
            problem = "it must be an absolute http(s) URL"
        elif port is None or not 1 <= port <= 65535:
            problem = "the port must be between 1 and 65535"
    if problem is not None:
        raise bad_request(f"Invalid IntegrationUri {uri!r}: {problem}.")


def _check_route_response_key(key: str) -> None:
    # WebSocket APIs have one kind of route response, $default; any other key is
    # refused by AWS, so accepting it here would let a typo pass locally only.
    if key != "$default":
        raise bad_request(
            f"Invalid RouteResponseKey {key!r}: WebSocket APIs support only $default."
        )


def _missing(record: Any, fields: dict[str, type | tuple[type, ...]]) -> str | None:
    """The first of ``fields`` that ``record`` lacks or holds with the wrong type."""
    if not isinstance(record, dict):
        return f"is {type(record).__name__}, not an object"
    for name, kind in fields.items():
        if not isinstance(record.get(name), kind):
            return f"has no valid {name}"
    return None


def _objects(entries: Any, where: str, fields: dict[str, Any]) -> str | None:
    """Check every value of a dict of records; the answer names the first bad one."""
    if not isinstance(entries, dict):
        return f"{where} is not an object"
    for key, record in entries.items():
        problem = _missing(record, fields)
        if problem is not None:
            return f"{where}[{key!r}] {problem}"
    return None


def _state_problem(document: dict[str, Any]) -> str | None:
    """What is wrong in a state file's records, or None.

    The file is usually written by the gateway itself, but it is also a file people
    edit: every field the operations read is checked here, so a bad entry is named
    at start-up instead of turning every later call into a server error.
    """
    for api_id, record in document["apis"].items():
        where = f"apis[{api_id!r}]"
        problem = _missing(
            record,
            {
                "api": dict,
                "integrations": dict,
                "routes": dict,
                "route_responses": dict,
                "stages": dict,
                "deployments": dict,
            },
        )
        if problem is not None:
            return f"{where} {problem}"
        problem = (
            _objects(
                {"api": record["api"]}, where, {"ApiId": str, "RouteSelectionExpression": str}
            )
            or _objects(record["integrations"], f"{where}.integrations", {"IntegrationType": str})
            or _objects(record["routes"], f"{where}.routes", {"RouteKey": str})
            or _objects(record["stages"], f"{where}.stages", {"StageName": str})
            or _objects(
                record["deployments"],
                f"{where}.deployments",
                {"deployment": dict, "snapshot": dict},
            )
        )
        if problem is not None:
            return problem
        for route_id, responses in record["route_responses"].items():
            problem = _objects(
                responses, f"{where}.route_responses[{route_id!r}]", {"RouteResponseKey": str}
            )
            if problem is not None:
                return problem
        for deployment_id, deployment in record["deployments"].items():
            at = f"{where}.deployments[{deployment_id!r}]"
            snapshot = deployment["snapshot"]
            problem = _missing(deployment["deployment"], {"DeploymentId": str}) or _missing(
                snapshot, {"RouteSelectionExpression": str, "Routes": dict}
            )
            if problem is not None:
                return f"{at} {problem}"
            problem = _objects(
                snapshot["Routes"],
                f"{at}.snapshot.Routes",
                {"RouteId": str, "Integration": (dict, type(None)), "RouteResponseKeys": list},
            )
            if problem is not None:
                return problem
    for name, record in document["domains"].items():
        where = f"domains[{name!r}]"
        problem = _missing(record, {"domain": dict, "mappings": dict})
        if problem is not None:
            return f"{where} {problem}"
        problem = _objects(
            record["mappings"],
            f"{where}.mappings",
            {"ApiMappingId": str, "ApiId": str, "Stage": str, "ApiMappingKey": str},
        )
        if problem is not None:
            return problem
    return None


class StateFileError(Exception):
    """The state file cannot be read or does not hold a local gateway's state."""


class ControlPlane:
    """Every control-plane resource, and the operations boto3 calls on them."""

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        state_file: str | os.PathLike[str] | None = None,
        endpoint_for: Callable[[str], str] = lambda api_id: f"ws://127.0.0.1/{api_id}",
    ) -> None:
        self.region = region
        self.state_file = Path(state_file) if state_file else None
        #: Builds an API's ApiEndpoint from its id (the gateway knows host and port).
        self.endpoint_for = endpoint_for
        self.apis: dict[str, dict[str, Any]] = {}
        self.domains: dict[str, dict[str, Any]] = {}
        #: Called with (api_id, stage name or None) when an API or stage goes away,
        #: so that the data plane closes the sockets it held.
        self.on_removed: Callable[[str, str | None], None] | None = None
        self.operations: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
            "CreateApi": self.create_api,
            "GetApi": self.get_api,
            "GetApis": self.get_apis,
            "UpdateApi": self.update_api,
            "DeleteApi": self.delete_api,
            "CreateIntegration": self.create_integration,
            "GetIntegration": self.get_integration,
            "GetIntegrations": self.get_integrations,
            "UpdateIntegration": self.update_integration,
            "DeleteIntegration": self.delete_integration,
            "CreateRoute": self.create_route,
            "GetRoute": self.get_route,
            "GetRoutes": self.get_routes,
            "UpdateRoute": self.update_route,
            "DeleteRoute": self.delete_route,
            "CreateRouteResponse": self.create_route_response,
            "GetRouteResponse": self.get_route_response,
            "GetRouteResponses": self.get_route_responses,
            "UpdateRouteResponse": self.update_route_response,
            "DeleteRouteResponse": self.delete_route_response,
            "CreateStage": self.create_stage,
            "GetStage": self.get_stage,
            "GetStages": self.get_stages,
            "UpdateStage": self.update_stage,
            "DeleteStage": self.delete_stage,
            "CreateDeployment": self.create_deployment,
            "GetDeployment": self.get_deployment,
            "GetDeployments": self.get_deployments,
            "DeleteDeployment": self.delete_deployment,
            "CreateDomainName": self.create_domain_name,
            "GetDomainName": self.get_domain_name,
            "GetDomainNames": self.get_domain_names,
            "UpdateDomainName": self.update_domain_name,
            "DeleteDomainName": self.delete_domain_name,
            "CreateApiMapping": self.create_api_mapping,
            "GetApiMapping": self.get_api_mapping,
            "GetApiMappings": self.get_api_mappings,
            "UpdateApiMapping": self.update_api_mapping,
            "DeleteApiMapping": self.delete_api_mapping,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "GetTags": self.get_tags,
        }
        if self.state_file is not None:
            self.load()

    # ------------------------------------------------------------------ dispatch

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Run one operation; saves the state afterwards when it changed anything."""
        result = self.operations[operation](params)
        if operation.startswith(MUTATING_PREFIXES):
            self.save()
        return result

    # ------------------------------------------------------------------ persistence

    def to_json(self) -> dict[str, Any]:
        """The whole state as one JSON-able document."""
        return {
            "version": STATE_VERSION,
            "region": self.region,
            "apis": self.apis,
            "domains": self.domains,
        }

    def save(self) -> None:
        """Write the state file atomically (a temporary file, then a rename)."""
        if self.state_file is None:
            return
        directory = self.state_file.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                dir=directory, prefix=f".{self.state_file.name}.", suffix=".tmp"
            )
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    json.dump(self.to_json(), stream, indent=1)
                    stream.flush()
                    os.fsync(stream.fileno())
                os.replace(temporary, self.state_file)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            # The change is applied in memory either way; say loudly that it is not on disk.
            logger.error("Could not save the local gateway state to %s: %s", self.state_file, exc)

    def load(self) -> None:
        """Read the state file if it exists; raises StateFileError when it is unusable."""
        assert self.state_file is not None
        if not self.state_file.exists():
            return
        try:
            document = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateFileError(
                f"Cannot read the local gateway state file {self.state_file}: {exc}. "
                "Fix or delete it to start with an empty gateway."
            ) from exc
        if (
            not isinstance(document, dict)
            or document.get("version") != STATE_VERSION
            or not isinstance(document.get("apis"), dict)
            or not isinstance(document.get("domains"), dict)
        ):
            raise StateFileError(
                f"{self.state_file} is not a local gateway state file (version "
                f"{STATE_VERSION}). Delete it or point --state at another file."
            )
        problem = _state_problem(document)
        if problem is not None:
            raise StateFileError(
                f"{self.state_file} holds a damaged local gateway state: {problem}. "
                "Fix that entry or delete the file to start with an empty gateway."
            )
        self.apis = document["apis"]
        self.domains = document["domains"]

    # ------------------------------------------------------------------ helpers

    def arn(self, path: str) -> str:
        return f"arn:aws:apigateway:{self.region}::{path}"

    def _api(self, api_id: str) -> dict[str, Any]:
        record = self.apis.get(api_id)
        if record is None:
            raise not_found(f"Invalid API identifier specified {api_id}", "Api")
        return record

    def _integration(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._api(params["ApiId"])
        integration = record["integrations"].get(params["IntegrationId"])
        if integration is None:
            raise not_found(
                f"Invalid Integration identifier specified {params['IntegrationId']}",
                "Integration",
            )
        return integration

    def _route(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._api(params["ApiId"])
        route = record["routes"].get(params["RouteId"])
        if route is None:
            raise not_found(f"Invalid Route identifier specified {params['RouteId']}", "Route")
        return route

    def _route_response(self, params: dict[str, Any]) -> dict[str, Any]:
        self._route(params)
        responses = self.apis[params["ApiId"]]["route_responses"].get(params["RouteId"], {})
        response = responses.get(params["RouteResponseId"])
        if response is None:
            raise not_found(
                f"Invalid RouteResponse identifier specified {params['RouteResponseId']}",
                "RouteResponse",
            )
        return response

    def _stage(self, api_id: str, stage_name: str) -> dict[str, Any]:
        stage = self._api(api_id)["stages"].get(stage_name)
        if stage is None:
            raise not_found(f"Invalid stage identifier specified {stage_name}", "Stage")
        return stage

    def _deployment(self, api_id: str, deployment_id: str) -> dict[str, Any]:
        deployment = self._api(api_id)["deployments"].get(deployment_id)
        if deployment is None:
            raise not_found(
                f"Invalid Deployment identifier specified {deployment_id}", "Deployment"
            )
        return deployment

    @staticmethod
    def _domain_key(domain_name: str) -> str:
        """How a domain name is stored: DNS names ignore case and a final dot."""
        return domain_name.lower().rstrip(".")

    def _domain(self, domain_name: str) -> dict[str, Any]:
        record = self.domains.get(self._domain_key(domain_name))
        if record is None:
            raise not_found(f"Invalid domain name identifier specified {domain_name}", "Domain")
        return record

    @staticmethod
    def _page(items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        try:
            size = int(params.get("MaxResults") or 100)
            offset = int(params.get("NextToken") or 0)
        except ValueError:
            raise bad_request("MaxResults and NextToken must be whole numbers.") from None
        if size < 1 or offset < 0:
            raise bad_request("MaxResults must be at least 1 and NextToken at least 0.")
        page: dict[str, Any] = {"Items": items[offset : offset + size]}
        if offset + size < len(items):
            page["NextToken"] = str(offset + size)
        return page

    def _taken_ids(self, record: dict[str, Any]) -> set[str]:
        taken = set(record["integrations"]) | set(record["routes"]) | set(record["deployments"])
        for responses in record["route_responses"].values():
            taken |= set(responses)
        return taken

    # ------------------------------------------------------------------ APIs

    def _api_out(self, api: dict[str, Any]) -> dict[str, Any]:
        return {**api, "ApiEndpoint": self.endpoint_for(api["ApiId"])}

    def create_api(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["ProtocolType"] != "WEBSOCKET":
            raise bad_request(
                f"ProtocolType {params['ProtocolType']} is not emulated: the local gateway "
                "serves WEBSOCKET APIs only."
            )
        for quick_create in ("Target", "RouteKey", "CredentialsArn"):
            if quick_create in params:
                raise bad_request(f"{quick_create} is supported only for HTTP APIs.")
        if "RouteSelectionExpression" not in params:
            raise bad_request("RouteSelectionExpression is required for WEBSOCKET APIs.")
        selection_path(params["RouteSelectionExpression"])
        api_id = ids.api_id(self.apis)
        api = {
            "ApiId": api_id,
            "Name": params["Name"],
            "ProtocolType": "WEBSOCKET",
            "RouteSelectionExpression": params["RouteSelectionExpression"],
            "ApiKeySelectionExpression": params.get(
                "ApiKeySelectionExpression", "$request.header.x-api-key"
            ),
            "Description": params.get("Description"),
            "DisableSchemaValidation": params.get("DisableSchemaValidation", False),
            "DisableExecuteApiEndpoint": params.get("DisableExecuteApiEndpoint", False),
            "IpAddressType": params.get("IpAddressType", "ipv4"),
            "Version": params.get("Version"),
            "Tags": dict(params.get("Tags") or {}),
            "CreatedDate": time.time(),
        }
        self.apis[api_id] = {
            "api": api,
            "integrations": {},
            "routes": {},
            "route_responses": {},
            "stages": {},
            "deployments": {},
        }
        return self._api_out(api)

    def get_api(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._api_out(self._api(params["ApiId"])["api"])

    def get_apis(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page([self._api_out(r["api"]) for r in self.apis.values()], params)

    def update_api(self, params: dict[str, Any]) -> dict[str, Any]:
        api = self._api(params["ApiId"])["api"]
        if params.get("ProtocolType", "WEBSOCKET") != "WEBSOCKET":
            raise bad_request("The protocol type of an API cannot be changed.")
        if "RouteSelectionExpression" in params:
            selection_path(params["RouteSelectionExpression"])
        for name in (
            "Name",
            "Description",
            "RouteSelectionExpression",
            "ApiKeySelectionExpression",
            "DisableSchemaValidation",
            "DisableExecuteApiEndpoint",
            "IpAddressType",
            "Version",
        ):
            if name in params:
                api[name] = params[name]
        return self._api_out(api)

    def delete_api(self, params: dict[str, Any]) -> None:
        api_id = params["ApiId"]
        self._api(api_id)
        del self.apis[api_id]
        for domain in self.domains.values():
            domain["mappings"] = {
                key: mapping
                for key, mapping in domain["mappings"].items()
                if mapping["ApiId"] != api_id
            }
        if self.on_removed is not None:
            self.on_removed(api_id, None)

    # ------------------------------------------------------------------ integrations

    def _check_integration(self, integration: dict[str, Any]) -> None:
        kind = integration["IntegrationType"]
        if kind in ("HTTP", "HTTP_PROXY"):
            uri = integration.get("IntegrationUri")
            if not uri:
                raise bad_request(f"IntegrationUri is required for {kind} integrations.")
            _check_integration_uri(uri)
            method = integration.get("IntegrationMethod")
            if not method:
                raise bad_request(f"IntegrationMethod is required for {kind} integrations.")
            if method.upper() not in _HTTP_METHODS:
                raise bad_request(f"Invalid IntegrationMethod {method!r}.")
            integration["IntegrationMethod"] = method.upper()
        elif kind in ("AWS", "AWS_PROXY") and not integration.get("IntegrationUri"):
            raise bad_request(f"IntegrationUri is required for {kind} integrations.")
        if integration.get("ConnectionType", "INTERNET") != "INTERNET":
            raise bad_request("Only ConnectionType INTERNET is emulated (no VPC links).")
        if integration.get("PayloadFormatVersion", "1.0") != "1.0":
            raise bad_request("WebSocket APIs support PayloadFormatVersion 1.0 only.")
        timeout = integration.get("TimeoutInMillis", 29000)
        if not 50 <= timeout <= 29000:
            raise bad_request(f"TimeoutInMillis must be between 50 and 29000, not {timeout}.")
        parse_request_parameters(integration.get("RequestParameters") or {})

    def create_integration(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._api(params["ApiId"])
        integration = {k: v for k, v in params.items() if k != "ApiId"}
        integration.setdefault("ConnectionType", "INTERNET")
        integration.setdefault("PayloadFormatVersion", "1.0")
        integration.setdefault("TimeoutInMillis", 29000)
        if integration["IntegrationType"] not in ("HTTP_PROXY", "AWS_PROXY"):
            integration.setdefault("PassthroughBehavior", "WHEN_NO_MATCH")
        self._check_integration(integration)
        integration["IntegrationId"] = ids.resource_id(self._taken_ids(record))
        integration["ApiGatewayManaged"] = False
        record["integrations"][integration["IntegrationId"]] = integration
        return integration

    def get_integration(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._integration(params)

    def get_integrations(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page(list(self._api(params["ApiId"])["integrations"].values()), params)

    def update_integration(self, params: dict[str, Any]) -> dict[str, Any]:
        integration = self._integration(params)
        updated = {**integration}
        updated.update({k: v for k, v in params.items() if k not in ("ApiId", "IntegrationId")})
        self._check_integration(updated)
        integration.update(updated)
        return integration

    def delete_integration(self, params: dict[str, Any]) -> None:
        self._integration(params)
        record = self.apis[params["ApiId"]]
        target = f"integrations/{params['IntegrationId']}"
        users = [r["RouteKey"] for r in record["routes"].values() if r.get("Target") == target]
        if users:
            raise conflict(
                f"Integration {params['IntegrationId']} is the target of route(s) "
                f"{', '.join(users)}: change or delete those routes first."
            )
        del record["integrations"][params["IntegrationId"]]

    # ------------------------------------------------------------------ routes

    def _check_route(self, record: dict[str, Any], route: dict[str, Any]) -> None:
        target = route.get("Target")
        if target is not None:
            prefix = "integrations/"
            if (
                not target.startswith(prefix)
                or target[len(prefix) :] not in record["integrations"]
            ):
                raise bad_request(
                    f"Invalid Target {target!r}: it must be integrations/<id> of an "
                    "integration of this API."
                )
        if route.get("AuthorizationType", "NONE") != "NONE":
            raise bad_request("Only AuthorizationType NONE is emulated by the local gateway.")
        if route.get("ApiKeyRequired"):
            raise bad_request("API keys are not emulated by the local gateway.")
        expression = route.get("RouteResponseSelectionExpression")
        if expression is not None and expression != "$default":
            raise bad_request("RouteResponseSelectionExpression must be $default.")
        key = route["RouteKey"]
        for other_id, other in record["routes"].items():
            if other["RouteKey"] == key and other_id != route.get("RouteId"):
                raise conflict(f"Route with key {key} already exists for this API.")

    def create_route(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._api(params["ApiId"])
        route = {k: v for k, v in params.items() if k != "ApiId"}
        route.setdefault("AuthorizationType", "NONE")
        route.setdefault("ApiKeyRequired", False)
        self._check_route(record, route)
        route["RouteId"] = ids.resource_id(self._taken_ids(record))
        route["ApiGatewayManaged"] = False
        record["routes"][route["RouteId"]] = route
        return route

    def get_route(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._route(params)

    def get_routes(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page(list(self._api(params["ApiId"])["routes"].values()), params)

    def update_route(self, params: dict[str, Any]) -> dict[str, Any]:
        route = self._route(params)
        updated = {**route}
        updated.update({k: v for k, v in params.items() if k != "ApiId"})
        self._check_route(self.apis[params["ApiId"]], updated)
        route.update(updated)
        return route

    def delete_route(self, params: dict[str, Any]) -> None:
        self._route(params)
        record = self.apis[params["ApiId"]]
        del record["routes"][params["RouteId"]]
        record["route_responses"].pop(params["RouteId"], None)

    # ------------------------------------------------------------------ route responses

    def create_route_response(self, params: dict[str, Any]) -> dict[str, Any]:
        self._route(params)
        record = self.apis[params["ApiId"]]
        key = params["RouteResponseKey"]
        _check_route_response_key(key)
        responses = record["route_responses"].setdefault(params["RouteId"], {})
        if any(r["RouteResponseKey"] == key for r in responses.values()):
            raise conflict(f"Route response with key {key} already exists for this route.")
        response = {k: v for k, v in params.items() if k not in ("ApiId", "RouteId")} | {
            "RouteResponseId": ids.resource_id(self._taken_ids(record))
        }
        responses[response["RouteResponseId"]] = response
        return response

    def get_route_response(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._route_response(params)

    def get_route_responses(self, params: dict[str, Any]) -> dict[str, Any]:
        self._route(params)
        responses = self.apis[params["ApiId"]]["route_responses"].get(params["RouteId"], {})
        return self._page(list(responses.values()), params)

    def update_route_response(self, params: dict[str, Any]) -> dict[str, Any]:
        response = self._route_response(params)
        key = params.get("RouteResponseKey")
        if key is not None:
            _check_route_response_key(key)
        if key is not None and key != response["RouteResponseKey"]:
            siblings = self.apis[params["ApiId"]]["route_responses"][params["RouteId"]]
            if any(r["RouteResponseKey"] == key for r in siblings.values()):
                raise conflict(f"Route response with key {key} already exists for this route.")
        response.update(
            {k: v for k, v in params.items() if k not in ("ApiId", "RouteId", "RouteResponseId")}
        )
        return response

    def delete_route_response(self, params: dict[str, Any]) -> None:
        self._route_response(params)
        del self.apis[params["ApiId"]]["route_responses"][params["RouteId"]][
            params["RouteResponseId"]
        ]

    # ------------------------------------------------------------------ stages

    _STAGE_FIELDS = (
        "AccessLogSettings",
        "AutoDeploy",
        "ClientCertificateId",
        "DefaultRouteSettings",
        "DeploymentId",
        "Description",
        "RouteSettings",
        "StageVariables",
    )

    def create_stage(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._api(params["ApiId"])
        name = params["StageName"]
        if not _STAGE_NAME_RE.fullmatch(name):
            raise bad_request(
                f"Invalid stage name {name!r}: use letters, digits, '_' and '-' (1-128)."
            )
        if name in record["stages"]:
            raise conflict(f"Stage {name} already exists.")
        if "DeploymentId" in params:
            self._deployment(params["ApiId"], params["DeploymentId"])
        now = time.time()
        stage = {field: params[field] for field in self._STAGE_FIELDS if field in params}
        stage.setdefault("AutoDeploy", False)
        stage.setdefault(
            "DefaultRouteSettings",
            {"DataTraceEnabled": False, "DetailedMetricsEnabled": False, "LoggingLevel": "OFF"},
        )
        stage.setdefault("RouteSettings", {})
        stage.setdefault("StageVariables", {})
        stage.update(
            StageName=name,
            Tags=dict(params.get("Tags") or {}),
            CreatedDate=now,
            LastUpdatedDate=now,
            ApiGatewayManaged=False,
        )
        record["stages"][name] = stage
        return stage

    def get_stage(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._stage(params["ApiId"], params["StageName"])

    def get_stages(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page(list(self._api(params["ApiId"])["stages"].values()), params)

    def update_stage(self, params: dict[str, Any]) -> dict[str, Any]:
        stage = self._stage(params["ApiId"], params["StageName"])
        if "DeploymentId" in params:
            self._deployment(params["ApiId"], params["DeploymentId"])
        for field in self._STAGE_FIELDS:
            if field in params:
                stage[field] = params[field]
        stage["LastUpdatedDate"] = time.time()
        return stage

    def delete_stage(self, params: dict[str, Any]) -> None:
        api_id, name = params["ApiId"], params["StageName"]
        self._stage(api_id, name)
        del self.apis[api_id]["stages"][name]
        for domain in self.domains.values():
            domain["mappings"] = {
                key: mapping
                for key, mapping in domain["mappings"].items()
                if not (mapping["ApiId"] == api_id and mapping["Stage"] == name)
            }
        if self.on_removed is not None:
            self.on_removed(api_id, name)

    # ------------------------------------------------------------------ deployments

    @staticmethod
    def snapshot(record: dict[str, Any]) -> dict[str, Any]:
        """What a deployment freezes: the selection expression and each route's setup."""
        routes = {}
        for route_id, route in record["routes"].items():
            target = route.get("Target") or ""
            integration = record["integrations"].get(target.removeprefix("integrations/"))
            responses = record["route_responses"].get(route_id, {})
            routes[route["RouteKey"]] = {
                "RouteId": route_id,
                "Integration": copy.deepcopy(integration),
                "RouteResponseKeys": sorted(r["RouteResponseKey"] for r in responses.values()),
            }
        return {
            "RouteSelectionExpression": record["api"]["RouteSelectionExpression"],
            "Routes": routes,
        }

    def create_deployment(self, params: dict[str, Any]) -> dict[str, Any]:
        api_id = params["ApiId"]
        record = self._api(api_id)
        stage = self._stage(api_id, params["StageName"]) if "StageName" in params else None
        if not record["routes"]:
            raise bad_request("At least one route is required before deploying the Api.")
        deployment = {
            "DeploymentId": ids.resource_id(self._taken_ids(record)),
            "DeploymentStatus": "DEPLOYED",
            "AutoDeployed": False,
            "CreatedDate": time.time(),
            "Description": params.get("Description"),
        }
        record["deployments"][deployment["DeploymentId"]] = {
            "deployment": deployment,
            "snapshot": self.snapshot(record),
        }
        if stage is not None:
            stage["DeploymentId"] = deployment["DeploymentId"]
            stage["LastUpdatedDate"] = time.time()
        return deployment

    def get_deployment(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._deployment(params["ApiId"], params["DeploymentId"])["deployment"]

    def get_deployments(self, params: dict[str, Any]) -> dict[str, Any]:
        deployments = self._api(params["ApiId"])["deployments"].values()
        return self._page([d["deployment"] for d in deployments], params)

    def delete_deployment(self, params: dict[str, Any]) -> None:
        api_id, deployment_id = params["ApiId"], params["DeploymentId"]
        self._deployment(api_id, deployment_id)
        users = [
            name
            for name, stage in self.apis[api_id]["stages"].items()
            if stage.get("DeploymentId") == deployment_id
        ]
        if users:
            raise bad_request(
                f"Active stages pointing to this deployment must be moved or deleted: "
                f"{', '.join(users)}."
            )
        del self.apis[api_id]["deployments"][deployment_id]

    def served(self, api_id: str, stage_name: str) -> dict[str, Any] | None:
        """The deployed snapshot a stage serves, or None (no such stage, not deployed)."""
        record = self.apis.get(api_id)
        if record is None:
            return None
        stage = record["stages"].get(stage_name)
        if stage is None or not stage.get("DeploymentId"):
            return None
        deployment = record["deployments"].get(stage["DeploymentId"])
        return deployment["snapshot"] if deployment else None

    # ------------------------------------------------------------------ domain names

    @staticmethod
    def _domain_configuration(configurations: list[dict[str, Any]] | None) -> dict[str, Any]:
        """The one DomainNameConfiguration asked for, checked, with AWS's defaults."""
        configurations = configurations or [{}]
        if len(configurations) != 1:
            raise bad_request("Exactly one DomainNameConfiguration is supported.")
        configuration = dict(configurations[0])
        configuration.setdefault("EndpointType", "REGIONAL")
        configuration.setdefault("SecurityPolicy", "TLS_1_2")
        if configuration["EndpointType"] != "REGIONAL":
            raise bad_request("Only REGIONAL domain names are available to WebSocket APIs.")
        return configuration

    def create_domain_name(self, params: dict[str, Any]) -> dict[str, Any]:
        name = self._domain_key(params["DomainName"])
        if not _DOMAIN_RE.match(name):
            raise bad_request(f"Invalid domain name {params['DomainName']!r}.")
        if name in self.domains:
            raise conflict(f"The domain name {name} already exists.")
        configuration = self._domain_configuration(params.get("DomainNameConfigurations"))
        configuration.update(
            ApiGatewayDomainName=f"{ids.domain_target()}.execute-api.{self.region}.amazonaws.com",
            HostedZoneId=REGIONAL_HOSTED_ZONES.get(
                self.region, REGIONAL_HOSTED_ZONES["us-east-1"]
            ),
            DomainNameStatus="AVAILABLE",
        )
        domain = {
            "DomainName": name,
            "DomainNameArn": self.arn(f"/domainnames/{name}"),
            "ApiMappingSelectionExpression": "$request.basepath",
            "DomainNameConfigurations": [configuration],
            "Tags": dict(params.get("Tags") or {}),
        }
        self.domains[name] = {"domain": domain, "mappings": {}}
        return domain

    def get_domain_name(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._domain(params["DomainName"])["domain"]

    def get_domain_names(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page([d["domain"] for d in self.domains.values()], params)

    def update_domain_name(self, params: dict[str, Any]) -> dict[str, Any]:
        """Replace the configuration (a new certificate, say); the target stays the same.

        AWS keeps a regional domain's ApiGatewayDomainName and hosted zone across a
        certificate or security-policy change, so DNS pointing at it keeps working.
        Without DomainNameConfigurations nothing changes.
        """
        domain = self._domain(params["DomainName"])["domain"]
        if not params.get("DomainNameConfigurations"):
            return domain
        configuration = self._domain_configuration(params["DomainNameConfigurations"])
        current = (domain.get("DomainNameConfigurations") or [{}])[0]
        configuration.update(
            ApiGatewayDomainName=current.get("ApiGatewayDomainName")
            or f"{ids.domain_target()}.execute-api.{self.region}.amazonaws.com",
            HostedZoneId=current.get("HostedZoneId")
            or REGIONAL_HOSTED_ZONES.get(self.region, REGIONAL_HOSTED_ZONES["us-east-1"]),
            DomainNameStatus="AVAILABLE",
        )
        domain["DomainNameConfigurations"] = [configuration]
        return domain

    def delete_domain_name(self, params: dict[str, Any]) -> None:
        self._domain(params["DomainName"])
        del self.domains[self._domain_key(params["DomainName"])]

    def create_api_mapping(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._domain(params["DomainName"])
        self._stage(params["ApiId"], params["Stage"])
        key = params.get("ApiMappingKey", "")
        if any(m["ApiMappingKey"] == key for m in record["mappings"].values()):
            raise conflict(
                f"An API mapping with key {key!r} already exists for {params['DomainName']}."
            )
        mapping = {
            "ApiMappingId": ids.resource_id(record["mappings"]),
            "ApiId": params["ApiId"],
            "Stage": params["Stage"],
            "ApiMappingKey": key,
        }
        record["mappings"][mapping["ApiMappingId"]] = mapping
        return mapping

    def _mapping(self, params: dict[str, Any]) -> dict[str, Any]:
        mapping = self._domain(params["DomainName"])["mappings"].get(params["ApiMappingId"])
        if mapping is None:
            raise not_found(
                f"Invalid ApiMapping identifier specified {params['ApiMappingId']}", "ApiMapping"
            )
        return mapping

    def get_api_mapping(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._mapping(params)

    def get_api_mappings(self, params: dict[str, Any]) -> dict[str, Any]:
        mappings = self._domain(params["DomainName"])["mappings"].values()
        return self._page(list(mappings), params)

    def update_api_mapping(self, params: dict[str, Any]) -> dict[str, Any]:
        mapping = self._mapping(params)
        api_id = params.get("ApiId") or mapping["ApiId"]
        stage = params.get("Stage") or mapping["Stage"]
        self._stage(api_id, stage)
        key = params.get("ApiMappingKey", mapping["ApiMappingKey"])
        others = self._domain(params["DomainName"])["mappings"].values()
        if any(m is not mapping and m["ApiMappingKey"] == key for m in others):
            raise conflict(
                f"An API mapping with key {key!r} already exists for {params['DomainName']}."
            )
        mapping.update(ApiId=api_id, Stage=stage, ApiMappingKey=key)
        return mapping

    def delete_api_mapping(self, params: dict[str, Any]) -> None:
        self._mapping(params)
        del self._domain(params["DomainName"])["mappings"][params["ApiMappingId"]]

    # ------------------------------------------------------------------ tags

    def _taggable(self, arn: str) -> dict[str, Any]:
        match = _ARN_RE.fullmatch(arn)
        if match is None:
            raise bad_request(f"Invalid resource ARN {arn!r}.")
        region, path = match.groups()
        if region != self.region:
            raise not_found(f"Resource {arn} is not in region {self.region}.")
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "apis":
            return self._api(parts[1])["api"]
        if len(parts) == 4 and parts[0] == "apis" and parts[2] == "stages":
            return self._stage(parts[1], parts[3])
        if len(parts) == 2 and parts[0] == "domainnames":
            return self._domain(parts[1])["domain"]
        raise not_found(f"Resource {arn} cannot be tagged or does not exist.")

    def tag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        resource = self._taggable(params["ResourceArn"])
        resource.setdefault("Tags", {}).update(params.get("Tags") or {})
        return {}

    def untag_resource(self, params: dict[str, Any]) -> None:
        resource = self._taggable(params["ResourceArn"])
        for key in params.get("TagKeys") or []:
            resource.setdefault("Tags", {}).pop(key, None)

    def get_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": dict(self._taggable(params["ResourceArn"]).get("Tags") or {})}


__all__ = ["ApiError", "ControlPlane", "StateFileError"]
