"""OpenAPI 3.1 description of the gateway, served at GET /openapi.json.

Kept next to the handlers and checked against them by the schemathesis test:
every documented status is one the handler can return, and every response
conforms to its schema.
"""

from __future__ import annotations

from typing import Any

from nxthdr.saimiris.gateway.store import STATUSES

ERROR = {"$ref": "#/components/schemas/Error"}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    text = {
        400: "Invalid request: the message names the field, parameter or probe index",
        401: "Missing or invalid credentials",
        403: "Forbidden (source address outside the user's prefix, user id collision)",
        404: "Not found",
        409: "Conflict",
        408: "Request body not received in time",
        413: "Request body too large",
        415: "Request body is not application/json",
        429: "Daily probe limit exceeded",
        500: "The broker did not take the records; nothing was counted",
        503: "The identity provider's keys cannot be fetched",
    }
    if 413 in codes:  # every route that reads a body
        codes = (*codes, 408, 415)
    return {str(c): _json(ERROR, text[c]) for c in sorted(set(codes))}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


AGENT_ID = {"name": "id", "in": "path", "required": True, "description": "Agent id",
            "schema": {"type": "string", "minLength": 1, "maxLength": 128}}
MEASUREMENT_ID = {"name": "mid", "in": "path", "required": True, "description": "Measurement id (UUID)",
                  "schema": {"type": "string", "format": "uuid"}}

AGENT_AUTH = [{"agentKey": [], "agentSecret": []}]
USER_AUTH = [{"userToken": []}]


def _body(schema: dict, description: str) -> dict:
    return {"required": True, "description": description, "content": {"application/json": {"schema": schema}}}


SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "additionalProperties": False,
              "properties": {"error": {"type": "string", "description": "What failed and why"}}},
    "RegisterRequest": {"type": "object", "required": ["id", "secret"], "additionalProperties": False,
                        "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 128},
                                       "secret": {"type": "string", "minLength": 1, "maxLength": 1024,
                                                  "description": "Sent again as X-Agent-Secret on every agent call"}}},
    "RegisterResponse": {"type": "object", "required": ["id", "registered"], "additionalProperties": False,
                         "properties": {"id": {"type": "string"},
                                        "registered": {"type": "boolean",
                                                       "description": "false: already registered with this secret"}}},
    "InstanceConfig": {
        "type": "object", "additionalProperties": False,
        "description": "One prober instance of the agent (all fields optional)",
        "properties": {
            "name": {"type": ["string", "null"]},
            "batch_size": {"type": "integer", "minimum": 0},
            "instance_id": {"type": "integer", "minimum": 0, "maximum": 65535},
            "dry_run": {"type": "boolean"},
            "min_ttl": {"type": ["integer", "null"], "minimum": 0, "maximum": 255},
            "max_ttl": {"type": ["integer", "null"], "minimum": 0, "maximum": 255},
            "integrity_check": {"type": "boolean"},
            "interface": {"type": ["string", "null"]},
            "src_ipv4_prefix": {"type": ["string", "null"], "description": "IPv4 prefix, e.g. 192.0.2.0/24"},
            "src_ipv6_prefix": {"type": ["string", "null"],
                                "description": "IPv6 prefix users get a /(p+32) of, e.g. 2001:db8::/48"},
            "packets": {"type": "integer", "minimum": 0},
            "probing_rate": {"type": "integer", "minimum": 0},
            "rate_limiting_method": {"type": "string"},
        }},
    "InstanceConfigs": {"type": "array", "maxItems": 64, "items": _ref("InstanceConfig")},
    "Health": {"type": "object", "required": ["healthy"], "additionalProperties": False,
               "properties": {"healthy": {"type": "boolean"},
                              "last_check": {"type": ["string", "null"], "description": "RFC 3339 time"},
                              "message": {"type": ["string", "null"], "maxLength": 4096}}},
    "Ack": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"},
                                                                 "instances": {"type": "integer"},
                                                                 "healthy": {"type": "boolean"}}},
    "StatusReport": {"type": "object", "required": ["sent_probes", "is_complete"], "additionalProperties": False,
                     "properties": {"sent_probes": {"type": "integer", "minimum": 0,
                                                    "description": "Cumulative probes sent for this measurement"},
                                    "is_complete": {"type": "boolean"}}},
    "ReportResponse": {"type": "object", "additionalProperties": False,
                       "required": ["agent_id", "measurement_id", "expected_probes", "sent_probes", "is_complete",
                                    "measurement_status"],
                       "properties": {"agent_id": {"type": "string"}, "measurement_id": {"type": "string"},
                                      "expected_probes": {"type": "integer"}, "sent_probes": {"type": "integer"},
                                      "is_complete": {"type": "boolean"},
                                      "measurement_status": {"enum": list(STATUSES)}}},
    "Agent": {"type": "object", "additionalProperties": False,
              "required": ["id", "config", "health", "healthy", "registered_at", "last_seen"],
              "properties": {"id": {"type": "string"},
                             "config": {"oneOf": [_ref("InstanceConfigs"), {"type": "null"}]},
                             "health": {"oneOf": [_ref("Health"), {"type": "null"}]},
                             "healthy": {"type": "boolean",
                                         "description": "Reported healthy within the expiry (10 min)"},
                             "registered_at": TIME, "last_seen": TIME}},
    "UserInfo": {"type": "object", "additionalProperties": False,
                 "required": ["sub", "user_id", "day", "used", "limit", "remaining", "submission_count"],
                 "properties": {"sub": {"type": "string"},
                                "user_id": {"type": "integer", "minimum": 0, "maximum": 4294967295},
                                "day": {"type": "string", "format": "date", "description": "UTC day of the usage"},
                                "used": {"type": "integer", "description": "Probes counted today (probes x agents)"},
                                "limit": {"type": "integer"}, "remaining": {"type": "integer", "minimum": 0},
                                "submission_count": {"type": "integer", "minimum": 0}}},
    "UserPrefixes": {"type": "object", "additionalProperties": False, "required": ["user_id", "agents"],
                     "properties": {
                         "user_id": {"type": "integer", "minimum": 0, "maximum": 4294967295},
                         "agents": {"type": "array", "items": {
                             "type": "object", "required": ["agent_id", "prefixes"], "additionalProperties": False,
                             "properties": {"agent_id": {"type": "string"}, "prefixes": {"type": "array", "items": {
                                 "type": "object", "required": ["agent_prefix", "user_prefix"],
                                 "additionalProperties": False,
                                 "properties": {"agent_prefix": {"type": "string"},
                                                "user_prefix": {"type": "string"}}}}}}}}},
    "Probe": {"type": "array", "minItems": 5, "maxItems": 5,
              "description": "[dst_addr (IPv6, not IPv4-mapped), src_port, dst_port, ttl, protocol]",
              "prefixItems": [{"type": "string"},
                              {"type": "integer", "minimum": 0, "maximum": 65535},
                              {"type": "integer", "minimum": 0, "maximum": 65535},
                              {"type": "integer", "minimum": 1, "maximum": 255},
                              {"type": "string", "enum": ["udp", "icmpv6"]}]},
    "SubmitRequest": {
        "type": "object", "required": ["metadata", "probes"], "additionalProperties": False,
        "properties": {
            "metadata": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["id", "ip_address"], "additionalProperties": False,
                "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 128,
                                      "description": "A healthy agent"},
                               "ip_address": {"type": "string",
                                              "description": "IPv6 source inside the user's prefix on that agent"}}}},
            "probes": {"type": "array", "minItems": 1, "items": _ref("Probe")}}},
    "SubmitResponse": {
        "type": "object", "additionalProperties": False, "required": ["id", "probes", "probes_per_agent", "agents"],
        "properties": {"id": {"type": "string", "format": "uuid"},
                       "probes": {"type": "integer", "description": "Probes counted: probes x agents"},
                       "probes_per_agent": {"type": "integer"},
                       "agents": {"type": "array", "items": {
                           "type": "object", "required": ["id", "ip_address"], "additionalProperties": False,
                           "properties": {"id": {"type": "string"}, "ip_address": {"type": "string"}}}}}},
    "MeasurementSummary": {
        "type": "object",
        "required": ["measurement_id", "status", "probes", "total_agents", "completed_agents", "total_expected_probes",
                     "total_sent_probes", "charged_probes", "measurement_complete", "measurement_cancelled",
                     "started_at", "last_updated", "cancelled_at"],
        "properties": {"measurement_id": {"type": "string"}, "status": {"enum": list(STATUSES)},
                       "probes": {"type": "integer", "description": "Probes per agent"},
                       "total_agents": {"type": "integer"}, "completed_agents": {"type": "integer"},
                       "total_expected_probes": {"type": "integer"}, "total_sent_probes": {"type": "integer"},
                       "charged_probes": {"type": "integer",
                                          "description": "What the measurement counts against the daily limit"},
                       "measurement_complete": {"type": "boolean", "description": "Complete or cancelled"},
                       "measurement_cancelled": {"type": "boolean"},
                       "started_at": TIME, "last_updated": TIME, "cancelled_at": NULLABLE_TIME,
                       "agents": {"type": "array", "items": _ref("MeasurementAgent")},
                       "agents_cancelled": {"type": "integer"}}},
    "MeasurementAgent": {
        "type": "object", "additionalProperties": False,
        "required": ["agent_id", "src_ip", "expected_probes", "sent_probes", "is_complete", "cancelled",
                     "charged_probes", "updated_at"],
        "properties": {"agent_id": {"type": "string"}, "src_ip": {"type": "string"},
                       "expected_probes": {"type": "integer"}, "sent_probes": {"type": "integer"},
                       "is_complete": {"type": "boolean"}, "cancelled": {"type": "boolean"},
                       "charged_probes": {"type": "integer"}, "updated_at": TIME}},
}


