"""Reference facts produced by running OpenGait's own model classes on CPU (outside this repository;
no OpenGait code lives here). Each ``<name>.json`` records the OpenGait commit, the config it came
from, the parameter count and every state-dict key with its shape; ``<name>.npz``, where present, a
small seeded input and the embedding OpenGait's network gave for weights filled by ``weights.fill``.
``evaluator/cases.npz`` holds seeded embeddings with labels/types/views/roles per benchmark and
``evaluator/scores.json`` what OpenGait's ``opengait/evaluation/evaluator.py`` scored them (OU-MVLP,
SUSTech1K, CCPG, Gait3D), with the commit."""
