"""Tasks: what the training loop trains on and how it scores a model (`base.Task` is the protocol).

ToyTask (Appendix B, MNIST colour/edges), ImageFolderTask (unpaired folders or list files) and
CelebATask (CelebA attribute domains). The domain-adaptation task belongs to its variant
(`unit_tf.uda.task.DomainAdaptationTask`).
"""

from unit_tf.tasks.base import Task
from unit_tf.tasks.images import CelebATask, ImageFolderTask, UnpairedImageTask
from unit_tf.tasks.toy import ToyTask

__all__ = ["Task", "ToyTask", "UnpairedImageTask", "ImageFolderTask", "CelebATask"]
