"""The fast path's compiler: a fitted pipeline -> one ONNX graph -> verified against
the pipeline -> scored by ONNX Runtime at serving.

The flow is one way: :mod:`.graph` (building blocks, errors) <- :mod:`.steps`
and :mod:`.trees` (preparation steps, exact tree ensembles) <- :mod:`.model`
(the model step) <- :mod:`.build` (the whole graph) <- :mod:`.runtime`
(the session that serves it) <- :mod:`.verify` (compiling with proof).
Nothing here knows about HTTP.
"""

from shipyard.serve.compiler.build import listing
from shipyard.serve.compiler.graph import NotCompilable
from shipyard.serve.compiler.runtime import CHUNK_ROWS, FastModel, batch_of, scores_python
from shipyard.serve.compiler.verify import Compiled, compile_pipeline

__all__ = ["CHUNK_ROWS", "Compiled", "FastModel", "NotCompilable", "batch_of", "compile_pipeline",
           "listing", "scores_python"]