def document(server_url: str | None = None, dev_mode: bool = False) -> dict:
    """The description; in dev mode user routes need no token, and the document says so."""
    paths: dict[str, Any] = {
        "/agent-api/agent/register": {"post": {
            "summary": "Register an agent (idempotent with the same secret)", "tags": ["agents"],
            "security": [{"agentKey": []}],
            "requestBody": _body(_ref("RegisterRequest"), "Agent id and its secret"),
            "responses": {"200": _json(_ref("RegisterResponse"), "Already registered with this secret"),
                          "201": _json(_ref("RegisterResponse"), "Registered"),
                          **_errors(400, 401, 409, 413)}}},
        "/agent-api/agent/{id}/config": {"post": {
            "summary": "Publish the agent's prober instances", "tags": ["agents"], "security": AGENT_AUTH,
            "parameters": [AGENT_ID],
            "requestBody": _body(_ref("InstanceConfigs"), "Instance configurations"),
            "responses": {"200": _json(_ref("Ack"), "Stored"), **_errors(400, 401, 404, 413)}}},
        "/agent-api/agent/{id}/health": {"post": {
            "summary": "Report health (agents unreported for 10 min are evicted)", "tags": ["agents"],
            "security": AGENT_AUTH, "parameters": [AGENT_ID],
            "requestBody": _body(_ref("Health"), "Health report"),
            "responses": {"200": _json(_ref("Ack"), "Stored"), **_errors(400, 401, 404, 413)}}},
        "/agent-api/agent/{id}/measurement/{mid}/status": {"post": {
            "summary": "Report cumulative progress on a measurement", "tags": ["agents"], "security": AGENT_AUTH,
            "parameters": [AGENT_ID, MEASUREMENT_ID],
            "requestBody": _body(_ref("StatusReport"), "Probes sent so far, and whether the agent is done"),
            "responses": {"200": _json(_ref("ReportResponse"), "Recorded"), **_errors(400, 401, 404, 413)}}},
        "/api/agents": {"get": {
            "summary": "Agents healthy in the last 10 minutes", "tags": ["public"], "security": [],
            "responses": {"200": _json({"type": "array", "items": _ref("Agent")}, "Healthy agents"),
                          **_errors(400)}}},
        "/api/agent/{id}": {"get": {
            "summary": "One agent", "tags": ["public"], "security": [], "parameters": [AGENT_ID],
            "responses": {"200": _json(_ref("Agent"), "The agent"), **_errors(400, 404)}}},
        "/api/agent/{id}/config": {"get": {
            "summary": "An agent's prober instances", "tags": ["public"], "security": [], "parameters": [AGENT_ID],
            "responses": {"200": _json(_ref("InstanceConfigs"), "Instances"), **_errors(400, 404)}}},
        "/api/agent/{id}/health": {"get": {
            "summary": "An agent's last health report", "tags": ["public"], "security": [], "parameters": [AGENT_ID],
            "responses": {"200": _json(_ref("Health"), "Health"), **_errors(400, 404)}}},
        "/api/user/me": {"get": {
            "summary": "The caller, today's usage and the daily limit", "tags": ["users"], "security": USER_AUTH,
            "responses": {"200": _json(_ref("UserInfo"), "Usage"), **_errors(400, 401, 403, 503)}}},
        "/api/user/prefixes": {"get": {
            "summary": "The IPv6 source prefix the caller may use on each agent", "tags": ["users"],
            "security": USER_AUTH,
            "responses": {"200": _json(_ref("UserPrefixes"), "Prefixes"), **_errors(400, 401, 403, 503)}}},
        "/api/probes": {"post": {
            "summary": "Submit probes to one or more agents", "tags": ["users"], "security": USER_AUTH,
            "requestBody": _body(_ref("SubmitRequest"), "Target agents (with source addresses) and probes"),
            "responses": {"200": _json(_ref("SubmitResponse"), "Published to the agents"),
                          **_errors(400, 401, 403, 413, 429, 500, 503)}}},
        "/api/measurements": {"get": {
            "summary": "The caller's measurements, most recent first (reverse=true: oldest first)",
            "tags": ["users"], "security": USER_AUTH,
            "parameters": [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                            "default": 20}},
                {"name": "status", "in": "query", "description": "Comma-separated: " + ", ".join(STATUSES),
                 "schema": {"type": "string"}},
                {"name": "since", "in": "query", "description": "Started at or after (RFC 3339 or YYYY-MM-DD, UTC)",
                 "schema": {"type": "string", "minLength": 1}},
                {"name": "until", "in": "query", "description": "Started before (RFC 3339 or YYYY-MM-DD, UTC)",
                 "schema": {"type": "string", "minLength": 1}},
                {"name": "agent", "in": "query", "description": "Only measurements sent to this agent",
                 "schema": {"type": "string"}},
                {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["started", "updated"],
                                                           "default": "updated"}},
                {"name": "reverse", "in": "query", "schema": {"type": "boolean", "default": False}},
            ],
            "responses": {"200": _json({"type": "array", "items": _ref("MeasurementSummary")}, "Measurements"),
                          **_errors(400, 401, 403, 503)}}},
        "/api/measurement/{mid}/status": {"get": {
            "summary": "A measurement and each agent's progress", "tags": ["users"], "security": USER_AUTH,
            "parameters": [MEASUREMENT_ID],
            "responses": {"200": _json(_ref("MeasurementSummary"), "Status"), **_errors(400, 401, 403, 404, 503)}}},
        "/api/measurement/{mid}/cancel": {"post": {
            "summary": "Cancel a measurement; the agents are told on the probes topic", "tags": ["users"],
            "security": USER_AUTH, "parameters": [MEASUREMENT_ID],
            "responses": {"200": _json(_ref("MeasurementSummary"), "Cancelled"),
                          **_errors(400, 401, 403, 404, 409, 500, 503)}}},
        "/openapi.json": {"get": {
            "summary": "This document", "tags": ["public"], "security": [],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")}}},
    }
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "saimiris gateway", "version": "1",
                 "description": "Measurement submission for users (OIDC bearer tokens) and registration, "
                                "configuration, health and progress reports for agents (shared bearer key plus "
                                "the per-agent X-Agent-Secret). Errors are JSON {\"error\": \"...\"}."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "agentKey": {"type": "http", "scheme": "bearer", "description": "The shared agent key"},
                "agentSecret": {"type": "apiKey", "in": "header", "name": "X-Agent-Secret",
                                "description": "The secret the agent registered with"},
                "userToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                              "description": "OIDC access token (iss and aud checked; identity = sub)"},
            },
        },
    }
    if dev_mode:
        doc["info"]["description"] += (" DEV MODE: user routes take no token; every user request acts as one "
                                       "fixed user.")
        for item in paths.values():
            for op in item.values():
                if op.get("security") == USER_AUTH:
                    op["security"] = []
                    op["responses"].pop("401", None)
                    op["responses"].pop("503", None)
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
