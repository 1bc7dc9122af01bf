"""csvstats: statistics of CSV text, as a clambot tool component.

componentize-py generates typed bindings from wit/csvstats.wit (the `wit_world`
package); this module implements its `csvstats` export. Raising `Err(message)`
returns the `err` case of a WIT `result`.
"""

import csv
import io
import math
import statistics

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.csvstats import Column, Numbers


def _rows(text: str, delimiter: str) -> tuple[list[str], list[list[str]]]:
    if len(delimiter) != 1:
        raise Err(f"the delimiter must be one character, not {delimiter!r}")
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
    if not rows:
        raise Err("the CSV text is empty")
    header = [name.strip() for name in rows[0]]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise Err(f"the header repeats {', '.join(repeated)}")
    return header, rows[1:]


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _numbers(values: list[float]) -> Numbers:
    return Numbers(
        min=min(values),
        max=max(values),
        mean=statistics.fmean(values),
        median=statistics.median(values),
        stdev=statistics.stdev(values) if len(values) > 1 else None,
        sum=math.fsum(values),
    )


def _index(header: list[str], name: str) -> int:
    try:
        return header.index(name)
    except ValueError:
        raise Err(f"no column {name!r} (the columns are {', '.join(header)})") from None


class Csvstats(exports.Csvstats):
    def summarize(self, text: str, delimiter: str | None) -> list[Column]:
        header, body = _rows(text, "," if delimiter is None else delimiter)
        columns = []
        for i, name in enumerate(header):
            cells = [row[i].strip() if i < len(row) else "" for row in body]
            present = [cell for cell in cells if cell]
            numbers = [_number(cell) for cell in present]
            numeric = bool(present) and all(n is not None for n in numbers)
            columns.append(
                Column(
                    name=name,
                    count=len(present),
                    missing=len(cells) - len(present),
                    distinct=len(set(present)),
                    numbers=_numbers(numbers) if numeric else None,
                )
            )
        return columns

    def group_sum(self, text: str, by: str, value: str) -> list[tuple[str, float]]:
        header, body = _rows(text, ",")
        key, amount = _index(header, by), _index(header, value)
        sums: dict[str, list[float]] = {}
        for line, row in enumerate(body, start=2):
            cell = row[amount].strip() if amount < len(row) else ""
            number = _number(cell)
            if number is None:
                raise Err(f"row {line}: {value} is {cell!r}, not a number")
            group = row[key].strip() if key < len(row) else ""
            sums.setdefault(group, []).append(number)
        totals = [(group, math.fsum(values)) for group, values in sums.items()]
        return sorted(totals, key=lambda item: (-item[1], item[0]))
