"""The sandbox org's SOQL engine: a real subset of SOQL, parsed by hand and evaluated in memory.

    run(text, catalog, *, include_deleted=False) -> QueryResult
    raises SoqlError(.error_code, .message) with Salesforce's codes and wording.

Modules: lexer (text to tokens), parser (tokens to the frozen `nodes` tree), fields (paths to getters,
parent lookups), predicates (WHERE/ORDER BY compiled to callables once per query), dates (TODAY and
friends as UTC day ranges), engine (filter, sort, page, shape records; a WHERE with `=` or IN on a text
or id field reads only the rows an IndexedCatalog names), catalog (what the org provides), errors
(Salesforce's codes and messages, with the caret echo).
"""

from .catalog import Catalog
from .engine import QueryResult, run
from .errors import SoqlError

__all__ = ["Catalog", "QueryResult", "SoqlError", "run"]
