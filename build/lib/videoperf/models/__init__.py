"""Models: the two model families and what they share.

Owns what a family is and what its ``fit`` receives (``family``), the registry that names the families
(``registry``), conformal intervals (``intervals``), calibration to a user's channels (``calibration``), the
verified files a bundle is made of (``artifacts``), the stacking ensemble (``models.ensemble``) and the deep
multi-task network (``models.deep``). It may import the base modules, ``videoperf.data``,
``videoperf.lifecycle`` and ``videoperf.features``.
"""
