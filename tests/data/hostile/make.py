"""Writes the hostile ONNX fixtures of tests/e2e (h) and tests/native/fuzz_regressions.rs (python3 make.py; needs onnx, numpy).

tract_panic_flatten.onnx: Flatten with axis 9 on a rank-4 tensor; tract 0.23.9 panics in its shape
    inference (natively caught; in the browser's worker an abort, which the page must survive).
over_budget_pad.onnx: a Pad to 3 x 120,008 x 120,008 (173 GB of activations), refused by the budget.
degenerate_zero_weights.onnx: first-layer weights of zero: every activation is zero
    and the relevance vanishes; the page must say so under the map, not paint a blank one.
The PNGs (gray8.png, iccp_bomb.png) were written with zlib by hand (see tests/native/hostile.rs).
"""
import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh

rng = np.random.default_rng(0)


def save(name, body, inits, first_weights=None):
    nodes = [h.make_node('Conv', ['x', 'cw'], ['c'], pads=[1, 1, 1, 1])] + body + [
        h.make_node('GlobalAveragePool', ['b'], ['gap']), h.make_node('Flatten', ['gap'], ['fl']),
        h.make_node('Gemm', ['fl', 'W', 'B'], ['y'], transB=1)]
    cw = rng.standard_normal((3, 3, 3, 3)).astype(np.float32) if first_weights is None else np.full((3, 3, 3, 3), first_weights, np.float32)
    inits = inits + [nh.from_array(cw, 'cw'),
                     nh.from_array(rng.standard_normal((10, 3)).astype(np.float32), 'W'),
                     nh.from_array(np.zeros(10, np.float32), 'B')]
    g = h.make_graph(nodes, name, [h.make_tensor_value_info('x', T.FLOAT, [1, 3, 8, 8])],
                     [h.make_tensor_value_info('y', T.FLOAT, [1, 10])], inits)
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 13)]), name + '.onnx')


save('tract_panic_flatten', [h.make_node('Flatten', ['c'], ['f'], axis=9), h.make_node('Reshape', ['f', 'shape'], ['b'])],
     [nh.from_array(np.array([1, 3, 8, 8], np.int64), 'shape')])
save('over_budget_pad', [h.make_node('Pad', ['c', 'pads'], ['b'])],
     [nh.from_array(np.array([0, 0, 60000, 60000, 0, 0, 60000, 60000], np.int64), 'pads')])
save('degenerate_zero_weights', [h.make_node('Relu', ['c'], ['b'])], [], first_weights=0.0)
