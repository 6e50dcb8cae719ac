"""IAM policy evaluation for one request, as AWS documents it (the parts docpipe's policies use).

A request is an action, a resource ARN, the condition keys it carries and, for resource-based policies
(KMS key policies), the principal. A statement applies when its Action/NotAction, Resource/NotResource,
Principal and every Condition match; any applicable Deny wins, else any applicable Allow allows, else the
request is implicitly denied. Wildcards: `*` and `?` in actions (case-insensitive) and resources
(case-sensitive). Conditions: String*, Arn*, Bool, Numeric*, Null, each with `IfExists`, and the
`ForAnyValue:`/`ForAllValues:` set qualifiers; a key missing from the request fails a condition, except for
negated operators, `IfExists` and `ForAllValues`. Operators within a block, keys within an operator, are
ANDed; the values listed for one key are ORed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)
    principal: str | None = None  # "arn:aws:iam::1:role/x" or "service:events.amazonaws.com"

    def value(self, key: str) -> list[str] | None:
        lowered = key.lower()
        for name, values in self.context.items():
            if name.lower() == lowered:
                return values
        return None


@dataclass
class Decision:
    effect: str  # Allow, ExplicitDeny or ImplicitDeny
    statements: list[dict]  # the statements that decided it (the Deny, or the Allows)

    @property
    def allowed(self) -> bool:
        return self.effect == ALLOW


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return bool(_glob(pattern, ignore_case).match(value))


def action_matches(pattern: str, action: str) -> bool:
    return matches(pattern, action, ignore_case=True)


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: the six colon-separated parts are compared one by one (a `*` does not cross a colon
    into the resource part only in the sense that each part is matched on its own)."""
    parts, values = pattern.split(":", 5), value.split(":", 5)
    if len(parts) != 6 or len(values) != 6:
        return matches(pattern, value)
    return all(matches(p, v) for p, v in zip(parts, values))


def _principal_matches(spec: Any, principal: str | None) -> bool:
    if principal is None:
        return True  # identity-based policies have no Principal element
    if spec == "*":
        return True
    for kind, values in (spec or {}).items():
        for value in _listed(values):
            if value == "*":
                return True
            if kind == "Service" and principal == f"service:{value}":
                return True
            if kind == "AWS" and value == principal:
                return True
    return False


def _number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_NUMERIC = {"Equals": lambda a, b: a == b, "NotEquals": lambda a, b: a != b, "LessThan": lambda a, b: a < b,
            "LessThanEquals": lambda a, b: a <= b, "GreaterThan": lambda a, b: a > b,
            "GreaterThanEquals": lambda a, b: a >= b}


def _compare(operator: str, request_value: str, policy_value: str) -> bool:
    """One request value against one policy value, for a positive (not negated) operator."""
    if operator == "StringEquals":
        return request_value == policy_value
    if operator == "StringEqualsIgnoreCase":
        return request_value.lower() == policy_value.lower()
    if operator == "StringLike":
        return matches(policy_value, request_value)
    if operator in ("ArnEquals", "ArnLike"):
        return _arn_like(policy_value, request_value)
    if operator == "Bool":
        return request_value.lower() == str(policy_value).lower()
    if operator.startswith("Numeric"):
        left, right = _number(request_value), _number(policy_value)
        return left is not None and right is not None and _NUMERIC[operator[7:]](left, right)
    raise ValueError(f"condition operator {operator} is not supported by this evaluator")


_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


def _condition_holds(operator: str, key: str, policy_values: list, request: Request) -> bool:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    values = request.value(key)
    if operator == "Null":  # "true": the key must be absent; "false": present
        return (values is None) == (str(policy_values[0]).lower() == "true")
    if values is None:
        return if_exists or operator in _NEGATED or qualifier == "ForAllValues"
    negated = operator in _NEGATED
    positive = _NEGATED.get(operator, operator)
    policy_values = [str(v) for v in policy_values]

    def one(value: str) -> bool:
        hit = any(_compare(positive, value, wanted) for wanted in policy_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in values)
    if negated:  # a single-valued negated key: none of the policy values may match
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def conditions_hold(condition: dict | None, request: Request) -> bool:
    for operator, keys in (condition or {}).items():
        for key, values in keys.items():
            if not _condition_holds(operator, key, _listed(values), request):
                return False
    return True


def statement_applies(statement: dict, request: Request) -> bool:
    if "Action" in statement:
        if not any(action_matches(p, request.action) for p in _listed(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(action_matches(p, request.action) for p in _listed(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(matches(p, request.resource) for p in _listed(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(matches(p, request.resource) for p in _listed(statement["NotResource"])):
            return False
    if "Principal" in statement and not _principal_matches(statement["Principal"], request.principal):
        return False
    if "NotPrincipal" in statement and _principal_matches(statement["NotPrincipal"], request.principal):
        return False
    return conditions_hold(statement.get("Condition"), request)


def evaluate(statements: Iterable[dict], request: Request) -> Decision:
    applicable = [s for s in statements if statement_applies(s, request)]
    denies = [s for s in applicable if s.get("Effect") == "Deny"]
    if denies:
        return Decision(EXPLICIT_DENY, denies)
    allows = [s for s in applicable if s.get("Effect") == "Allow"]
    return Decision(ALLOW if allows else IMPLICIT_DENY, allows)


def statements_of(document: dict) -> list[dict]:
    """A policy document's statements as a list (Statement may be a single object)."""
    return [s for s in _listed(document.get("Statement", [])) if s]
