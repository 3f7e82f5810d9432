"""The learning layer: environments, SPIRAL's networks and training, search, ``synthesize``.

Importing ``synth`` loads neither torch nor ray; submodules do when used.
"""
