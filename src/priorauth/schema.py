"""Every table of the one database: the case service's, the workbench users' and the FHIR
adapter's. Alembic compares its migrations with this metadata; nothing else needs all tables
at once, so the service's models import neither the users nor the FHIR adapter."""

from __future__ import annotations

from priorauth.fhir import models as fhir_models
from priorauth.service import goldcard_models, users
from priorauth.service import models as service_models

metadata = service_models.Base.metadata

__all__ = ["fhir_models", "goldcard_models", "metadata", "users"]
