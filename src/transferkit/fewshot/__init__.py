"""Few-shot learning: classify new classes from a handful of labelled examples each.

- :mod:`~transferkit.fewshot.episodes`: :class:`FewShotTask` (where shots and queries come from,
  N-way K-shot settings, a seed), :func:`sample_episodes`, :func:`episode_accuracy_summary`
  (mean accuracy and its 95 % interval).
- :mod:`~transferkit.fewshot.methods`: classifiers on fixed features (pre-trained CNN features,
  sentence embeddings): :class:`PrototypeClassifier`, :class:`TransductivePrototypes` (soft
  k-means with the queries), :class:`LinearProbe`, :class:`FineTunedHead` (a head from the prototypes,
  fine-tuned on the shots), over the plain functions :func:`class_prototypes`,
  :func:`prototype_logits`, :func:`soft_kmeans_prototypes`, :func:`finetune_linear_head`.
- :mod:`~transferkit.fewshot.networks` (needs PyTorch): episodic meta-training of prototypical
  and matching networks (and plain classification pre-training) on base classes.
- :mod:`~transferkit.fewshot.tasks`: the benchmark tasks (Office-Caltech10, MNIST,
  Fashion-MNIST, Bible verses) and tasks from users' files.

Examples
--------
>>> import numpy as np
>>> from transferkit.fewshot import FewShotTask, PrototypeClassifier
>>> rng = np.random.default_rng(0)
>>> y = np.repeat(np.arange(10), 30)
>>> X = rng.normal(size=(300, 20)) + 2 * np.eye(20)[y]
>>> task = FewShotTask(X, y, n_way=5, k_shot=5, n_episodes=100, random_state=0)
>>> details = PrototypeClassifier().evaluate(task)
>>> details["accuracy"] > 0.5, details["episodes"]
(True, 100)
"""

from transferkit.fewshot.episodes import (
    Episode,
    FewShotTask,
    check_episode_settings,
    episode_accuracy_summary,
    sample_episodes,
)
from transferkit.fewshot.methods import (
    EpisodicMethod,
    FineTunedHead,
    LinearProbe,
    PrototypeClassifier,
    TransductivePrototypes,
    class_prototypes,
    finetune_linear_head,
    l2_normalize,
    prototype_logits,
    soft_kmeans_prototypes,
)

__all__ = [
    "Episode",
    "EpisodicMethod",
    "FewShotTask",
    "FineTunedHead",
    "LinearProbe",
    "PrototypeClassifier",
    "TransductivePrototypes",
    "check_episode_settings",
    "class_prototypes",
    "episode_accuracy_summary",
    "finetune_linear_head",
    "l2_normalize",
    "prototype_logits",
    "sample_episodes",
    "soft_kmeans_prototypes",
]
