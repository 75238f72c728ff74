"""The platform's vocabulary: errors, settings, person identifiers, instants, JSON Schemas,
tenant files, and a bounded stop."""
