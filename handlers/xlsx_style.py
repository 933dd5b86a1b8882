"""Fast styling for big workbooks: each style combination is hashed once per workbook, then copied cell to cell."""

from __future__ import annotations

from copy import copy

from openpyxl.cell.cell import Cell
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.worksheet import Worksheet

# openpyxl hashes a Border, Font and Fill afresh on every assignment, and merge_cells re-borders every merged
# block: for 4,000 unit sheets that was most of the export's time (cProfile: 80 % in Serialisable.__hash__).


class Styler:
    """`apply(cell, "name")` with the named combination of font/border/fill/alignment given at construction."""

    def __init__(self, styles: dict[str, dict]):
        self.styles = styles
        self._arrays: dict[tuple[int, str], object] = {}

    def apply(self, cell: Cell, name: str) -> Cell:
        key = (id(cell.parent.parent), name)
        array = self._arrays.get(key)
        if array is None:
            for attr, value in self.styles[name].items():
                setattr(cell, attr, value)
            self._arrays[key] = copy(cell._style)
        else:
            cell._style = copy(array)
        return cell


def merge(ws: Worksheet, r1: int, c1: int, r2: int, c2: int) -> None:
    """Merge a block without openpyxl's re-bordering (the caller styled every cell of it) and without its
    overlap check against every earlier block (quadratic in a sheet's merges): our blocks never overlap."""
    ws.merged_cells.ranges.add(CellRange(min_col=c1, min_row=r1, max_col=c2, max_row=r2))
