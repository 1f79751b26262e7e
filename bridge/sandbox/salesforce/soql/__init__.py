"""The sandbox org's SOQL engine: a real subset of SOQL, parsed by hand and evaluated in memory.

    run(text, catalog, *, include_deleted=False) -> QueryResult
    raises SoqlError(.error_code, .message) with Salesforce's codes and wording.

Modules: lexer (text to tokens), parser (tokens to the `nodes` tree), fields (paths to getters),
predicates (WHERE/ORDER BY to callables), engine (run it), errors (Salesforce's messages).
"""

from .catalog import Catalog
from .engine import QueryResult, run
from .errors import SoqlError

__all__ = ["Catalog", "QueryResult", "SoqlError", "run"]
