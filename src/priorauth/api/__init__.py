"""The JSON API (`/cases`, `/queue`, `/members`, `/authorizations`, `/metrics`): an adapter of
the case service, as the FHIR API, CDS Hooks and the workbench are."""
