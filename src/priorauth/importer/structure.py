"""Kept for the imports of metadata.py and limits.py: the sections stage is sections.py."""

from priorauth.importer.sections import Section

__all__ = ["Section"]
