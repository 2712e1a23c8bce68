"""Schemathesis hooks of scripts/fuzz-api (named in the schemathesis.toml
that scripts/fuzz-api-state.py writes).

- The fuzzer never revokes or replaces its own token, nor the one the
  restart check reads with: it is given real ids, and a token list answers
  their names, so it would otherwise lock itself out in the first seconds.
  Nor the `admin` token: a restart puts back the one WIREWORK_ADMIN_TOKEN
  configures (as documented), which the restart check would see as a change.
- It never force-removes the seeded `wirework/*` plugins that the seeded
  workflows pin (`force=true` becomes `force=false` for them, so it gets the
  409 that protects them). Without that, wirework/core goes early in the run and the
  rest of it only sees executions and webhooks fail with "not installed".
  `acme/greet`, installed and pinned by nothing, is there to be removed.
- A 500 from a webhook is what the document declares for a sync execution
  that failed (`{"execution_id", "status": "failed", "error"}`): not a
  server error. Any other 5xx still is.
- One check of its own, `allow_header_on_405`: every 405 carries `Allow`.
"""

import json

import schemathesis
from schemathesis.core.failures import ServerError

PROTECTED_TOKENS = {"fuzzer", "checker", "admin"}
PINNED_PLUGINS = {("wirework", "core"), ("wirework", "http")}


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    method, path = case.operation.method.upper(), case.operation.path
    if (method, path) == ("DELETE", "/api/v1/tokens/{name}"):
        name = (case.path_parameters or {}).get("name")
        if isinstance(name, str) and name in PROTECTED_TOKENS:
            case.path_parameters["name"] = f"{name}-not-this-one"
    elif (method, path) == ("POST", "/api/v1/tokens"):
        name = case.body.get("name") if isinstance(case.body, dict) else None
        if isinstance(name, str) and name in PROTECTED_TOKENS:
            case.body["name"] = f"{case.body['name']}-not-this-one"
    elif (method, path) == ("DELETE", "/api/v1/plugins/{publisher}/{name}/{version}"):
        params = case.path_parameters or {}
        if (params.get("publisher"), params.get("name")) in PINNED_PLUGINS and case.query:
            force = case.query.get("force")
            if force is True or str(force).lower() == "true":
                case.query["force"] = "false"


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    if not (isinstance(failure, ServerError) and case.operation.path.startswith("/hooks/")):
        return True
    if response.status_code != 500:
        return True
    try:
        body = json.loads(response.content)
    except ValueError:
        return True
    failed_execution = isinstance(body, dict) and body.get("status") == "failed" and "execution_id" in body
    return not failed_execution


@schemathesis.check
def allow_header_on_405(ctx, response, case):
    """A 405 names the methods the resource takes in `Allow` (RFC 9110,
    15.5.6), the webhooks' too; schemathesis' own `unsupported_method` looks
    only at methods the document does not list for a path."""
    if response.status_code == 405 and not response.headers.get("allow"):
        raise AssertionError(f"{response.request.method} answered 405 without an `Allow` header")
