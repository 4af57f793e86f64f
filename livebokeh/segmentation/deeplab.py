"""DeepLab-v3 (PASCAL VOC) frozen-graph backend: the approach livebokeh grew out of.

Loads a TensorFlow 1.x frozen graph such as the published
``deeplabv3_mnv2_pascal_train_aug/frozen_inference_graph.pb`` unchanged.  Contract:
input ``ImageTensor:0`` (``uint8``, ``1 x H x W x 3`` RGB, longest side resized to
513), output ``SemanticPredictions:0`` (class id per pixel); person is class 15.
Needs the ``tf`` extra (``pip install 'livebokeh[tf]'``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ModelLoadError

log = logging.getLogger(__name__)

INPUT_TENSOR = "ImageTensor:0"
OUTPUT_TENSOR = "SemanticPredictions:0"
INPUT_SIZE = 513
PERSON_CLASS = 15


class DeepLabSegmenter:
    """Person mask from a DeepLab frozen graph (hard 0/1 at the resized input size)."""

    def __init__(self, path: str | Path, *, num_threads: int = 1, person_class: int = PERSON_CLASS) -> None:
        try:
            import tensorflow as tf
        except ImportError as exc:
            raise ModelLoadError(
                f"model {path} is a TensorFlow frozen graph, which needs TensorFlow: pip install 'livebokeh[tf]'"
            ) from exc
        path = Path(path).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"model file {path} does not exist")
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(path.read_bytes())
        except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError
            raise ModelLoadError(f"model {path} is not a TensorFlow frozen graph (.pb): {exc}") from exc
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        names = {op.name for op in graph.get_operations()}
        for tensor in (INPUT_TENSOR, OUTPUT_TENSOR):
            if tensor.split(":")[0] not in names:
                raise ModelLoadError(f"model {path} has no tensor {tensor}: it is not a DeepLab frozen graph")
        config = tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=max(1, num_threads), inter_op_parallelism_threads=1
        )
        self._tf: Any = tf
        self._session = tf.compat.v1.Session(graph=graph, config=config)
        self._output = graph.get_tensor_by_name(OUTPUT_TENSOR)
        self._input = graph.get_tensor_by_name(INPUT_TENSOR)
        self._person = person_class
        self._name = str(path)
        log.info("DeepLab graph %s loaded with tensorflow %s", path, tf.__version__)

    @property
    def name(self) -> str:
        return self._name

    @property
    def runtime(self) -> str:
        return f"tensorflow {self._tf.__version__}"

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        h, w = frame_shape[0], frame_shape[1]
        scale = INPUT_SIZE / max(h, w)
        return max(1, int(round(h * scale))), max(1, int(round(w * scale)))

    def segment(self, image: np.ndarray) -> np.ndarray:
        th, tw = self.input_size_for(image.shape)
        small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        classes = self._session.run(self._output, feed_dict={self._input: rgb[None]})[0]
        return (classes == self._person).astype(np.float32)

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        return self.segment(image)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> DeepLabSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
