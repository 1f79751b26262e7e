"""SOQL errors as Salesforce reports them: an error code and a message, often echoing the query."""

from __future__ import annotations

MALFORMED_QUERY = "MALFORMED_QUERY"
INVALID_FIELD = "INVALID_FIELD"
INVALID_TYPE = "INVALID_TYPE"
# Salesforce's own codes for an out-of-range OFFSET and a filter value that is not an id.
NUMBER_OUTSIDE_VALID_RANGE = "NUMBER_OUTSIDE_VALID_RANGE"
INVALID_QUERY_FILTER_OPERATOR = "INVALID_QUERY_FILTER_OPERATOR"

_CUSTOM_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)


class SoqlError(Exception):
    """A query Salesforce would refuse; `error_code` and `message` are what its REST API returns."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


def at_position(query: str, position: int, error_code: str, message: str) -> SoqlError:
    """An error whose message echoes the query line with a caret under `position` (0-based offset),
    the way Salesforce does: `\\n<line>\\n<spaces>^\\nERROR at Row:r:Column:c\\n<message>`."""
    position = max(0, min(position, len(query)))
    line_start = query.rfind("\n", 0, position) + 1
    line_end = query.find("\n", position)
    line = query[line_start : line_end if line_end != -1 else len(query)]
    row = query.count("\n", 0, position) + 1
    column = position - line_start + 1
    text = f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{message}"
    return SoqlError(error_code, text)


def unexpected_token(query: str, position: int, token_text: str) -> SoqlError:
    return at_position(query, position, MALFORMED_QUERY, f"unexpected token: '{token_text}'")


def no_such_column(query: str, position: int, column: str, entity: str) -> SoqlError:
    return at_position(
        query,
        position,
        INVALID_FIELD,
        f"No such column '{column}' on entity '{entity}'. {_CUSTOM_FIELD_HINT}",
    )


def unknown_relationship(query: str, position: int, relationship: str) -> SoqlError:
    message = (
        f"Didn't understand relationship '{relationship}' in field path. If you are attempting to use a "
        "custom relationship, be sure to append the '__r' after the custom relationship name. Please "
        "reference your WSDL or the describe call for the appropriate names."
    )
    return at_position(query, position, INVALID_FIELD, message)


def unsupported_sobject(query: str, position: int, name: str) -> SoqlError:
    message = (
        f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
        "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
        "appropriate names."
    )
    return at_position(query, position, INVALID_TYPE, message)
