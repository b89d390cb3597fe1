"""API errors, rendered as the Status objects a real API server returns."""


class ApiError(Exception):
    """An error answered as a ``kind: Status`` body with HTTP status ``code``."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason}
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def details(resource, name=None):
    """Status details: name (when given), group (omitted for core) and kind (the plural)."""
    result = {"name": name} if name else {}
    if resource.group:
        result["group"] = resource.group
    result["kind"] = resource.plural
    return result


def not_found(resource, name):
    return ApiError(404, "NotFound", f'{resource.qualified} "{name}" not found', details(resource, name))


def already_exists(resource, name):
    return ApiError(409, "AlreadyExists", f'{resource.qualified} "{name}" already exists', details(resource, name))


def conflict(resource, name):
    return ApiError(409, "Conflict", (
        f'Operation cannot be fulfilled on {resource.qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"), details(resource, name))


def invalid(resource, name, field, message):
    return ApiError(422, "Invalid", f'{resource.kind} "{name}" is invalid: {field}: {message}',
                    {**details(resource, name), "kind": resource.kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]})


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def path_not_found():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def unsupported_media_type(accepted):
    return ApiError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: {accepted}", {})


def service_unavailable(message="the server is currently unable to handle the request"):
    return ApiError(503, "ServiceUnavailable", message)


def forbidden(resource, verb, user, namespace=None, name=None, subresource=None):
    """The RBAC denial message: ``pods is forbidden: User "u" cannot list resource "pods" ...``."""
    subject = f'{resource.qualified} "{name}"' if name else resource.qualified
    target = f"{resource.plural}/{subresource}" if subresource else resource.plural
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return ApiError(403, "Forbidden", (
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{target}" '
        f'in API group "{resource.group}" {scope}'), details(resource, name))


def namespace_terminating(resource, name, namespace):
    """A create in a namespace being deleted, refused as the NamespaceLifecycle admission plugin does."""
    return ApiError(403, "Forbidden", (
        f'{resource.qualified} "{name}" is forbidden: unable to create new content in namespace {namespace} '
        "because it is being terminated"),
        {**details(resource, name), "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                                "message": f"namespace {namespace} is being terminated"}]})
