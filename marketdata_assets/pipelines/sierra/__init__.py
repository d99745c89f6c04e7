"""Partition-level steps of the sierra domain (assets of ``defs/sierra/``): ``.scid`` files →
``raw_ticks`` (:mod:`.ticks`; the file read in bounded slices by :mod:`.read`) and ``.depth``
files → ``depth_events`` (:mod:`.depth`)."""
