"""HL7 FHIR R4 and Da Vinci (CRD, DTR, PAS) adapters over the case service.

`mapping` turns clinical FHIR resources into the request contract; `pas`, `dtr`, `crd` and
`subscriptions` answer the Da Vinci operations by calling the case workflow (DTR's Questionnaire
is built in `forms`, prepopulated by `prepopulate`, asked adaptively by `adaptive`); `routes`
mounts them under `/fhir` and `/cds-services`. Resources are built and checked with the
`fhir.resources` models.
"""
