"""Who is calling, checked as HelseID's APIs check it: access tokens (:mod:`.tokens`), DPoP
proofs (:mod:`.dpop`), trust-framework attestations (:mod:`.attestation`), keys (:mod:`.keys`),
the platform's own HelseID-like issuer (:mod:`.issuer`) and its clients (:mod:`.clients`)."""
