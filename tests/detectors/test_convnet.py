"""The network as ONNX Runtime runs it, against the plain numpy reference (cnn_reference.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cnn_reference import probability

from sitewatch.atomic import atomic_write_bytes
from sitewatch.detectors.cnngraph import cnn_graph
from sitewatch.detectors.convnet import Arch, random_weights
from sitewatch.detectors.learned import (
    CnnModel,
    _model_path,
    load_model,
    model_inputs,
    tiled_probability,
)
from sitewatch.errors import DetectorError

MODELS = Path(__file__).resolve().parents[2] / "sitewatch" / "detectors" / "models"
SIAMESE = Arch(widths=(4, 8, 8), enc_convs=(1, 1, 1), siamese=True)
NONE = (np.zeros(3), np.ones(3))  # standardisation statistics that change nothing
NONE2 = (np.zeros(2), np.ones(2))


def _model(tmp_path: Path, arch: Arch, bands: int, seed: int = 0
           ) -> tuple[CnnModel, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    w = random_weights(arch, arch.input_channels(bands), rng)
    for k in w:  # non-zero biases, so padding and bias placement are checked too
        if k.endswith(".b"):
            w[k] = rng.normal(0, 0.3, w[k].shape).astype("float32")
    meta = {"arch": arch.to_meta(), "bands": [f"B{i}" for i in range(bands)]}
    path = tmp_path / f"m{seed}.onnx"
    atomic_write_bytes(cnn_graph(w, meta), path)
    return load_model(str(path)), w


def _pair(bands: int, rows: int, cols: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    before, after = rng.normal(0, 1, (2, bands, rows, cols)).astype("float32")
    return before, after


@pytest.mark.parametrize("arch", [
    Arch(widths=(4, 8), enc_convs=(1, 1)),                          # 1x1 decoder, tiny widths
    Arch(widths=(16, 24, 32), enc_convs=(1, 2, 3)),                  # the shipped shape
    Arch(widths=(8, 20, 40, 17), enc_convs=(2, 1, 1, 1), dec0_kernel=3),  # 3x3 decoder everywhere
    SIAMESE,
])
def test_onnx_graph_computes_the_reference_network(tmp_path, arch):
    bands = 3
    model, w = _model(tmp_path, arch, bands)
    before, after = _pair(bands, 37, 53)  # not multiples of the pooling grid: padded
    got = tiled_probability(model, before, after, NONE, NONE)
    want = probability(w, model_inputs(before, after, NONE, NONE, siamese=arch.siamese), arch)
    assert got.shape == (37, 53) and got.dtype == np.float32
    assert np.abs(got - want).max() <= 1e-4
    assert 0.01 < float(np.std(want))  # a network whose output varies: the check has teeth


def test_shipped_model_is_its_trained_weights(sample_pair):
    """cnn-default.onnx computes what cnn-default.npz (train_cnn.py's output) defines."""
    with np.load(MODELS / "cnn-default.npz") as z:
        w = {k: z[k] for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"]))
    model = load_model("default")
    assert model.meta == meta
    before, after, _ = sample_pair
    b, a = before.data[:, :200, :260], after.data[:, :200, :260]
    stats = [(np.nanmedian(x, axis=(1, 2)),
              np.subtract(*np.nanpercentile(x, [75, 25], axis=(1, 2)))) for x in (b, a)]
    got = tiled_probability(model, b, a, *stats)
    want = probability(w, model_inputs(b, a, *stats), model.arch)
    assert np.abs(got - want).max() <= 1e-4
    assert (want > 0.5).mean() > 0.001  # the real scene has change in it


def test_tiled_inference_equals_one_evaluation(tmp_path):
    arch = Arch(widths=(4, 8, 8), enc_convs=(1, 1, 1), dec0_kernel=3)
    model, _ = _model(tmp_path, arch, 2, seed=3)
    before, after = _pair(2, 90, 130, seed=1)
    before[:, 40:45, 60:70] = np.nan  # missing pixels: standardised to 0 in every tile alike
    whole = tiled_probability(model, before, after, NONE2, NONE2)
    for side in (8, 16, 36):
        tiled = tiled_probability(model, before, after, NONE2, NONE2, tile_pixels=side * side)
        np.testing.assert_allclose(tiled, whole, atol=1e-6)


def test_tiles_are_equal_and_a_short_array_gets_one_wide_row_of_them(tmp_path, monkeypatch):
    model, _ = _model(tmp_path, Arch(widths=(4, 8), enc_convs=(1, 1)), 2)
    halo = model.arch.halo
    shapes = []
    real = CnnModel.run

    def spy(self, b, a, **kw):  # type: ignore[no-untyped-def]
        shapes.append(b.shape[2:])
        return real(self, b, a, **kw)

    monkeypatch.setattr(CnnModel, "run", spy)
    before, after = _pair(2, 20, 700)
    tiled_probability(model, before, after, NONE2, NONE2, tile_pixels=64 * 64)
    # 20 rows: tiles of 4096 px become one row of cores at most 204 wide: 4 equal ones of
    # 176, each read with a halo on both sides (the edge tiles take theirs from inside)
    assert shapes == [(20, 176 + 2 * halo)] * 4
    shapes.clear()
    before, after = _pair(2, 150, 150)
    tiled_probability(model, before, after, NONE2, NONE2, tile_pixels=64 * 64)
    assert len(shapes) == 9 and len(set(shapes)) <= 2  # 3 x 3 squares of 50 px cores


def test_siamese_probability_ignores_the_order_of_the_dates(tmp_path):
    model, _ = _model(tmp_path, SIAMESE, 3, seed=5)
    before, after = _pair(3, 37, 53, seed=2)
    one = tiled_probability(model, before, after, NONE, NONE)
    other = tiled_probability(model, after, before, NONE, NONE)
    np.testing.assert_allclose(one, other, atol=1e-6)
    same = tiled_probability(model, before, before, NONE, NONE)
    assert np.ptp(same) < 1e-6  # no difference features: the same answer everywhere


def test_threads_do_not_change_the_probabilities(tmp_path):
    model, _ = _model(tmp_path, Arch(widths=(16, 24, 32), enc_convs=(1, 2, 3)), 3, seed=7)
    before, after = _pair(3, 64, 96, seed=4)
    one = tiled_probability(model, before, after, NONE, NONE, threads=1)
    two = tiled_probability(model, before, after, NONE, NONE, threads=2)
    np.testing.assert_allclose(one, two, atol=1e-6)
    assert model.session(2) is model.session(2)  # one session per thread count, reused


def test_model_files_load_once_and_refuse_what_they_cannot_run(tmp_path):
    assert load_model("default") is load_model("loco-cupertino")  # the same file, read once
    assert _model_path("default").suffix == ".onnx"
    # weights without their ONNX file: say how to convert them
    npz = tmp_path / "cnn-x.npz"
    np.savez(npz, meta=np.array("{}"))
    with pytest.raises(DetectorError, match="cnn_to_onnx.py"):
        load_model(str(npz))
    # an ONNX file that is not a sitewatch model
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), other)
    with pytest.raises(DetectorError, match="not a sitewatch cnn model"):
        load_model(str(other))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="cannot be loaded"):
        load_model(str(broken))
    with pytest.raises(DetectorError, match="no model"):
        load_model(str(tmp_path / "missing.onnx"))


def test_graph_refuses_weights_that_do_not_match_the_arch():
    arch = Arch(widths=(4, 8), enc_convs=(1, 1))
    w = random_weights(arch, 6, np.random.default_rng(0))
    with pytest.raises(DetectorError, match="enc0_0.w"):
        cnn_graph(w, {"arch": arch.to_meta(), "bands": ["B1", "B2", "B3", "B4"]})
