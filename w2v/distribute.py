"""tf.distribute from the config: which strategy, the cluster (TF_CONFIG, as TensorFlow defines it),
which task writes the run's files, and the servers that ps and worker tasks run.

Everything distributed is TensorFlow's own engine: MirroredStrategy, MultiWorkerMirroredStrategy and
ParameterServerStrategy with its ClusterCoordinator. This module only chooses and configures them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass

import tensorflow as tf

from w2v.errors import W2VError
from w2v.schema import DistributeConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """This process's place in the cluster (``type`` None when there is no TF_CONFIG cluster)."""

    type: str | None = None
    index: int = 0
    workers: int = 1
    has_chief: bool = False

    @property
    def writes_run(self) -> bool:
        """Whether this task writes the run directory: the chief, or worker 0 where there is no chief."""
        if self.type is None or self.type == "chief":
            return True
        return self.type == "worker" and self.index == 0 and not self.has_chief


def task_from_env(strategy: str) -> Task:
    """Read TF_CONFIG for the strategies that need a cluster; a clear error when it is unusable."""
    if strategy not in ("multi_worker", "parameter_server"):
        return Task()
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise W2VError(f"config key distribute.strategy: {strategy} needs the cluster in the TF_CONFIG environment "
                       f"variable (see the README's distributed training section)")
    try:
        tf_config = json.loads(text)
        cluster, task = tf_config["cluster"], tf_config["task"]
        kind, index = task["type"], int(task["index"])
        workers = len(cluster.get("worker", []))
        has_chief = bool(cluster.get("chief"))
        if kind not in cluster or index >= len(cluster[kind]):
            raise KeyError(f"task {kind}:{index} is not in the cluster")
    except (ValueError, KeyError, TypeError) as e:
        raise W2VError(f"TF_CONFIG: not a usable cluster description ({e.__class__.__name__}: {e})") from None
    if strategy == "parameter_server" and not (has_chief and workers and cluster.get("ps")):
        raise W2VError("TF_CONFIG: parameter_server needs a chief, at least one worker and one ps task")
    if strategy == "multi_worker" and kind not in ("chief", "worker"):
        raise W2VError(f"TF_CONFIG: multi_worker has no {kind!r} tasks, only chief and worker")
    return Task(kind, index, workers, has_chief)


def rank(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """This process's index among the workers that train under ``strategy``, and their number (0 and 1
    outside a multi-worker cluster). A chief trains as worker 0 and the workers follow it, as
    MultiWorkerMirroredStrategy numbers them."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 0, 1
    resolver = strategy.cluster_resolver
    spec = resolver.cluster_spec().as_dict()
    chiefs = len(spec.get("chief", []))
    index = resolver.task_id if resolver.task_type == "chief" else chiefs + resolver.task_id
    return index, chiefs + len(spec.get("worker", []))


def configure(config: DistributeConfig, task: Task) -> None:
    """Settings that must precede TensorFlow's runtime start: logical CPU devices and, for a
    parameter-server coordinator, enough inter-op threads (fewer than workers + 1 hangs on 2 cores)."""
    if config.cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()]
                                                       * config.cpu_devices)
        except RuntimeError:
            have = len(tf.config.list_logical_devices("CPU"))
            if have < config.cpu_devices:
                raise W2VError(f"config key distribute.cpu_devices: TensorFlow started with {have} CPU devices in "
                               f"this process; the split into {config.cpu_devices} must come first") from None
    if config.strategy == "parameter_server":
        threads = task.workers + 1
        if tf.config.threading.get_inter_op_parallelism_threads() < threads:
            try:
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:
                log.warning("inter-op threads already fixed in this process; a cluster of %d workers may need %d",
                            task.workers, threads)


def _partitioner(num_shards: int):
    """Shard the 2-D tables (embedding, output weights) row-wise; never vectors or scalars."""

    def partition(shape: tf.TensorShape, dtype: tf.DType) -> list[int]:
        del dtype
        if shape.rank == 2 and num_shards > 1:
            return [min(num_shards, shape[0]), 1]
        return [1] * shape.rank

    return partition


@functools.cache
def _mirrored(devices: tuple[str, ...]) -> tf.distribute.MirroredStrategy:
    """One MirroredStrategy per device set and process: a second one would number its collective
    ops from the same keys as the first, and the runtime would pair them up (shape-mismatch aborts)."""
    return tf.distribute.MirroredStrategy(list(devices))


def make_strategy(config: DistributeConfig) -> tf.distribute.Strategy:
    """The configured strategy (call ``configure`` first)."""
    if config.strategy == "default":
        return tf.distribute.get_strategy()
    if config.strategy == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        return _mirrored(tuple(d.name for d in gpus or tf.config.list_logical_devices("CPU")))
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if config.strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    return tf.distribute.ParameterServerStrategy(resolver, variable_partitioner=_partitioner(config.num_shards))


def serve(task: Task) -> None:
    """Run this ps or worker task's server until the process is stopped (the chief drives the job)."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    server_config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=task.workers + 1)
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=task.type, task_index=task.index,
                                  protocol=resolver.rpc_layer or "grpc", config=server_config, start=True)
    log.warning("serving as %s %d of the cluster until stopped", task.type, task.index)
    server.join()
