"""Faces that speak other systems' own languages over the platform's operations.

A face here parses a standard's request, calls the same operations as the native API
(:mod:`journalloft.platform.operations`) and renders the answer in the standard's form. The
faces know the services they map (FHIR resources, NHN's OKT model); the platform does not: it
includes a face's routes only for the services that are registered.
"""
