"""The course's reusable core, one module per idea, in the order the course meets them.

device -> data -> embeddings -> attention -> transformer -> pretraining -> generation
-> finetuning -> visualisation -> checks
"""

__version__ = "0.1.0"
