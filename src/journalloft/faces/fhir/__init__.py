"""The FHIR R4 face: each registered service's resources, from the providers the service brings
(:mod:`.kit`). See docs/fhir.md."""
