"""Synthetic walking people written in real raw dataset layouts (CASIA-B silhouettes / videos, CCVID).

Public entry points: ``core.demo.writer.generate`` and ``core.demo.groundtruth.load_groundtruth``.
Submodules: ``body`` (identities, 3-D walking model), ``garments`` (outfits, bags, coats),
``render`` (projection, part label maps, RGB frames), ``writer`` (layouts), ``groundtruth``.
"""
