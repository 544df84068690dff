"""nbgrader's execution step, with the output a notebook may produce capped.

A notebook that prints without end would otherwise fill the grader's memory and the
feedback page (hundreds of megabytes), and slow its neighbours down. Each output message
is counted as it arrives; past the cap of its cell or of the notebook, the rest of that
cell's output is dropped and one note says so. The cut never fails a cell: the tests
decide the score, as before.
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute

CELL_OUTPUT_BYTES = 2 * 2**20
NOTEBOOK_OUTPUT_BYTES = 10 * 2**20
CUT_NOTE = "[output cut by the grader: more than {mb:g} MB from this {where}; the rest was dropped]\n"


def _size(out: NotebookNode) -> int:
    if out.get("output_type") == "stream":
        return len(out.get("text", ""))
    data = out.get("data", {}) if out.get("output_type") != "error" else {"tb": out.get("traceback", [])}
    return sum(len(str(v)) for v in data.values()) + 64


class CappedExecute(Execute):
    """:class:`nbgrader.preprocessors.Execute` with a cap on output bytes per cell and notebook."""

    def preprocess(self, nb, resources=None, km=None):
        self._notebook_bytes, self._cell_bytes, self._cut = 0, {}, set()
        return super().preprocess(nb, resources, km)

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        if out is None or out.get("output_type") == "error":
            return out                          # errors always stay: they say why a test failed
        size = _size(out)
        cell = self._cell_bytes.get(cell_index, 0) + size
        total = self._notebook_bytes + size
        if cell <= CELL_OUTPUT_BYTES and total <= NOTEBOOK_OUTPUT_BYTES:
            self._cell_bytes[cell_index], self._notebook_bytes = cell, total
            return out
        for i in range(len(outs) - 1, -1, -1):
            if outs[i] is out:
                del outs[i]
                break
        if cell_index not in self._cut:
            self._cut.add(cell_index)
            where = ("cell", CELL_OUTPUT_BYTES) if cell > CELL_OUTPUT_BYTES else ("notebook", NOTEBOOK_OUTPUT_BYTES)
            outs.append(new_output("stream", name="stderr", text=CUT_NOTE.format(mb=where[1] / 2**20, where=where[0])))
        return None
