"""Schemathesis hooks of the contract test (infra/local/schemathesis.sh).

API.md §0.3: the project hints of one request (X-Project-ID, query project_id, body project_id)
must name the same project — 400 project_mismatch otherwise — and a project the caller is not in is
403. A schema cannot relate one value to another, so generated cases (including ids schemathesis
learned from responses, such as other projects it created) would mostly exercise that refusal.
This hook makes every *valid* project hint name the run's project: X-Project-ID (set when
absent: with the projects a run creates, none named is 400 project_required), and query or body
project_id. Values outside the documented range (ids 1..2^53-1), wrong types and 0 (= absent) are
left alone, so negative cases stay negative.

The run's credential, its project and its membership in it are what every operation acts with,
so the hook does not let a generated request revoke that token, delete that project or remove
the run's user from it (ids learned from responses would do all three early in the run): such a
request names the id 2^53-1 instead, which nothing has (ids are milliseconds since 2024 and stay
below it for centuries), and is answered 404 as documented.
"""
import os

import schemathesis

PROJECT_ID = int(os.environ["ST_PROJECT_ID"])
USER_ID = int(os.environ["ST_USER_ID"])
TOKEN_ID = int(os.environ["ST_TOKEN_ID"])
MAX_ID = 2**53 - 1


def _is_id(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return 1 <= value <= MAX_ID
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return 1 <= int(value) <= MAX_ID
    return False


HEADER = "X-Project-ID"

ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe",
         "America/Santiago"]
CRONS = ["*/15 * * * *", "0 9 * * MON-FRI", "30 2 * * *", "0 0 1,15 * *", "5 4 * JAN,JUL SUN"]


def _same(value, wanted):
    return str(value) == str(wanted)


@schemathesis.hook
def before_call(context, case, kwargs):
    """Right before each request, whichever phase made it (links of the stateful phase included)."""
    path = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    # A link of the stateful phase that follows a nullable id (a research task's repository_id
    # when it has none) fills the path with None, which names nothing: the id nothing has stands
    # for it, answered 404 as documented.
    for name, value in list(path.items()):
        if value is None or value == "None":
            path[name] = MAX_ID
    # webhook_delivery.target_url must also pass the §10.3 target rule (an http(s) URL with a
    # public host; 422/400 otherwise), which the schema states only as a string of 1..512: a
    # generated string stands for a valid target.
    body = case.body if isinstance(case.body, dict) else None
    params = body.get("parameters") if body is not None else None
    if isinstance(params, dict) and body.get("job_type") == "webhook_delivery" \
            and isinstance(params.get("target_url"), str):
        params["target_url"] = "https://hooks.example.com/commandcenter"
    # Webhook configs' webhook_url and deliveries' target_url follow the same rule.
    if body is not None and case.operation.path.startswith("/api/v1/webhooks/"):
        for field in ("webhook_url", "target_url"):
            if isinstance(body.get(field), str):
                body[field] = "https://hooks.example.com/commandcenter"
    # Schedules (API.md §9): timezone must be an IANA name and a cron frequency's cron_expression
    # a 5-field pattern (400 invalid_timezone / invalid_cron otherwise), which the schema states
    # only as strings of at most 50 and 100 characters: a generated string stands for a valid
    # one (picked by its length, so cases stay varied). cron_required, interval_required and
    # end_time after start_time are left to the generated data.
    if body is not None and case.operation.path.startswith("/api/v1/schedules"):
        if isinstance(body.get("timezone"), str):
            body["timezone"] = ZONES[len(body["timezone"]) % len(ZONES)]
        if isinstance(body.get("cron_expression"), str) and body["cron_expression"].strip():
            body["cron_expression"] = CRONS[len(body["cron_expression"]) % len(CRONS)]
    if case.method.upper() == "DELETE" and _same(path.get("project_id"), PROJECT_ID):
        if case.operation.path == "/api/v1/projects/{project_id}" or _same(path.get("user_id"), USER_ID):
            path["project_id"] = MAX_ID
    if case.method.upper() == "DELETE" and _same(path.get("token_id"), TOKEN_ID):
        path["token_id"] = MAX_ID
    if HEADER in case.operation.headers:
        headers = case.headers if case.headers is not None else {}
        value = headers.get(HEADER)
        # 0 names no project either, so it is replaced too.
        if value is None or value in (0, "0") or _is_id(value):
            headers[HEADER] = str(PROJECT_ID)
            case.headers = headers
    query = case.query
    if isinstance(query, dict) and _is_id(query.get("project_id")):
        query["project_id"] = type(query["project_id"])(PROJECT_ID)
    body = case.body
    if isinstance(body, dict) and _is_id(body.get("project_id")) and not isinstance(body["project_id"], str):
        body["project_id"] = PROJECT_ID
