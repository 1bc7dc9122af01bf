"""{{name}}: a clambot tool component in Python.

componentize-py generates typed bindings from wit/{{name}}.wit (the `wit_world`
package); this module implements its export. Raising `Err(message)` returns the
`err` case of a WIT `result`.
"""

from componentize_py_types import Err
from wit_world import exports


class {{pascal}}(exports.{{pascal}}):
    def hello(self, name: str) -> str:
        if not name.strip():
            raise Err("the name is empty")
        return f"Hello, {name}!"
