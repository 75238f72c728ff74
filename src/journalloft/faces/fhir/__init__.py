"""The FHIR R4 face: kommunale tjenester as EpisodeOfCare (OKT IG), NEWS2 as Observation
(HL7 Norway's vkp-Observation-NEWS2score). See docs/fhir.md."""
