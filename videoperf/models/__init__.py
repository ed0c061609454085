"""Models: the two model families and what they share.

Owns what a family is and what its ``fit`` receives (``family``), the registry that names the families
(``registry``), conformal intervals (``intervals``), calibration to a user's channels (``calibration``), how a
chart-trained bundle reads an ordinary upload past the age its chart's survivors describe (``survivors``), the
verified files a bundle is made of (``artifacts``), the stacking ensemble (``models.ensemble``) and the deep
multi-task network (``models.deep``). It may import the base modules, ``videoperf.data``,
``videoperf.lifecycle`` and ``videoperf.features``.
"""
